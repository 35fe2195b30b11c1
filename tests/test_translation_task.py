"""TranslationTask: batches, loss, validation and the final BLEU evaluation on a tiny prepared set."""
import math

import pytest
import torch

from tasks.config import RunConfig
from tasks.registry import build_task
from tasks.translation import make_tiny
from tasks.translation.dataset import DataDirError
from tasks.translation.prepare import prepare

EVAL_SETS = ("TED.dev2010", "TEDX.dev2012", "TED.tst2010", "TED.tst2011", "TED.tst2012")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for cores)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    mp = pytest.MonkeyPatch()
    mp.setitem(make_tiny.IWSLT_SIZES, "tiny", (500, {s: 4 for s in EVAL_SETS}))
    make_tiny.make("iwslt14_de_en", root / "raw", "tiny", seed=2)
    mp.undo()
    prepare("iwslt14_de_en", root / "raw", root / "data", "admin", bpe_merges=200, workers=1)
    return root / "data"


def cfg_for(data_dir, **sections):
    base = RunConfig.from_dict({
        "task": "translation", "seed": 5,
        "data": {"dir": str(data_dir)}, "batching": {"max_tokens": 300},
        "model": {"family": "translation", "size": "translation_tiny", "encoder_scheme": "post_ln",
                  "decoder_scheme": "pre_ln", "share": "all", "overrides": {"dropout": 0.0}},
        "eval": {"beam": 2, "max_len_a": 0.0, "max_len_b": 4, "batch_sentences": 8, "split": "test"},
    })
    return base.replace(**sections)


def test_batches_respect_max_tokens_and_reshuffle_per_epoch(data_dir):
    task = build_task(cfg_for(data_dir))
    assert task.chance_loss == pytest.approx(math.log(len(task.dict)))
    def epoch(e):
        return [task.build_batch(b, e) for b in task.epoch_batches(e)]

    e1 = [b["id"].tolist() for b in epoch(1)]
    assert e1 == [b["id"].tolist() for b in epoch(1)]  # deterministic given (seed, epoch)
    assert e1 != [b["id"].tolist() for b in epoch(2)]
    assert sorted(i for b in e1 for i in b) == list(range(len(task.train)))  # every pair once
    for b in epoch(1):
        src, tgt = b["net_input"]["src_tokens"], b["target"]
        assert max(src.size(1), tgt.size(1)) * src.size(0) <= 300
        assert b["ntokens"] == int(tgt.ne(1).sum())


def test_loss_and_valid_loss_of_an_untrained_model_are_near_chance(data_dir):
    task = build_task(cfg_for(data_dir))
    torch.manual_seed(0)
    model = task.build_model()
    batch = task.probe_batch()
    loss, logs = task.loss(model, batch)
    assert logs["units"] == batch["ntokens"] and torch.isfinite(loss)
    per_token = float(logs["nll_sum"]) / logs["units"]
    assert 0.5 * task.chance_loss < per_token < 2.0 * task.chance_loss
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    v = task.valid_loss(model)
    assert set(v) == {"valid_loss", "valid_nll"} and v["valid_loss"] > v["valid_nll"] > 0


def test_final_eval_writes_hypotheses_and_reports_every_score(data_dir, tmp_path):
    task = build_task(cfg_for(data_dir))
    torch.manual_seed(0)
    model = task.build_model()
    out = task.final_eval(model, tmp_path)
    assert out["split"] == "test" and out["n_sentences"] == 20
    assert {"bleu", "sacrebleu", "sacrebleu_signature", "valid_loss"} <= set(out)
    assert "bleu_compound_split" not in out  # De-En: not an En-De target
    assert "case:lc" in out["sacrebleu_signature"]  # IWSLT data is lowercased
    hyps = (tmp_path / "hypotheses.txt").read_text().split("\n")[:-1]
    assert len(hyps) == 20 and all(len(h.split()) <= 4 * 3 for h in hyps)  # max_len_b=4 BPE tokens
    assert "@@ " not in "\n".join(hyps)
    # a perfect system: the references themselves score 100
    refs = [task.dict.string(task.valid.tgt[i]) for i in range(3)]
    assert task.scores(refs, refs, "valid")["bleu"] == pytest.approx(100.0)


def test_missing_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(DataDirError, match="meta.json: not found; data.dir must be a directory written by"):
        build_task(cfg_for(tmp_path / "missing"))
    with pytest.raises(DataDirError, match="data.dir is empty"):
        build_task(cfg_for(tmp_path, data={"dir": ""}))
