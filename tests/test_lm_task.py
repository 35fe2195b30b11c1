"""The lm task through the engine: batches, config section, a short training run on generated WikiText."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from common.tokens import EOS, PAD
from tasks.config import ConfigError, RunConfig
from tasks.lm import make_tiny, prepare
from tasks.registry import build_task


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("lmtask")
    make_tiny.write_corpus(root / "raw", make_tiny.generate("wikitext2", "tiny"))
    prepare.prepare("wikitext2", root / "raw", root / "data")
    return root / "data"


def make_cfg(data_dir, **over):
    d = {"task": "lm", "run_id": "lm/wikitext2/lm_tiny-2L/pre_ln/test/seed1", "seed": 3,
         "data": {"dir": str(data_dir)},
         "model": {"family": "lm", "size": "lm_tiny", "encoder_scheme": "pre_ln",
                   "overrides": {"adaptive_input": True, "adaptive_softmax": True, "adaptive_cutoffs": [100, 300]}},
         "optim": {"name": "adam", "lr": 3.0e-3, "weight_decay": 0.01},
         "schedule": {"name": "inverse_sqrt", "warmup_updates": 10},
         "loss": {"name": "ce", "label_smoothing": 0.0},
         "train": {"max_updates": 150, "log_every": 25, "precision": "fp32", "checkpoint_every": 1000},
         "lm": {"tokens_per_sample": 64, "max_tokens": 512, "context_window": 48, "eval_tokens_per_sample": 64}}
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    return RunConfig.from_dict(d)


def test_batches_are_blocks_of_the_stream(data_dir):
    task = build_task(make_cfg(data_dir))
    stream = np.asarray(task.streams["train"].tokens)
    b1, b1_again, b2 = task.epoch_batches(1), task.epoch_batches(1), task.epoch_batches(2)
    assert all((x == y).all() for x, y in zip(b1, b1_again)) and any((x != y).any() for x, y in zip(b1, b2))
    every = np.sort(np.concatenate(b1))
    assert (every == np.arange(len(task.blocks))).all()  # each block once per epoch
    assert max(len(b) for b in b1) == 512 // 64
    batch = task.build_batch(np.array([0, len(task.blocks) - 1]), 1)
    src, tgt = batch["net_input"]["tokens"], batch["target"]
    assert src.shape == tgt.shape == (2, 64)
    assert src[0, 0] == EOS and (src[0, 1:].numpy() == stream[:63]).all() and (tgt[0].numpy() == stream[:64]).all()
    tail = len(stream) - task.blocks[-1][0]
    assert (tgt[1, :tail].numpy() == stream[-tail:]).all() and (tgt[1, tail:] == PAD).all()
    assert batch["ntokens"] == 64 + tail
    assert task.chance_loss == pytest.approx(math.log(len(task.dictionary)))


def test_lm_section_is_closed_and_checked(data_dir):
    with pytest.raises(ConfigError, match="lm.context_window"):
        make_cfg(data_dir, lm={"context_window": 64})
    with pytest.raises(ConfigError, match="lm.sample_break_mode"):
        make_cfg(data_dir, lm={"sample_break_mode": "eos"})
    with pytest.raises(ConfigError, match="lm.tokens_per_smaple"):
        make_cfg(data_dir, lm={"tokens_per_smaple": 3})
    with pytest.raises(ValueError, match="plain cross entropy"):
        build_task(make_cfg(data_dir, loss={"name": "label_smoothed_ce", "label_smoothing": 0.1}))


def test_short_training_run_learns_the_generated_language(data_dir, tmp_path):
    from tasks.engine.loop import train

    cfg = make_cfg(data_dir)
    assert train(cfg, tmp_path / "run") == 0
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    ev = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert status["status"] == "ok"
    vocab = ev["vocab_size"]
    for split in ("valid", "test"):
        assert ev[split]["tokens"] == len(build_task(cfg).streams[split])
        assert ev[split]["ppl"] < vocab / 8, (ev[split]["ppl"], vocab)  # far below the uniform prediction
    assert ev["context_window"] == 48 and ev["scored_per_window"] == 16
