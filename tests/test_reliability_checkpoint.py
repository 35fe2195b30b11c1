"""Issue 10, checkpoints and logs: a kill at any point of a checkpoint write loses no epoch
checkpoint, no good checkpoint and no log record; a restart from nothing starts clean logs."""
import json
import threading

import pytest
import torch
from torch import nn

from tasks.config import RunConfig
from tasks.engine import checkpoint as ckpt
from tasks.engine.loop import Trainer


class Killed(BaseException):
    """Stands in for SIGKILL inside one process: nothing after the raise runs."""


def epochs_cfg(**train):
    """~4 updates per epoch (batching 2048 tokens of the 512-sequence toy corpus): 3 full
    epochs and a partial 4th in 14 updates; dropout, so that the RNG state matters."""
    return RunConfig.from_dict({
        "task": "toy", "run_id": "toy/rel", "seed": 5,
        "batching": {"max_tokens": 2048},
        "model": {"family": "toy", "size": "tiny", "encoder_scheme": "pre_ln",
                  "overrides": {"dim": 16, "layers": 1, "dropout": 0.2}},
        "optim": {"name": "adam", "lr": 3e-3},
        "schedule": {"name": "constant", "warmup_updates": 0},
        "train": {"max_updates": 14, "log_every": 1, "checkpoint_every": 3, "keep_epoch_checkpoints": 10,
                  "avg_last": 3, **train},
    })


def records(run):
    drop = ("units_per_s", "time", "peak_mem_mb")
    return [{k: v for k, v in json.loads(x).items() if k not in drop}
            for x in (run / "metrics.jsonl").read_text().splitlines()]


def epoch_names(run):
    return [p.name for p in ckpt.epoch_checkpoints(run / "checkpoints")]


class StopAt:
    """A StopFlag that asks for a checkpoint-and-exit once the trainer reaches update n."""

    def __init__(self, n):
        self.n, self.trainer = n, None

    @property
    def requested(self):
        return self.trainer is not None and self.trainer.progress.updates >= self.n


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("ref") / "run"
    assert Trainer(epochs_cfg(), run).run() == 0
    return run


def test_a_kill_between_the_epoch_file_and_last_keeps_every_epoch_checkpoint(tmp_path, monkeypatch, reference):
    """Issue 10 item 1: the old loop wrote checkpoint_last ("epoch 2 next") and then copied it to
    checkpoint1.pt; a kill in between resumed in epoch 2 and never wrote checkpoint1.pt."""
    run, real_copy = tmp_path / "run", ckpt._copy

    def killed_copy(src, dst):
        raise Killed(f"killed while copying {src.name} to {dst.name}")

    monkeypatch.setattr(ckpt, "_copy", killed_copy)  # the first copy of the first epoch end
    with pytest.raises(Killed):
        Trainer(epochs_cfg(), run).run()
    monkeypatch.setattr(ckpt, "_copy", real_copy)
    assert Trainer(epochs_cfg(), run).run() == 0
    assert epoch_names(run) == epoch_names(reference) == [f"checkpoint{i}.pt" for i in (1, 2, 3, 4)]
    for name in ("eval.json", "status.json"):
        assert json.loads((run / name).read_text()) == json.loads((reference / name).read_text())
    assert records(run) == records(reference)


def test_no_readable_checkpoint_restarts_with_empty_logs_and_says_so(tmp_path, capsys, reference):
    """Issue 10 item 2: the old loop restarted from update 0 and appended to metrics.jsonl."""
    run, stop = tmp_path / "run", StopAt(7)
    tr = Trainer(epochs_cfg(), run, stop)
    stop.trainer = tr
    assert tr.run() == 75
    for f in (run / "checkpoints").glob("checkpoint*.pt"):
        f.write_bytes(b"not a checkpoint")
    capsys.readouterr()
    assert Trainer(epochs_cfg(), run).run() == 0
    err = capsys.readouterr().err
    assert "no readable checkpoint" in err and "update 0" in err and "metrics.jsonl" in err
    assert records(run) == records(reference)  # each step once, as in the uninterrupted run


def test_resume_after_the_last_checkpoint_of_an_epoch_logs_each_record_once(tmp_path, monkeypatch, reference):
    """A checkpoint taken at an epoch's last update (checkpoint_every) and a kill during that
    epoch's validation: the resumed run must not write the train and valid records twice."""
    cfg = epochs_cfg(checkpoint_every=1)  # a checkpoint after every update, epoch ends included
    run = tmp_path / "run"
    real_validate = Trainer._validate

    def killed_validate(self):
        real_validate(self)  # the valid record is written ...
        raise Killed("killed before the epoch-end checkpoint")  # ... then the kill

    monkeypatch.setattr(Trainer, "_validate", killed_validate)
    with pytest.raises(Killed):
        Trainer(cfg, run).run()
    monkeypatch.setattr(Trainer, "_validate", real_validate)
    assert Trainer(cfg, run).run() == 0
    ref = tmp_path / "ref"
    assert Trainer(cfg, ref).run() == 0
    assert records(run) == records(ref)


def _state(updates):
    torch.manual_seed(updates)
    return {"model": nn.Linear(3, 2).state_dict(), "progress": {"updates": updates}}


def test_a_corrupt_last_is_never_rotated_over_the_good_prev(tmp_path):
    """Issue 10: save_last renamed a damaged last onto prev, replacing the only good checkpoint."""
    d = tmp_path / "checkpoints"
    ckpt.save_last(_state(10), d)
    ckpt.save_last(_state(20), d)
    last = d / ckpt.LAST
    last.write_bytes(last.read_bytes()[:100])  # damaged on disk after it was written
    ckpt.save_last(_state(30), d)
    assert ckpt.load_checkpoint(d / ckpt.PREV)["progress"]["updates"] == 10
    assert ckpt.load_checkpoint(d / ckpt.LAST)["progress"]["updates"] == 30
    assert (d / (ckpt.LAST + ".corrupt")).exists()  # set aside, not deleted


def test_a_corrupt_last_found_at_resume_is_set_aside(tmp_path):
    d = tmp_path / "checkpoints"
    ckpt.save_last(_state(10), d)
    ckpt.save_last(_state(20), d)
    (d / ckpt.LAST).write_bytes(b"\0" * 10)
    assert ckpt.load_resume_state(d, log=lambda m: None)["progress"]["updates"] == 10
    ckpt.save_last(_state(30), d)  # prev must still be update 10, not the damaged file
    assert ckpt.load_checkpoint(d / ckpt.PREV)["progress"]["updates"] == 10


def test_concurrent_copies_use_unique_temp_names(tmp_path):
    """Issue 10 item 3: a fixed `.name.copy.tmp` let two writers rename each other's temp file
    away (FileNotFoundError)."""
    src = tmp_path / "src.pt"
    src.write_bytes(b"x" * 200_000)
    errors = []

    def copy_many():
        try:
            for _ in range(150):
                ckpt._copy(src, tmp_path / "dst.pt")
        except Exception as e:  # noqa: BLE001 - any failure is the bug
            errors.append(e)

    threads = [threading.Thread(target=copy_many) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert (tmp_path / "dst.pt").read_bytes() == src.read_bytes()
    assert not list(tmp_path.glob(".*tmp"))


def test_stray_temp_files_are_removed_when_a_run_starts(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    stray = [run / "checkpoints" / ".checkpoint_last.pt.k3j2.tmp", run / "checkpoints" / ".checkpoint2.pt.copy.tmp"]
    for f in stray:
        f.write_bytes(b"half a checkpoint")
    Trainer(epochs_cfg(), run)
    assert not any(f.exists() for f in stray)
