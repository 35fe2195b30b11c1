"""Issue 22 item 1: a resume at an epoch end continues the run record for record. The last lr
and the epoch's logged loss sums are part of the checkpoint: a resume with no update left in
the epoch logged lr NaN for the partial log window and a train_loss of 0 in the epoch summary."""
import json

import pytest

from tasks.config import RunConfig
from tasks.engine import checkpoint as ckpt
from tasks.engine.loop import Trainer

PER_EPOCH = 4  # updates per epoch of the toy corpus at 2048 tokens per batch


class Killed(BaseException):
    """Stands in for SIGKILL inside one process: nothing after the raise runs."""


def cfg(**train):
    """log_every 3 does not divide the 4 updates of an epoch: every epoch ends inside a log
    window, which the epoch end logs; an lr that decays makes a wrong lr visible."""
    return RunConfig.from_dict({
        "task": "toy", "run_id": "toy/records", "seed": 5,
        "batching": {"max_tokens": 2048},
        "model": {"family": "toy", "size": "tiny", "encoder_scheme": "pre_ln",
                  "overrides": {"dim": 16, "layers": 1, "dropout": 0.2}},
        "optim": {"name": "adam", "lr": 3e-3},
        "schedule": {"name": "inverse_sqrt", "warmup_updates": 2, "warmup_init_lr": 1e-4},
        "train": {"max_updates": 3 * PER_EPOCH, "log_every": 3, "checkpoint_every": 1000,
                  "keep_epoch_checkpoints": 10, "avg_last": 2, **train},
    })


def records(run):
    drop = ("units_per_s", "time", "peak_mem_mb")  # wall clock and throughput
    return [{k: v for k, v in json.loads(x).items() if k not in drop}
            for x in (run / "metrics.jsonl").read_text().splitlines()]


def summaries(out: str) -> list[str]:
    """The epoch summary lines on stdout without their seconds."""
    return [line.rsplit(" | ", 1)[0] for line in out.splitlines() if line.startswith("epoch ")]


class StopAt:
    """A StopFlag that asks for a checkpoint-and-exit once the trainer reaches update n."""

    def __init__(self, n):
        self.n, self.trainer = n, None

    @property
    def requested(self):
        return self.trainer is not None and self.trainer.progress.updates >= self.n


def reference(tmp_path, capsys, config):
    run = tmp_path / "ref"
    capsys.readouterr()
    assert Trainer(config, run).run() == 0
    return records(run), summaries(capsys.readouterr().out)


def assert_same_run(run, ref_records, ref_summaries, out):
    got = records(run)
    assert "nan" not in [r.get("lr") for r in got]
    assert got == ref_records
    assert summaries(out) == ref_summaries
    assert len(ref_summaries) == 3 and "train_loss 0.0000" not in " ".join(ref_summaries)


def test_sigterm_at_the_last_update_of_an_epoch_resumes_record_for_record(tmp_path, capsys):
    """The stop checkpoint holds one unlogged update of epoch 1; the resumed run has no update
    left in that epoch and logs the window at once, with the lr of update 4."""
    ref_records, ref_summaries = reference(tmp_path, capsys, cfg())
    run, stop = tmp_path / "run", StopAt(PER_EPOCH)
    tr = Trainer(cfg(), run, stop)
    stop.trainer = tr
    assert tr.run() == 75
    state = ckpt.load_checkpoint(run / "checkpoints" / ckpt.LAST)["progress"]
    assert (state["updates"], state["batch"], state["window_steps"]) == (PER_EPOCH, PER_EPOCH, 1)
    assert Trainer(cfg(), run).run() == 0
    assert_same_run(run, ref_records, ref_summaries, capsys.readouterr().out)


def test_a_kill_during_validation_after_a_checkpoint_at_the_last_update_resumes_record_for_record(
        tmp_path, capsys, monkeypatch):
    """checkpoint_every 1 saves after update 4; the kill lands in epoch 1's validation, before the
    epoch-end checkpoint: the resume redoes the epoch end from the saved window and sums."""
    config = cfg(checkpoint_every=1)
    ref_records, ref_summaries = reference(tmp_path, capsys, config)
    run, real_validate = tmp_path / "run", Trainer._validate

    def killed_validate(self):
        real_validate(self)
        raise Killed("killed before the epoch-end checkpoint")

    monkeypatch.setattr(Trainer, "_validate", killed_validate)
    with pytest.raises(Killed):
        Trainer(config, run).run()
    monkeypatch.setattr(Trainer, "_validate", real_validate)
    assert Trainer(config, run).run() == 0
    assert_same_run(run, ref_records, ref_summaries, capsys.readouterr().out)


def test_a_checkpoint_without_the_new_progress_keys_still_resumes(tmp_path):
    """Checkpoints written before the lr and the epoch sums were saved: they load, and the run
    finishes (with the old behaviour for the one epoch it resumes in)."""
    run, stop = tmp_path / "run", StopAt(PER_EPOCH + 1)
    tr = Trainer(cfg(), run, stop)
    stop.trainer = tr
    assert tr.run() == 75
    last = run / "checkpoints" / ckpt.LAST
    state = ckpt.load_checkpoint(last)
    assert {"last_lr", "epoch_sums"} <= set(state["progress"])
    for key in ("last_lr", "epoch_sums"):
        del state["progress"][key]
    ckpt.atomic_save(state, last)
    assert Trainer(cfg(), run).run() == 0
    assert json.loads((run / "status.json").read_text())["status"] == "ok"
