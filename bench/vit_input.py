"""Images per second of the vit task's input pipeline (decode + DeiT augmentation + Mixup), per
DataLoader worker count, through the engine's own loader (tasks.engine.data.make_loader).

    python -m bench.vit_input [--data DIR | --generate tiny|small] [--image-size 224] [--batch 64]
                              [--workers 0,1,2,4] [--batches 20]

--data: a directory written by `python -m tasks.vit.prepare` (real ImageNet or generated);
without it a generated set (`--generate`, default bench: 400 JPEGs of 330-500 px a side, the size
of ImageNet's photos) is written to a temporary directory first. Prints one line
per worker count: images/s over the timed batches (after one warm-up batch, which includes
the worker start-up and is reported separately).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def run_config(data_dir: str, image_size: int, batch: int, workers: int):
    from tasks.config import RunConfig

    return RunConfig.from_dict({
        "task": "vit", "seed": 1, "data": {"dir": data_dir, "workers": workers, "prefetch": 2},
        "model": {"family": "vit", "size": "vit_b16", "encoder_scheme": "pre_ln",
                  "overrides": {"image_size": image_size}},
        "loss": {"name": "label_smoothed_ce", "label_smoothing": 0.1, "smoothing_over": "all"},
        "images": {"batch_size": batch},
    })


def measure(data_dir: str, image_size: int, batch: int, workers: int, n_batches: int) -> tuple[float, float]:
    """(images/s over batches 2..n, seconds to the first batch)."""
    import torch

    from tasks.engine.data import make_loader
    from tasks.registry import build_task

    task = build_task(run_config(data_dir, image_size, batch, workers))
    batches = task.epoch_batches(1)
    while len(batches) < n_batches + 1:
        batches = batches + task.epoch_batches(len(batches) + 2)
    batches = batches[: n_batches + 1]
    t0 = time.perf_counter()
    it = iter(make_loader(task, batches, 1, workers, 2, torch.cuda.is_available()))
    next(it)
    t_first = time.perf_counter() - t0
    t1, n = time.perf_counter(), 0
    for b in it:
        n += b["net_input"]["images"].shape[0]
    return n / (time.perf_counter() - t1), t_first


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.vit_input", description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--generate", default="bench", choices=("tiny", "small", "bench"))
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", default="0,1,2")
    ap.add_argument("--batches", type=int, default=10)
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            from tasks.vit.make_tiny import generate
            from tasks.vit.prepare import prepare

            t0 = time.perf_counter()
            generate(args.generate, Path(tmp) / "raw")
            prepare(Path(tmp) / "raw", Path(tmp) / "data", check=False, log=lambda *_: None)
            data = str(Path(tmp) / "data")
            print(f"generated {args.generate} set in {time.perf_counter() - t0:.0f}s")
        print(f"input pipeline: {args.image_size}px, batch {args.batch}, DeiT augmentation "
              f"(RandomResizedCrop, RandAugment m9, random erasing, Mixup/CutMix); CPUs {os.cpu_count()}")
        for w in [int(x) for x in args.workers.split(",")]:
            rate, first = measure(data, args.image_size, args.batch, w, args.batches)
            print(f"workers {w:2d}: {rate:8.1f} images/s  (first batch after {first:.2f}s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
