"""metrics.jsonl, the progress bar, optional TensorBoard, the per-epoch summary line.

One JSON object per line. Training records: {"kind": "train", step, epoch, loss, nll, lr,
grad_norm, units_per_s, peak_mem_mb, time}; validation: {"kind": "valid", step, epoch,
valid_loss, valid_nll}; probes: {"kind": "probe", step, ...}. Losses are per unit, in nats.
"""
from __future__ import annotations

import json
import math
import resource
import sys
from pathlib import Path

import torch

from tasks.config import atomic_write_text


def peak_memory_mb(device: torch.device) -> float:
    """CUDA max_memory_allocated, or the process's max resident set size on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def jsonable(x):
    """Tensors, numpy scalars, nested dicts and non-finite floats into JSON-safe values."""
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu()
        return jsonable(x.item() if x.ndim == 0 else x.tolist())
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)  # "nan" / "inf": JSON has no literal for them
    if hasattr(x, "tolist"):  # numpy arrays and scalars
        return jsonable(x.tolist())
    return x


def truncate_metrics(path: Path, last_step: int, epoch: int | None = None, window_steps: int = 0) -> int:
    """Drop the records written after the checkpoint a resume starts from; the number dropped.

    The checkpoint was taken at update `last_step` with progress (`epoch`, `window_steps`).
    Records of later steps go, and so do records of step `last_step` itself that the loop
    writes only after that checkpoint, so that the resumed run writes each of them once:
    - a "train" record of a partial log window (the checkpoint still holds `window_steps` > 0
      unlogged updates: the record was written later, at the epoch end);
    - a "valid" record of an epoch the checkpoint does not yet count as done
      (record epoch >= `epoch`: the epoch-end checkpoint, which says epoch + 1, was not reached).
    A line cut by a kill (not valid JSON) is dropped too.
    """
    if not path.exists():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        step = rec.get("step", 0)
        after = step > last_step
        if step == last_step and epoch is not None:
            after = ((rec.get("kind") == "train" and window_steps > 0)
                     or (rec.get("kind") == "valid" and rec.get("epoch", 0) >= epoch))
        if after:
            dropped += 1
        else:
            kept.append(line)
    if dropped:
        atomic_write_text(path, "".join(k + "\n" for k in kept))
    return dropped


def reset_logs(run_dir: Path) -> list[str]:
    """A restart from update 0: empty metrics.jsonl and drop the TensorBoard events, so that
    the old records are not read as part of the new run. Returns what was reset."""
    import shutil

    reset = []
    metrics = run_dir / "metrics.jsonl"
    if metrics.exists() and metrics.stat().st_size > 0:
        n = sum(1 for line in metrics.read_text().splitlines() if line.strip())
        atomic_write_text(metrics, "")
        reset.append(f"{metrics} ({n} records)")
    tb = run_dir / "tensorboard"
    if tb.is_dir():
        shutil.rmtree(tb)
        reset.append(str(tb))
    return reset


class MetricsLogger:
    """Appends records to RUN_DIR/metrics.jsonl (main process only)."""

    def __init__(self, run_dir: Path, enabled: bool, total_updates: int, start_step: int,
                 tensorboard: bool = False):
        self.enabled = enabled
        self.path = run_dir / "metrics.jsonl"
        self.bar = None
        self.tb = None
        if not enabled:
            return
        self.file = open(self.path, "a")
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total_updates or None, initial=start_step, unit="upd", dynamic_ncols=True)
        if tensorboard:
            self.tb = _tensorboard_writer(run_dir / "tensorboard")

    def log(self, record: dict) -> None:
        if not self.enabled:
            return
        record = jsonable(record)
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.tb is not None:
            kind = record.get("kind", "train")
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self.tb.add_scalar(f"{kind}/{k}", v, record.get("step", 0))
        if self.bar is not None and record.get("kind") == "train":
            self.bar.set_postfix(loss=record.get("loss"), lr=record.get("lr"))

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def epoch_summary(self, epoch: int, step: int, train_loss: float, valid: dict | None, seconds: float) -> None:
        """One line per epoch on stdout."""
        if not self.enabled:
            return
        parts = [f"epoch {epoch:3d}", f"updates {step}", f"train_loss {train_loss:.4f}"]
        if valid:
            parts.append(f"valid_loss {valid['valid_loss']:.4f}")
        parts.append(f"{seconds:.1f}s")
        line = " | ".join(parts)
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        self.file.close()
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()


def _tensorboard_writer(log_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("warning: train.tensorboard is true but the tensorboard package is not installed; "
              "writing metrics.jsonl only", file=sys.stderr)
        return None
    return SummaryWriter(str(log_dir))
