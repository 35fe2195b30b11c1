"""Overhead of the training engine: `python -m bench.engine_overhead [--family F --size S]`.

Times updates of the engine (`tasks.engine.loop.Trainer.step`: device-side statistics,
gradient normalisation, grad norm, schedule, divergence tracking, logging) against a bare
hand-written loop doing the same forward/backward/AdamW step on the same batches of the
toy task. Prints steps/s of both and the engine's extra time per step. Rows: the trivial
model (embedding + linear, where the engine's own cost dominates) and, with --family/--size,
a models/ family on the toy data (e.g. --family translation --size transformer_iwslt_de_en).
Each measurement is repeated and the fastest repeat is kept (the machine may be shared).
"""
from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import torch

from tasks.base import move_to
from tasks.config import RunConfig
from tasks.engine.loop import Trainer


def bench_cfg(family: str, size: str, max_tokens: int) -> RunConfig:
    return RunConfig.from_dict({
        "task": "toy", "seed": 1, "batching": {"max_tokens": max_tokens},
        "model": {"family": family, "size": size, "encoder_scheme": "pre_ln", "decoder_scheme": None},
        "optim": {"name": "adam", "lr": 1e-4},
        "schedule": {"name": "inverse_sqrt", "warmup_updates": 100, "warmup_init_lr": 1e-7},
        "train": {"max_updates": 10**9, "log_every": 100, "checkpoint_every": 10**9},
    })


def batches(trainer: Trainer, n: int) -> list[dict]:
    """n training batches (cycling over epochs), already on the device."""
    task = trainer.task
    stream = itertools.chain.from_iterable((task.build_batch(b, e) for b in task.epoch_batches(e))
                                           for e in itertools.count(1))
    return [move_to(b, trainer.device) for b in itertools.islice(stream, n)]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_engine(trainer: Trainer, data: list[dict]) -> float:
    """Seconds per update through the engine."""
    sync(trainer.device)
    t0 = time.perf_counter()
    for b in data:
        trainer.step([b])
    sync(trainer.device)
    return (time.perf_counter() - t0) / len(data)


def time_bare(trainer: Trainer, data: list[dict]) -> float:
    """Seconds per update of a minimal loop over the same model, task loss and optimizer type."""
    model, task, device = trainer.model, trainer.task, trainer.device
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98),
                            fused=True if device.type == "cuda" else None)
    use_bf16 = device.type == "cuda"
    sync(device)
    t0 = time.perf_counter()
    for b in data:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss, logs = task.loss(model, b)
        (loss / logs["units"]).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    sync(device)
    return (time.perf_counter() - t0) / len(data)


def measure(family: str, size: str, updates: int, repeats: int, max_tokens: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(bench_cfg(family, size, max_tokens), Path(tmp) / "run")
        data = batches(trainer, updates)
        time_engine(trainer, data[: max(2, updates // 10)])  # warm-up (allocator, kernels)
        time_bare(trainer, data[: max(2, updates // 10)])
        engine = min(time_engine(trainer, data) for _ in range(repeats))
        bare = min(time_bare(trainer, data) for _ in range(repeats))
        n_params = sum(p.numel() for p in trainer.model.parameters())
        trainer.logger.close()
    return {"model": f"{family}/{size}", "params": n_params, "engine_steps_s": 1 / engine, "bare_steps_s": 1 / bare,
            "overhead_ms": 1e3 * (engine - bare), "overhead_pct": 100 * (engine - bare) / engine}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.engine_overhead", description=__doc__.splitlines()[0])
    ap.add_argument("--family", help="a models/ family for a second row (lm or translation)")
    ap.add_argument("--size", help="its size, e.g. lm_tiny or transformer_iwslt_de_en")
    ap.add_argument("--updates", type=int, default=200, help="updates per timed repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=512, help="tokens per batch of the toy data")
    args = ap.parse_args(argv)
    if (args.family is None) != (args.size is None):
        ap.error("--family and --size go together")
    rows = [measure("toy", "trivial", args.updates, args.repeats, args.max_tokens)]
    if args.family:
        rows.append(measure(args.family, args.size, args.updates, args.repeats, args.max_tokens))
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {device}; {args.updates} updates x {args.repeats} repeats, fastest kept")
    print(f"{'model':40s} {'params':>10s} {'engine st/s':>12s} {'bare st/s':>10s} {'extra ms':>9s} {'extra %':>8s}")
    for r in rows:
        print(f"{r['model']:40s} {r['params']:10d} {r['engine_steps_s']:12.1f} {r['bare_steps_s']:10.1f} "
              f"{r['overhead_ms']:9.3f} {r['overhead_pct']:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
