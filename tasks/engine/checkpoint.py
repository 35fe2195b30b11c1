"""Checkpoints: atomic writes, fallback past corrupt files, averaging.

A run's `checkpoints/` holds `checkpoint_last.pt` (every train.checkpoint_every updates, at
epoch ends and on SIGTERM/SIGINT/SIGUSR1), `checkpoint_prev.pt` (the last one before it),
`checkpoint_best.pt` (lowest valid loss) and `checkpoint{epoch}.pt` (epoch ends, the newest
train.keep_epoch_checkpoints kept). Each holds the full training state:
    {"model", "optimizer", "progress": {epoch, batch, updates, best_valid, epoch_starts, window,
                                         last_lr, epoch_sums, ...},
     "rng": {python, numpy, torch, cuda}, "config", "divergence"}

Crash safety (a SIGKILL may land between any two system calls):
- every file is written to a unique temp name (mkstemp) and renamed over its target, so
  two writers never share a temp file and a reader sees the old or the new file, never half;
- the epoch-end state is written to `checkpoint{N}.pt` *before* `checkpoint_last.pt` says
  "epoch N is done" (`save_epoch_end`): a kill in between resumes inside epoch N and rewrites
  `checkpoint{N}.pt`, instead of skipping it for good;
- `checkpoint_last.pt` is rotated into `checkpoint_prev.pt` only when it is a complete file;
  an unreadable one is renamed aside (`*.corrupt`), so it can never replace the good prev;
- stray `*.tmp` files of a killed writer are removed when a run starts (`clean_stray_temps`).
"""
from __future__ import annotations

import os
import random
import re
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from common.io import atomic_write

LAST, PREV, BEST = "checkpoint_last.pt", "checkpoint_prev.pt", "checkpoint_best.pt"
_EPOCH_RE = re.compile(r"^checkpoint(\d+)\.pt$")

# Fault injection for `python -m bench.faults`: NORMBENCH_FAILPOINT="<point>:<n>:<SIGNAL>" sends
# SIGNAL to this process the n-th time the write path passes <point> (names in FAILPOINTS), so
# that a kill lands exactly inside a checkpoint write. Unset (always, outside that bench): no-op.
FAILPOINTS = ("tmp_written", "copy_tmp_written", "last_rotated", "epoch_file_written", "epoch_last_rotated")
_FAILPOINT = os.environ.get("NORMBENCH_FAILPOINT", "")
_hits: dict[str, int] = {}


def _failpoint(name: str) -> None:
    if not _FAILPOINT:
        return
    point, n, sig = _FAILPOINT.split(":")
    if point == name:
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] == int(n):
            import signal

            os.kill(os.getpid(), getattr(signal, sig))


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


def _write_via_temp(path: Path, write, point: str) -> None:
    """`common.io.atomic_write` with the failpoint `point` just before the rename."""
    atomic_write(path, write, before_replace=lambda tmp: _failpoint(point))


def atomic_save(obj, path: Path) -> None:
    """torch.save through a uniquely named temp file in the same directory, then os.replace."""
    _write_via_temp(path, lambda tmp: torch.save(obj, tmp), "tmp_written")


def _copy(src: Path, dst: Path) -> None:
    """Copy src to dst atomically. A real copy, not a hard link, so that damage to one file
    cannot reach the others; the temp name is unique, so concurrent copies cannot collide."""
    _write_via_temp(dst, lambda tmp: shutil.copyfile(src, tmp), "copy_tmp_written")


def is_complete(path: Path) -> bool:
    """A cheap integrity test of a torch.save file (a zip archive): its central directory,
    written last, is present and lists a data.pkl. Catches truncated and overwritten files
    without reading the tensors (a full torch.load of a large checkpoint takes seconds)."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(name.endswith("data.pkl") for name in z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def set_aside(path: Path, log=lambda msg: print(msg, file=sys.stderr)) -> Path:
    """Rename an unreadable checkpoint to `<name>.corrupt` (kept for inspection, never loaded)."""
    dst = path.with_name(path.name + ".corrupt")
    os.replace(path, dst)
    log(f"warning: {path} is unreadable; renamed to {dst.name} so that it is never loaded or rotated")
    return dst


def _rotate_last(ckpt_dir: Path) -> None:
    """checkpoint_last.pt -> checkpoint_prev.pt, unless last is damaged (then it is set aside and
    the older prev, the only good copy, stays)."""
    last = ckpt_dir / LAST
    if not last.exists():
        return
    if is_complete(last):
        os.replace(last, ckpt_dir / PREV)  # a rename: if the write that follows dies, prev is loaded
    else:
        set_aside(last)


def save_last(state: dict, ckpt_dir: Path) -> Path:
    """Write checkpoint_last.pt, keeping the previous one as checkpoint_prev.pt."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    _rotate_last(ckpt_dir)
    _failpoint("last_rotated")
    last = ckpt_dir / LAST
    atomic_save(state, last)
    return last


def save_epoch_end(state: dict, ckpt_dir: Path, epoch: int, keep: int, best: bool = False) -> None:
    """The end of epoch `epoch`: `state` (which already says "epoch + 1, batch 0") goes to
    checkpoint{epoch}.pt first, then checkpoint_best.pt (if `best`), and only then to
    checkpoint_last.pt, the file a resume trusts. A kill before the last step resumes from
    the older last inside epoch `epoch` and writes these files again (bit-identical on CPU)."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    epoch_file = ckpt_dir / f"checkpoint{epoch}.pt"
    atomic_save(state, epoch_file)
    _failpoint("epoch_file_written")
    if best:
        _copy(epoch_file, ckpt_dir / BEST)
    _rotate_last(ckpt_dir)
    _failpoint("epoch_last_rotated")
    _copy(epoch_file, ckpt_dir / LAST)
    prune_epochs(ckpt_dir, keep)


def prune_epochs(ckpt_dir: Path, keep: int) -> None:
    for old in epoch_checkpoints(ckpt_dir)[:-keep] if keep > 0 else epoch_checkpoints(ckpt_dir):
        old.unlink()


def clean_stray_temps(ckpt_dir: Path, log=lambda msg: print(msg, file=sys.stderr)) -> list[Path]:
    """Remove `.*.tmp` files left by a writer that was killed mid-write (call under the run
    lock: then no live writer owns them)."""
    if not ckpt_dir.is_dir():
        return []
    stray = sorted(p for p in ckpt_dir.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))
    for p in stray:
        p.unlink()
    if stray:
        log(f"removed {len(stray)} temp file(s) of an interrupted checkpoint write in {ckpt_dir}")
    return stray


def epoch_checkpoints(ckpt_dir: Path) -> list[Path]:
    """checkpoint{N}.pt files, oldest epoch first."""
    found = [(int(m.group(1)), p) for p in ckpt_dir.glob("checkpoint*.pt") if (m := _EPOCH_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def newest_first(ckpt_dir: Path) -> list[Path]:
    """The order in which a run's checkpoints are tried: last, prev, then epoch files newest first
    (last and prev may not exist)."""
    return [ckpt_dir / LAST, ckpt_dir / PREV] + epoch_checkpoints(ckpt_dir)[::-1]


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
    for path in newest_first(ckpt_dir):
        if not path.exists():
            continue
        try:
            state = load_checkpoint(path)
        except ValueError as e:
            log(f"warning: {e}; falling back to the previous checkpoint")
            if path.name in (LAST, PREV):  # never rotate or load it again (epoch files stay as they are)
                set_aside(path, log)
            continue
        if "progress" not in state:
            log(f"warning: checkpoint {path} holds no training progress; skipping it")
            continue
        log(f"resuming from {path} (update {state['progress']['updates']})")
        return state
    return None


def saved_config(ckpt_dir: Path) -> dict | None:
    """The run config stored in the newest readable checkpoint (None if none holds one).
    Memory-maps the file: only the pickled metadata is read, not the tensors."""
    for path in newest_first(ckpt_dir):
        if not path.is_file() or not is_complete(path):
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        except Exception:  # noqa: BLE001 - unreadable: the next candidate decides, as in load_resume_state
            continue
        if isinstance(state, dict) and isinstance(state.get("config"), dict):
            return state["config"]
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
