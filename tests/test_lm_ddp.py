"""The lm task under DistributedDataParallel (2 CPU ranks, gloo): an untied adaptive softmax whose
last band never holds a target (madeupword padding) still trains, and equals one process with
update_freq = 2 (fairseq needs its legacy DDP for this model; here every weight gets a gradient)."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.config import RunConfig
from tasks.engine.loop import train
from tasks.lm import make_tiny, prepare

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cfg(data_dir, update_freq):
    return RunConfig.from_dict({
        "task": "lm", "seed": 2, "data": {"dir": str(data_dir)},
        "model": {"family": "lm", "size": "lm_tiny", "encoder_scheme": "pre_ln",
                  "overrides": {"layers": 1, "adaptive_softmax": True, "tie_adaptive_weights": False,
                                "adaptive_cutoffs": [200, 610]}},  # band [610, 616): madeupwords only
        "optim": {"name": "adam", "lr": 3e-3},
        "schedule": {"name": "constant", "warmup_updates": 0},
        "loss": {"name": "ce", "label_smoothing": 0.0},
        "train": {"max_updates": 6, "log_every": 1, "update_freq": update_freq, "precision": "fp32"},
        "lm": {"tokens_per_sample": 32, "max_tokens": 64},
    })


def test_two_ranks_match_one_process_with_accumulation(tmp_path):
    make_tiny.write_corpus(tmp_path / "raw", make_tiny.generate("wikitext103", "tiny"))
    meta = prepare.prepare("wikitext103", tmp_path / "raw", tmp_path / "data")
    assert meta["vocab_size"] == 616  # the band [610, 616) holds padding symbols only
    port, run = free_port(), tmp_path / "ddp"
    run.mkdir()
    cfg(tmp_path / "data", 1).dump(run / "config.yaml")
    procs = []
    for rank in range(2):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "RANK": str(rank),
               "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        procs.append(subprocess.Popen([sys.executable, "-m", "tasks.train", "--config", str(run / "config.yaml"),
                                       "--out", str(run)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    assert train(cfg(tmp_path / "data", 2), tmp_path / "single") == 0
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]

    def losses(d):
        recs = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
        return [r["loss"] for r in recs if r["kind"] == "train"]

    ddp, one = losses(run), losses(tmp_path / "single")
    assert len(ddp) == len(one) == 6
    assert ddp == pytest.approx(one, rel=1e-4)
