"""Admin's profiling step (docs/methods.md, Admin): `python -m tasks.admin_profile --config C --out omega.json`.

Builds the task and the model exactly as the training run will (same seed, so the same
initial weights), runs one forward + backward on the first training batch in train mode
(dropout on) through models.admin.profile_omega, and saves the omega of every sublayer.
No parameter is updated. The training run rebuilds the model from the seed and loads only
these omega values (cfg.model.omega points at the file).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from tasks.base import move_to
from tasks.config import ConfigError, RunConfig


def profile(cfg: RunConfig, out: Path, device: torch.device | None = None) -> dict:
    """Profile omega for `cfg` and write it to `out`; returns {stack: [omega per sublayer]}."""
    from models.admin import profile_omega, save_omega

    from tasks.engine.distributed import autocast
    from tasks.engine.loop import seed_everything
    from tasks.registry import build_task

    from models.scheme import get_scheme

    schemes = [s for s in (cfg.model.encoder_scheme, cfg.model.decoder_scheme) if s]
    if not any(get_scheme(s).admin_omega for s in schemes):
        raise ValueError(f"model.encoder_scheme/decoder_scheme: profiling needs a stack whose scheme has "
                         f"admin_omega, got {cfg.model.encoder_scheme}/{cfg.model.decoder_scheme}")
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    task = build_task(cfg)
    seed_everything(cfg.seed)
    model = task.build_model().to(device)
    batch = move_to(task.probe_batch(), device)

    def run_batch(m):
        with autocast(cfg.train.precision, device):
            loss, _ = task.loss(m, batch)
        loss.backward()

    omega = profile_omega(model, run_batch)
    save_omega(out, omega)
    return omega


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tasks.admin_profile", description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, type=Path, help="resolved run config (YAML)")
    ap.add_argument("--out", required=True, type=Path, help="where to write omega.json")
    args = ap.parse_args(argv)
    try:
        cfg = RunConfig.load(args.config)
        omega = profile(cfg, args.out)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary = ", ".join(f"{k}: {len(v)} sublayers, omega {min(v):.3f}..{max(v):.3f}" for k, v in omega.items())
    print(f"wrote {args.out} ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
