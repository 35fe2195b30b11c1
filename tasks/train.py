"""Train one run: `python -m tasks.train --config RUN_DIR/config.yaml --out RUN_DIR`.

- A new run directory starts training; one holding checkpoints resumes from the newest
  readable checkpoint; a finished one (status.json present) is left alone (exit 0).
- If RUN_DIR/config.yaml exists and differs from --config, nothing is done: resuming
  under another config would mix two runs. If --config lives elsewhere, a copy is saved
  as RUN_DIR/config.yaml.
- SIGTERM / SIGUSR1: finish the current update, write checkpoint_last, exit 75 (resume me).
- Exit codes: 0 done (ok or diverged), 75 checkpointed after a signal, 2 bad input.
Under torchrun (WORLD_SIZE > 1) every rank runs this; rank 0 writes the files.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from tasks.config import ConfigError, RunConfig

EXIT_BAD_INPUT = 2


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m tasks.train", description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, type=Path, help="resolved run config (YAML)")
    ap.add_argument("--out", required=True, type=Path, help="run directory")
    return ap.parse_args(argv)


def check_run_dir(cfg: RunConfig, config_path: Path, run_dir: Path, write: bool = True) -> str | None:
    """A reason to refuse, or None; writes RUN_DIR/config.yaml when it is missing (if `write`)."""
    existing = run_dir / "config.yaml"
    if existing.exists() and existing.resolve() != config_path.resolve():
        try:
            held = RunConfig.load(existing)
        except ConfigError as e:
            return f"{existing} is not a valid run config ({e}); refusing to train into {run_dir}"
        if held.to_dict() != cfg.to_dict():
            diff = _diff(held.to_dict(), cfg.to_dict())
            return (f"{run_dir} holds a different run config than {config_path} "
                    f"(differs at: {', '.join(diff)}); refusing to resume. Use another --out "
                    "or remove the run directory to start over")
    elif not existing.exists() and write:
        cfg.dump(existing)
    return None


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


def install_signal_handlers(stop) -> None:
    def handler(signum, frame):
        if not stop.requested:
            print(f"received {signal.Signals(signum).name}: checkpointing after the current update",
                  file=sys.stderr, flush=True)
        stop.requested = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGUSR1, handler)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = RunConfig.load(args.config)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    run_dir = args.out
    status = run_dir / "status.json"
    if status.exists():
        print(f"{run_dir}: already finished ({json.loads(status.read_text()).get('status')}); nothing to do")
        return 0
    is_main = int(os.environ.get("RANK", "0")) == 0
    run_dir.mkdir(parents=True, exist_ok=True)
    # Every rank checks (so all refuse together); only rank 0 writes the config copy.
    reason = check_run_dir(cfg, args.config, run_dir, write=is_main)
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT

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
