"""Train one run: `python -m tasks.train --config RUN_DIR/config.yaml --out RUN_DIR`.

- One process per run directory: RUN_DIR/.lock is flock'ed for the life of the process; a
  second `tasks.train` on the same directory exits at once (exit 3) naming the holder's pid
  and host (tasks/engine/lock.py).
- A new run directory starts training; one holding checkpoints resumes from the newest
  readable checkpoint; a finished one (status.json present) is left alone (exit 0).
- A config edit retrains: when the directory's checkpoints (or a RUN_DIR/config.yaml other
  than --config) were written under another run config, everything training wrote there is
  moved aside to the sibling directory RUN_DIR.config-<digest of the old config> (nothing is
  deleted) and the run starts from update 0. A finished run whose config differs is treated
  the same way. The workflow's run_config rule rewrites RUN_DIR/config.yaml and Snakemake
  deletes status.json/eval.json before the rerun: the checkpoints still say which config
  they belong to.
- SIGTERM / SIGINT / SIGUSR1: finish the current update, write checkpoint_last, exit 75
  (resume me). A second SIGINT aborts at once (KeyboardInterrupt).
- --require-gpu: fail (exit 2) instead of training on the CPU when CUDA is not available.
- Exit codes: 0 done (ok or diverged), 75 checkpointed after a signal, 2 bad input or no GPU,
  3 the run directory is locked by another process.
Under torchrun (WORLD_SIZE > 1) every rank runs this; rank 0 locks and writes the files.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from common.io import digest
from tasks.config import ConfigError, RunConfig

EXIT_BAD_INPUT, EXIT_LOCKED = 2, 3
KEEP = (".lock",)  # never moved aside: the lock this process holds


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m tasks.train", description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, type=Path, help="resolved run config (YAML)")
    ap.add_argument("--out", required=True, type=Path, help="run directory")
    ap.add_argument("--require-gpu", action="store_true",
                    help="fail instead of training on the CPU when CUDA is not available (the workflow "
                         "passes it when the scale gives the train rule gpu > 0)")
    return ap.parse_args(argv)


def held_config(config_path: Path, run_dir: Path) -> tuple[dict | None, str]:
    """(the run config the contents of `run_dir` were written under, where it was read), or
    (None, "") when nothing there records one. The checkpoints are the authority (the workflow
    rewrites config.yaml before a rerun); a RUN_DIR/config.yaml that is not --config counts too."""
    from tasks.engine import checkpoint as ckpt

    saved = ckpt.saved_config(run_dir / "checkpoints") if (run_dir / "checkpoints").is_dir() else None
    if saved is not None:
        return saved, f"{run_dir / 'checkpoints'}"
    existing = run_dir / "config.yaml"
    if existing.exists() and existing.resolve() != config_path.resolve():
        try:
            return RunConfig.load(existing).to_dict(), str(existing)
        except ConfigError as e:
            return {"unreadable": str(e)}, str(existing)
    return None, ""


def move_aside(run_dir: Path, old: dict, keep: set[str]) -> Path | None:
    """Move the entries of `run_dir` (except `keep`) into the sibling RUN_DIR.config-<digest>
    (a new name if that exists); returns it, or None when there was nothing to move."""
    entries = [p for p in sorted(run_dir.iterdir()) if p.name not in keep]
    if not entries:
        return None
    base = run_dir.with_name(f"{run_dir.name}.config-{digest(old)}")
    dest, n = base, 1
    while dest.exists():
        n += 1
        dest = base.with_name(f"{base.name}-{n}")
    dest.mkdir(parents=True)
    for p in entries:
        os.replace(p, dest / p.name)  # same file system: renames, nothing copied or deleted
    return dest


def retrain_if_config_changed(cfg: RunConfig, config_path: Path, run_dir: Path) -> str | None:
    """Rank 0, under the run lock: move an old run of another config aside. A message or None."""
    old, where = held_config(config_path, run_dir)
    if old is None or old == cfg.to_dict():
        return None
    keep = set(KEEP)
    if config_path.resolve().parent == run_dir.resolve():
        keep.add(config_path.name)  # the new config, as the workflow's run_config rule wrote it
    if cfg.model.omega and Path(cfg.model.omega).resolve().parent == run_dir.resolve():
        keep.add(Path(cfg.model.omega).name)  # an input of this run (admin_profile rule)
    diff = _diff(old, cfg.to_dict())
    dest = move_aside(run_dir, old, keep)
    return (f"{where} holds a run of another config (differs at: {', '.join(diff[:8])}"
            f"{' ...' if len(diff) > 8 else ''}); moved it aside to {dest} and training this config "
            "from update 0")


def wait_for_rank0(cfg: RunConfig, config_path: Path, run_dir: Path, timeout: float = 600.0) -> None:
    """Other ranks: until rank 0 has moved an old config's run aside, its checkpoints must not be read."""
    deadline = time.monotonic() + timeout
    while True:
        old, _ = held_config(config_path, run_dir)
        if old is None or old == cfg.to_dict() or time.monotonic() > deadline:
            return
        time.sleep(0.5)


def read_status(path: Path) -> str:
    """The status of a finished run; ValueError naming the file when it is not what training writes."""
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); expected the run status written by tasks.train, "
                         '{"status": "ok"|"diverged", "step": N, "reason": "..."}. Delete it to resume '
                         "or retrain the run") from None
    if not isinstance(data, dict) or data.get("status") not in ("ok", "diverged"):
        raise ValueError(f"{path}: expected a mapping with status 'ok' or 'diverged' (written by tasks.train), "
                         f"got {data!r:.200}. Delete it to resume or retrain the run")
    return data["status"]


def require_gpu() -> str | None:
    import torch

    if torch.cuda.is_available():
        procs, seen = int(os.environ.get("LOCAL_WORLD_SIZE", "1")), torch.cuda.device_count()
        if seen >= procs:
            return None
        # torchrun starts one process per GPU of the run, the count its update_freq was divided by
        return (f"--require-gpu: torchrun started {procs} processes, one per GPU of this run (the scale "
                f"file's GPUs per run; its config's update_freq is per GPU), but the job sees {seen} GPU(s) "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')!r}). Run it where "
                f"{procs} GPUs are visible, or give the run fewer GPUs in the scale file "
                "(tasks.<task>.variant_resources) so that its config is resolved for them")
    return ("--require-gpu: this train rule was given GPUs (the scale's resources: gpu > 0) but CUDA is "
            f"not available (torch {torch.__version__}, built with CUDA {torch.version.cuda}, "
            f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')!r}); refusing to "
            "train on the CPU. Check the job's GPU allocation and the CUDA build of torch, or give the "
            "scale's train rule gpu: 0 to train on the CPU")


def _diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


def install_signal_handlers(stop) -> dict:
    """SIGTERM, SIGINT and SIGUSR1 ask for a checkpoint after the current update (exit 75).
    A second SIGINT (Ctrl-C twice) aborts at once. Returns the previous handlers."""
    interrupts = [0]

    def handler(signum, frame):
        if signum == signal.SIGINT:
            interrupts[0] += 1
            if interrupts[0] > 1:
                raise KeyboardInterrupt
        if not stop.requested:
            print(f"received {signal.Signals(signum).name}: checkpointing after the current update",
                  file=sys.stderr, flush=True)
        stop.requested = True

    return {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = RunConfig.load(args.config)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.require_gpu and (reason := require_gpu()):
        print(f"error: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from tasks.engine import lock

    run_dir = args.out
    is_main = int(os.environ.get("RANK", "0")) == 0
    run_dir.mkdir(parents=True, exist_ok=True)
    if is_main:
        try:
            lock.acquire(run_dir)  # before anything in the directory is read or moved
        except lock.RunLocked as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_LOCKED
        moved = retrain_if_config_changed(cfg, args.config, run_dir)
        if moved:
            print(moved, file=sys.stderr, flush=True)
    else:
        wait_for_rank0(cfg, args.config, run_dir)
    status = run_dir / "status.json"
    if status.exists():
        try:
            state = read_status(status)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"{run_dir}: already finished ({state}) with this config; nothing to do")
        return 0
    existing = run_dir / "config.yaml"
    if is_main and not existing.exists():
        cfg.dump(existing)

    from tasks.engine.loop import StopFlag, Trainer

    stop = StopFlag()
    install_signal_handlers(stop)
    try:  # bad data, a missing omega.json, an unknown model size: a message, not a traceback
        trainer = Trainer(cfg, run_dir, stop)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return trainer.run()


if __name__ == "__main__":
    sys.exit(main())
