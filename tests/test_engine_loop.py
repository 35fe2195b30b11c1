"""The training loop on the toy task: accumulation, divergence, finished and foreign runs."""
import json

import pytest
import numpy as np
import torch

from tasks.config import RunConfig
from tasks.engine.loop import Trainer
from tasks.train import main


def toy_cfg(**sections):
    base = RunConfig.from_dict({
        "task": "toy", "run_id": "toy/test", "seed": 3,
        "batching": {"max_tokens": 256},
        "model": {"family": "toy", "size": "trivial", "encoder_scheme": "pre_ln"},
        "optim": {"name": "adam", "lr": 0.01},
        "schedule": {"name": "constant", "warmup_updates": 0},
        "train": {"max_updates": 12, "log_every": 4, "checkpoint_every": 100},
    })
    return base.replace(**sections)


def write_cfg(cfg, path):
    cfg.dump(path)
    return path


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_update_freq_2_at_half_batch_matches_full_batch(tmp_path):
    cfg = toy_cfg(optim={"name": "sgd", "lr": 0.5})
    a, b = Trainer(cfg, tmp_path / "a"), Trainer(cfg, tmp_path / "b")
    assert torch.equal(params(a.model), params(b.model))
    seqs = a.task.train_seqs
    first, second = seqs[:3], seqs[3:8]  # different sizes and token counts
    a.step([a.task.collate(first), a.task.collate(second)])
    b.step([b.task.collate(first + second)])
    before = Trainer(cfg, tmp_path / "c").model
    assert not torch.allclose(params(a.model), params(before))
    assert torch.allclose(params(a.model), params(b.model), atol=1e-6)
    assert torch.allclose(a.window, b.window, rtol=1e-5)


def test_loss_decreases_and_run_finishes(tmp_path):
    cfg = toy_cfg(train={"max_updates": 40, "log_every": 10})
    assert main(["--config", str(write_cfg(cfg, tmp_path / "c.yaml")), "--out", str(tmp_path / "run")]) == 0
    recs = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in recs if r["kind"] == "train"]
    assert train[-1]["loss"] < 0.8 * train[0]["loss"]
    assert {"step", "epoch", "loss", "nll", "lr", "grad_norm", "units_per_s", "peak_mem_mb"} <= set(train[0])
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "ok"
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["computed"] is True


def test_huge_learning_rate_diverges_cleanly(tmp_path):
    cfg = toy_cfg(optim={"name": "sgd", "lr": 1.0e8}, divergence={"loss_bound": 100.0, "patience": 1})
    rc = main(["--config", str(write_cfg(cfg, tmp_path / "c.yaml")), "--out", str(tmp_path / "run")])
    assert rc == 0
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "diverged" and status["step"] <= 4 and status["reason"]
    ev = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert ev["computed"] is False and "diverged" in ev["reason"]


def test_stuck_at_chance_is_a_divergence(tmp_path):
    cfg = toy_cfg(optim={"lr": 0.0}, divergence={"chance_after": 6, "chance_margin": 0.3})
    rc = main(["--config", str(write_cfg(cfg, tmp_path / "c.yaml")), "--out", str(tmp_path / "run")])
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert rc == 0 and status["status"] == "diverged" and status["step"] == 8
    assert status["reason"].startswith("stuck at chance")


def test_finished_run_does_nothing(tmp_path, capsys):
    cfg_path = write_cfg(toy_cfg(train={"max_updates": 4}), tmp_path / "c.yaml")
    run = tmp_path / "run"
    assert main(["--config", str(cfg_path), "--out", str(run)]) == 0
    snapshot = {p.name: p.stat().st_mtime_ns for p in run.rglob("*")}
    capsys.readouterr()
    assert main(["--config", str(cfg_path), "--out", str(run)]) == 0
    assert "already finished" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in run.rglob("*")} == snapshot


def test_run_dir_with_a_different_config_is_moved_aside_and_retrained(tmp_path, capsys):
    """A config edit retrains (tasks/train.py): the old config.yaml goes to run.config-<digest>."""
    run = tmp_path / "run"
    run.mkdir()
    toy_cfg().dump(run / "config.yaml")
    other = write_cfg(toy_cfg(optim={"lr": 0.02}), tmp_path / "other.yaml")
    assert main(["--config", str(other), "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert "another config" in err and "optim.lr" in err and "moved it aside" in err
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.config-")]
    assert len(aside) == 1 and RunConfig.load(aside[0] / "config.yaml") == toy_cfg()
    assert RunConfig.load(run / "config.yaml") == toy_cfg(optim={"lr": 0.02})
    assert json.loads((run / "status.json").read_text())["status"] == "ok"


def test_bad_config_fails_before_any_work(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    d = toy_cfg().to_dict()
    d["model"]["encoder_scheme"] = "deepnorm"
    import yaml
    path.write_text(yaml.safe_dump(d))
    assert main(["--config", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "model.encoder_scheme" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("family,size", [("lm", "lm_tiny"), ("translation", "translation_tiny")])
def test_toy_task_trains_a_models_family(tmp_path, family, size):
    pytest.importorskip("models.lm")
    cfg = toy_cfg(model={"family": family, "size": size, "encoder_scheme": "post_ln"},
                  optim={"lr": 3e-3}, train={"max_updates": 3, "log_every": 1})
    assert main(["--config", str(write_cfg(cfg, tmp_path / "c.yaml")), "--out", str(tmp_path / "run")]) == 0


def test_probes_are_logged_every_n_updates(tmp_path):
    pytest.importorskip("models.probes")
    cfg = toy_cfg(model={"family": "lm", "size": "lm_tiny", "encoder_scheme": "pre_ln"},
                  train={"max_updates": 4, "log_every": 2},
                  probes={"every": 2, "grad_norms": True, "update_norms": True, "dependency": True})
    assert main(["--config", str(write_cfg(cfg, tmp_path / "c.yaml")), "--out", str(tmp_path / "run")]) == 0
    recs = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    probes = [r for r in recs if r["kind"] == "probe"]
    assert [r["step"] for r in probes] == [0, 2, 4]
    assert {"entropy", "spectral", "qk_spectral", "dependency"} <= set(probes[0])
    assert {"grad_norms", "update_norms"} <= set(probes[1])
    assert all(v > 0 for v in probes[1]["update_norms"].values())


def test_resume_position_skips_without_building_and_workers_keep_the_order():
    from tasks.engine.data import make_loader, rank_batches
    from tasks.registry import build_task

    task = build_task(toy_cfg())
    built = []
    orig = task.build_batch
    task.build_batch = lambda idx, epoch: built.append(tuple(idx)) or orig(idx, epoch)
    plan = task.epoch_batches(2)
    tail = list(make_loader(task, rank_batches(plan, 0, 1, 5), 2, 0, 2, False))
    assert len(tail) == len(plan) - 5 and built == [tuple(b) for b in plan[5:]]  # nothing skipped was built
    task.build_batch = orig
    with_workers = list(make_loader(task, rank_batches(plan, 0, 1, 5), 2, 2, 2, False))
    for a, b in zip(tail, with_workers):
        assert torch.equal(a["target"], b["target"])


def test_ranks_read_disjoint_equal_shares():
    from tasks.engine.data import rank_batches

    plan = [np.array([i]) for i in range(11)]
    shares = [rank_batches(plan, r, 3) for r in range(3)]
    assert [len(s) for s in shares] == [3, 3, 3]  # the trailing group of 2 is dropped
    seen = [int(b[0]) for s in shares for b in s]
    assert sorted(seen) == list(range(9))
    assert [int(b[0]) for b in rank_batches(plan, 1, 3, start=6)] == [7]  # resume at global batch 6


def test_clip_norm_bounds_the_update(tmp_path):
    cfg = toy_cfg(optim={"name": "sgd", "lr": 1.0, "clip_norm": 1e-3})
    tr = Trainer(cfg, tmp_path / "run")
    before = params(tr.model)
    tr.step([tr.task.probe_batch()])
    step = (params(tr.model) - before).norm().item()
    assert step == pytest.approx(1e-3, rel=1e-3)
    assert tr.window[3].item() > 1e-3  # the logged norm is the one before clipping


def test_tensorboard_flag_never_breaks_a_run(tmp_path):
    cfg = toy_cfg(train={"max_updates": 2, "log_every": 1, "tensorboard": True})
    assert main(["--config", str(write_cfg(cfg, tmp_path / "c.yaml")), "--out", str(tmp_path / "run")]) == 0


def test_bad_model_size_is_a_clear_error(tmp_path, capsys):
    cfg = toy_cfg(model={"size": "huge"})
    assert main(["--config", str(write_cfg(cfg, tmp_path / "c.yaml")), "--out", str(tmp_path / "run")]) == 2
    assert "model.size" in capsys.readouterr().err


def test_sigusr1_checkpoints_after_the_current_update_and_exits_75(tmp_path):
    import os
    import signal

    from tasks.engine import checkpoint as ckpt
    from tasks.engine.loop import StopFlag
    from tasks.train import install_signal_handlers

    stop = StopFlag()
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        install_signal_handlers(stop)
        os.kill(os.getpid(), signal.SIGUSR1)
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    assert stop.requested
    tr = Trainer(toy_cfg(), tmp_path / "run", stop)
    assert tr.run() == 75
    state = ckpt.load_checkpoint(tmp_path / "run" / "checkpoints" / ckpt.LAST)
    assert state["progress"]["updates"] == 1
    assert not (tmp_path / "run" / "status.json").exists()


def test_worker_processes_do_not_change_the_trajectory(tmp_path):
    """Batches built in DataLoader workers give the same run as batches built in process:
    starting workers must not draw from the global RNG (dropout would shift)."""
    import json

    from tasks.engine.loop import train

    def records(workers):
        cfg = toy_cfg(model={"size": "tiny"}, data={"workers": workers}, train={"max_updates": 8, "log_every": 2})
        assert train(cfg, tmp_path / f"w{workers}") == 0
        lines = (tmp_path / f"w{workers}" / "metrics.jsonl").read_text().splitlines()
        return [(r["step"], r["loss"]) for r in map(json.loads, lines) if r["kind"] == "train"]

    assert records(0) == records(2)
