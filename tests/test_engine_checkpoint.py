"""Checkpoints: averaging identical ones is the identity; corrupt files fall back by name."""
import torch
from torch import nn

from tasks.engine import checkpoint as ckpt


def state(seed, updates):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    return {"model": m.state_dict(), "progress": {"updates": updates}}


def test_averaging_identical_checkpoints_is_the_identity(tmp_path):
    s = state(0, 1)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"checkpoint{i + 1}.pt")
        ckpt.atomic_save(s, paths[-1])
    avg = ckpt.average_checkpoints(paths)
    assert set(avg) == set(s["model"])
    for k, v in s["model"].items():
        assert avg[k].dtype == v.dtype and torch.equal(avg[k], v), k


def test_averaging_is_the_mean(tmp_path):
    a, b = state(0, 1), state(1, 2)
    ckpt.atomic_save(a, tmp_path / "a.pt")
    ckpt.atomic_save(b, tmp_path / "b.pt")
    avg = ckpt.average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"])
    w = "0.weight"
    assert torch.allclose(avg[w], (a["model"][w] + b["model"][w]) / 2)


def test_truncated_last_checkpoint_falls_back_to_the_previous(tmp_path):
    d = tmp_path / "checkpoints"
    ckpt.save_last(state(0, 10), d)
    ckpt.save_last(state(0, 20), d)
    last = d / ckpt.LAST
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    messages = []
    resumed = ckpt.load_resume_state(d, log=messages.append)
    assert resumed["progress"]["updates"] == 10
    assert any(str(last) in m and "corrupt or truncated" in m for m in messages)


def test_falls_back_to_epoch_checkpoints_then_none(tmp_path):
    d = tmp_path / "checkpoints"
    ckpt.save_epoch_end(state(0, 5), d, 1, keep=10)
    (d / ckpt.LAST).write_bytes(b"")
    resumed = ckpt.load_resume_state(d, log=lambda m: None)
    assert resumed["progress"]["updates"] == 5  # from checkpoint1.pt
    (d / "checkpoint1.pt").write_bytes(b"junk")
    assert ckpt.load_resume_state(d, log=lambda m: None) is None


def test_keeps_the_newest_epoch_checkpoints(tmp_path):
    d = tmp_path / "checkpoints"
    for epoch in range(1, 6):
        ckpt.save_epoch_end(state(0, epoch), d, epoch, keep=2)
    assert [p.name for p in ckpt.epoch_checkpoints(d)] == ["checkpoint4.pt", "checkpoint5.pt"]
    assert not list(d.glob(".*tmp"))
