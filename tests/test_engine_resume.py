"""SIGTERM at a random step, then resume: the losses equal the uninterrupted run's exactly (CPU)."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tasks.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]


def cfg():
    return RunConfig.from_dict({
        "task": "toy", "run_id": "toy/resume", "seed": 7,
        "batching": {"max_tokens": 256},
        "model": {"family": "toy", "size": "tiny", "encoder_scheme": "post_ln",
                  "overrides": {"dim": 16, "layers": 1, "dropout": 0.2}},  # dropout: RNG must be restored
        "optim": {"name": "radam", "lr": 3e-3, "weight_decay": 0.01},
        "schedule": {"name": "inverse_sqrt", "warmup_updates": 10, "warmup_init_lr": 1e-7},
        "train": {"max_updates": 60, "update_freq": 2, "log_every": 1, "checkpoint_every": 1000,
                  "keep_epoch_checkpoints": 2, "avg_last": 2},
    })


def launch(run_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tasks.train", "--config", str(run_dir / "config.yaml"),
                             "--out", str(run_dir)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def records(run_dir: Path):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    keep = ("kind", "step", "epoch", "loss", "nll", "lr", "grad_norm", "valid_loss", "valid_nll")
    return [{k: r[k] for k in keep if k in r} for r in map(json.loads, lines)]


def n_train_records(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return path.read_text().count('"kind": "train"') if path.exists() else 0


def test_sigterm_resume_reproduces_the_uninterrupted_run(tmp_path):
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    for d in (ref, cut):
        d.mkdir()
        cfg().dump(d / "config.yaml")
    reference = launch(ref)
    interrupted = launch(cut)
    kill_at = random.Random().randint(3, 25)
    deadline = time.time() + 120
    while n_train_records(cut) < kill_at and interrupted.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    interrupted.send_signal(signal.SIGTERM)
    out, err = interrupted.communicate(timeout=120)
    assert interrupted.returncode == 75, err
    assert not (cut / "status.json").exists()
    stopped_at = n_train_records(cut)
    resumed = launch(cut)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "resuming from" in err
    _, err = reference.communicate(timeout=120)
    assert reference.returncode == 0, err
    assert 3 <= stopped_at < 60, f"killed at update {stopped_at}"
    assert records(cut) == records(ref)
    for name in ("eval.json", "status.json"):
        assert json.loads((cut / name).read_text()) == json.loads((ref / name).read_text())


def test_checkpoints_of_another_config_are_moved_aside_and_the_run_retrains(tmp_path):
    """The workflow rewrites RUN_DIR/config.yaml when a recipe changes: the old run's files go to
    RUN_DIR.config-<digest> (not reused, not deleted) and the new config trains from update 0."""
    run = tmp_path / "run"
    run.mkdir()
    short = cfg().replace(train={"max_updates": 6})
    short.dump(run / "config.yaml")
    p = launch(run)
    assert p.wait(timeout=120) == 0, p.stderr.read()
    (run / "status.json").unlink()  # as Snakemake does before it reruns a job
    changed = short.to_dict()
    changed["optim"]["lr"] = 1e-3
    RunConfig.from_dict(changed).dump(run / "config.yaml")
    p = launch(run)
    assert p.wait(timeout=120) == 0
    err = p.stderr.read()
    assert "another config" in err and "optim.lr" in err and "moved it aside" in err
    aside = [d for d in tmp_path.iterdir() if d.name.startswith("run.config-")]
    assert len(aside) == 1 and any((aside[0] / "checkpoints").iterdir())  # nothing already written is lost
    assert "resuming from" not in err and n_train_records(run) == 6
