"""Checkpoints: atomic writes, fallback past corrupt files, averaging.

A run's `checkpoints/` holds `checkpoint_last.pt` (every train.checkpoint_every updates, at
epoch ends and on SIGTERM), `checkpoint_prev.pt` (the last one before it), `checkpoint_best.pt`
(lowest valid loss) and `checkpoint{epoch}.pt` (epoch ends, the newest
train.keep_epoch_checkpoints kept). Each holds the full training state:
    {"model", "optimizer", "progress": {epoch, batch, updates, best_valid, epoch_starts, ...},
     "rng": {python, numpy, torch, cuda}}
"""
from __future__ import annotations

import os
import random
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

LAST, PREV, BEST = "checkpoint_last.pt", "checkpoint_prev.pt", "checkpoint_best.pt"
_EPOCH_RE = re.compile(r"^checkpoint(\d+)\.pt$")


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_save(obj, path: Path) -> None:
    """torch.save through a temp file in the same directory, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _copy(src: Path, dst: Path) -> None:
    """Copy src to dst atomically. A real copy, not a hard link, so that damage to one file
    cannot reach the others."""
    tmp = dst.with_name(f".{dst.name}.copy.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def save_last(state: dict, ckpt_dir: Path) -> Path:
    """Write checkpoint_last.pt, keeping the previous one as checkpoint_prev.pt."""
    last = ckpt_dir / LAST
    if last.exists():
        os.replace(last, ckpt_dir / PREV)  # a rename: if the write below dies, prev is loaded
    atomic_save(state, last)
    return last


def save_epoch(ckpt_dir: Path, epoch: int, keep: int) -> None:
    """Copy checkpoint_last.pt to checkpoint{epoch}.pt and drop epoch files beyond the newest `keep`."""
    _copy(ckpt_dir / LAST, ckpt_dir / f"checkpoint{epoch}.pt")
    for old in epoch_checkpoints(ckpt_dir)[:-keep] if keep > 0 else epoch_checkpoints(ckpt_dir):
        old.unlink()


def save_best(ckpt_dir: Path) -> None:
    _copy(ckpt_dir / LAST, ckpt_dir / BEST)


def epoch_checkpoints(ckpt_dir: Path) -> list[Path]:
    """checkpoint{N}.pt files, oldest epoch first."""
    found = [(int(m.group(1)), p) for p in ckpt_dir.glob("checkpoint*.pt") if (m := _EPOCH_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def load_checkpoint(path: Path) -> dict:
    """torch.load a training state; a damaged file raises ValueError naming it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated zip, bad pickle, empty file: all "corrupt"
        raise ValueError(f"checkpoint {path} is corrupt or truncated ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"checkpoint {path} is not a training checkpoint (no 'model' entry)")
    return state


def load_resume_state(ckpt_dir: Path, log=lambda msg: print(msg, file=sys.stderr)) -> dict | None:
    """The newest readable training state, or None if there is none.

    Tries checkpoint_last.pt, checkpoint_prev.pt, then epoch checkpoints newest first; each
    unreadable file is reported by name and skipped.
    """
    candidates = [ckpt_dir / LAST, ckpt_dir / PREV] + epoch_checkpoints(ckpt_dir)[::-1]
    for path in candidates:
        if not path.exists():
            continue
        try:
            state = load_checkpoint(path)
        except ValueError as e:
            log(f"warning: {e}; falling back to the previous checkpoint")
            continue
        if "progress" not in state:
            log(f"warning: checkpoint {path} holds no training progress; skipping it")
            continue
        log(f"resuming from {path} (update {state['progress']['updates']})")
        return state
    return None


def average_checkpoints(paths: list[Path]) -> dict:
    """Parameter-wise mean of the models in `paths` (fairseq's average_checkpoints).

    Floating tensors are averaged in float64 and cast back (so identical inputs give the
    identical output); integer buffers are taken from the last checkpoint.
    """
    if not paths:
        raise ValueError("average_checkpoints needs at least one checkpoint path")
    sums, keys, last = {}, None, None
    for path in paths:
        model = load_checkpoint(Path(path))["model"]
        if keys is None:
            keys = list(model)
        elif set(model) != set(keys):
            raise ValueError(f"checkpoint {path} holds different parameters than {paths[0]}; cannot average")
        for k, t in model.items():
            if t.is_floating_point():
                sums[k] = sums[k] + t.double() if k in sums else t.double()
        last = model
    n = len(paths)
    return {k: (sums[k] / n).to(last[k].dtype) if k in sums else last[k] for k in keys}
