"""End to end at tiny scale: generated archive -> prepare -> tasks.train -> BLEU above an untrained model."""
import json

import pytest
import torch

from tasks.config import RunConfig
from tasks.registry import build_task
from tasks.train import main
from tasks.translation import make_tiny
from tasks.translation.prepare import prepare

EVAL_SETS = ("TED.dev2010", "TEDX.dev2012", "TED.tst2010", "TED.tst2011", "TED.tst2012")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for cores)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_short_tiny_run_beats_an_untrained_model(tmp_path, monkeypatch):
    monkeypatch.setitem(make_tiny.IWSLT_SIZES, "tiny", (1800, {s: 8 for s in EVAL_SETS}))
    make_tiny.make("iwslt14_de_en", tmp_path / "raw", "tiny", seed=1)
    prepare("iwslt14_de_en", tmp_path / "raw", tmp_path / "data", "admin", bpe_merges=400, workers=1)
    cfg = RunConfig.from_dict({
        "task": "translation", "run_id": "translation/iwslt14_de_en/tiny/pre_ln/test/seed1", "seed": 1,
        "data": {"dir": str(tmp_path / "data")}, "batching": {"max_tokens": 1536},
        "model": {"family": "translation", "size": "translation_tiny", "encoder_scheme": "pre_ln",
                  "decoder_scheme": "pre_ln", "share": "all", "overrides": {"dropout": 0.0}},
        "optim": {"name": "adam", "lr": 3.0e-3, "betas": [0.9, 0.98]},
        "schedule": {"name": "inverse_sqrt", "warmup_updates": 20, "warmup_init_lr": 1.0e-5},
        "train": {"max_updates": 160, "log_every": 40, "checkpoint_every": 1000, "keep_epoch_checkpoints": 1},
        "eval": {"beam": 2, "lenpen": 1.0, "max_len_a": 1.2, "max_len_b": 10,
                 "batch_sentences": 64, "split": "test"},
    })
    cfg.dump(tmp_path / "config.yaml")
    torch.manual_seed(cfg.seed)
    task = build_task(cfg)
    before = task.final_eval(task.build_model(), tmp_path)
    assert main(["--config", str(tmp_path / "config.yaml"), "--out", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "ok"
    scores = json.loads((tmp_path / "run" / "eval.json").read_text())
    # 160 updates of a 2-layer d=64 model: BLEU leaves 0 (4.6 here), the loss falls well below
    assert scores["bleu"] > before["bleu"] + 2, (before, scores)
    assert scores["valid_loss"] < 0.85 * before["valid_loss"], (before, scores)
    assert scores["sacrebleu"] > 0 and "tok:13a" in scores["sacrebleu_signature"]
    assert len((tmp_path / "run" / "hypotheses.txt").read_text().split("\n")) == 40 + 1
