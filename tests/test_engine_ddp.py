"""DDP with 2 CPU ranks (gloo, launched with torchrun's environment variables) equals one
process with update_freq = 2."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.config import RunConfig
from tasks.engine.loop import train

ROOT = Path(__file__).resolve().parents[1]


def cfg(update_freq):
    return RunConfig.from_dict({
        "task": "toy", "seed": 2, "batching": {"max_tokens": 256},
        "model": {"family": "toy", "size": "tiny", "encoder_scheme": "pre_ln",
                  "overrides": {"dim": 16, "layers": 1, "dropout": 0.0}},
        "optim": {"name": "adam", "lr": 3e-3},
        "schedule": {"name": "constant", "warmup_updates": 0},
        "train": {"max_updates": 8, "log_every": 1, "update_freq": update_freq},
    })


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(run_dir: Path, update_freq: int, rank: int, world: int, port: int) -> subprocess.Popen:
    """One rank, with the variables torchrun would set (torchrun's own agent is slow to start)."""
    run_dir.mkdir(exist_ok=True)
    cfg(update_freq).dump(run_dir / "config.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "RANK": str(rank),
           "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    return subprocess.Popen([sys.executable, "-m", "tasks.train", "--config", str(run_dir / "config.yaml"),
                             "--out", str(run_dir)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def train_records(procs, run_dir: Path):
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-3000:]
    recs = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in recs if r["kind"] == "train"]


def test_two_ranks_match_one_process_with_accumulation(tmp_path):
    port = free_port()
    ranks = [start(tmp_path / "ddp", 1, r, 2, port) for r in range(2)]
    single = tmp_path / "single"  # in this process, while the ranks start
    assert train(cfg(2), single) == 0
    ddp, one = train_records(ranks, tmp_path / "ddp"), train_records([], single)
    assert [r["step"] for r in ddp] == list(range(1, 9))
    for a, b in zip(ddp, one):
        assert a["units"] == b["units"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)
