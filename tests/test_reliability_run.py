"""Issue 10, the run directory: one process per directory, config edits retrain (nothing
deleted), bad status files and missing GPUs are clear errors, SIGINT checkpoints."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tasks.config import RunConfig
from tasks.engine import checkpoint as ckpt
from tasks.engine.loop import StopFlag, Trainer
from tasks.train import install_signal_handlers, main

ROOT = Path(__file__).resolve().parents[1]


def toy_cfg(**sections):
    base = RunConfig.from_dict({
        "task": "toy", "run_id": "toy/rel", "seed": 3,
        "batching": {"max_tokens": 1024},
        "model": {"family": "toy", "size": "trivial", "encoder_scheme": "pre_ln"},
        "optim": {"name": "adam", "lr": 0.01},
        "schedule": {"name": "constant", "warmup_updates": 0},
        "train": {"max_updates": 10, "log_every": 2, "checkpoint_every": 4, "keep_epoch_checkpoints": 3},
    })
    return base.replace(**sections)


def train_steps(run):
    return [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if r["kind"] == "train"]


def test_a_second_process_on_a_locked_run_dir_exits_at_once_naming_the_holder(tmp_path, capsys):
    run = tmp_path / "run"
    toy_cfg().dump(tmp_path / "c.yaml")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tasks.engine.lock import acquire; acquire(sys.argv[1]); "
         "print('locked', flush=True); sys.stdin.read()", str(run)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        assert main(["--config", str(tmp_path / "c.yaml"), "--out", str(run)]) == 3
        assert time.monotonic() - t0 < 5
        err = capsys.readouterr().err
        assert f"pid {holder.pid} on host {socket.gethostname()}" in err
        assert not (run / "checkpoints").exists() and not (run / "metrics.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    # the kernel drops the lock with its holder: a killed trainer never blocks the restart
    assert main(["--config", str(tmp_path / "c.yaml"), "--out", str(run)]) == 0


def test_a_forked_child_of_a_killed_trainer_does_not_keep_the_lock(tmp_path):
    """DataLoader workers are forked: their copy of the lock file must not outlive the trainer."""
    run = tmp_path / "run"
    toy_cfg().dump(tmp_path / "c.yaml")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import os, sys, time; from tasks.engine.lock import acquire; acquire(sys.argv[1]); "
         "pid = os.fork()\nif pid == 0:\n    time.sleep(120); os._exit(0)\n"
         "print(pid, flush=True); sys.stdin.read()", str(run)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    child = int(holder.stdout.readline())
    try:
        holder.kill()
        holder.wait()
        assert main(["--config", str(tmp_path / "c.yaml"), "--out", str(run)]) == 0
    finally:
        os.kill(child, signal.SIGKILL)


def test_a_config_edit_moves_the_old_run_aside_and_retrains(tmp_path, capsys):
    """Issue 10 item 4, as the workflow does it: run_config rewrites RUN_DIR/config.yaml,
    Snakemake deletes status.json and eval.json, then tasks.train runs on the same directory."""
    from common.io import digest as config_digest

    run, old, new = tmp_path / "run", toy_cfg(), toy_cfg(optim={"lr": 0.02})
    run.mkdir()
    old.dump(run / "config.yaml")
    assert main(["--config", str(run / "config.yaml"), "--out", str(run)]) == 0
    old_metrics = (run / "metrics.jsonl").read_text()
    for name in ("status.json", "eval.json"):
        (run / name).unlink()
    new.dump(run / "config.yaml")
    capsys.readouterr()
    assert main(["--config", str(run / "config.yaml"), "--out", str(run)]) == 0
    err = capsys.readouterr().err
    aside = tmp_path / f"run.config-{config_digest(old.to_dict())}"
    assert str(aside) in err and "optim.lr" in err
    assert (aside / "metrics.jsonl").read_text() == old_metrics  # moved, not deleted
    assert ckpt.load_checkpoint(aside / "checkpoints" / ckpt.LAST)["config"] == old.to_dict()
    assert ckpt.load_checkpoint(run / "checkpoints" / ckpt.LAST)["config"] == new.to_dict()
    assert RunConfig.load(run / "config.yaml") == new
    assert train_steps(run) == [2, 4, 6, 8, 10]  # the new run only, each step once
    assert json.loads((run / "status.json").read_text())["status"] == "ok"


def test_a_finished_run_of_another_config_is_retrained(tmp_path, capsys):
    """Issue 10: a finished run started with a different config said "nothing to do"."""
    run = tmp_path / "run"
    toy_cfg().dump(tmp_path / "a.yaml")
    toy_cfg(train={"max_updates": 6}).dump(tmp_path / "b.yaml")
    assert main(["--config", str(tmp_path / "a.yaml"), "--out", str(run)]) == 0
    assert main(["--config", str(tmp_path / "b.yaml"), "--out", str(run)]) == 0
    assert json.loads((run / "status.json").read_text())["step"] == 6
    assert len(list(tmp_path.glob("run.config-*"))) == 1
    capsys.readouterr()
    assert main(["--config", str(tmp_path / "b.yaml"), "--out", str(run)]) == 0  # same config: done
    assert "already finished" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["{", "[1, 2]", '{"status": "maybe"}'])
def test_a_malformed_status_json_is_a_clear_error(tmp_path, capsys, text):
    run = tmp_path / "run"
    toy_cfg().dump(tmp_path / "c.yaml")
    run.mkdir()
    (run / "status.json").write_text(text)
    assert main(["--config", str(tmp_path / "c.yaml"), "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert str(run / "status.json") in err and "expected" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_require_gpu_without_cuda_fails_clearly(tmp_path, capsys):
    toy_cfg().dump(tmp_path / "c.yaml")
    assert main(["--require-gpu", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "--require-gpu" in err and "CUDA is not available" in err
    assert not (tmp_path / "run").exists()


def test_sigint_checkpoints_after_the_current_update_and_exits_75(tmp_path):
    """Issue 10: Ctrl-C raised KeyboardInterrupt and wrote no checkpoint."""
    stop = StopFlag()
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}
    try:
        install_signal_handlers(stop)
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested
        tr = Trainer(toy_cfg(), tmp_path / "run", stop)
        assert tr.run() == 75
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    state = ckpt.load_checkpoint(tmp_path / "run" / "checkpoints" / ckpt.LAST)
    assert state["progress"]["updates"] == 1
    assert not (tmp_path / "run" / "status.json").exists()
