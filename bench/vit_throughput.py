"""Training images/s of our ViT under each scheme, beside timm's own VisionTransformer (the
DeiT reference code) at the same size, batch and precision.

    python -m bench.vit_throughput [--size vit_b16] [--batch 64] [--precision fp32|bf16]
                                   [--steps 10] [--warmup 3] [--schemes pre_ln,post_ln,...]
                                   [--device cuda|cpu] [--image-size 224]

A step = forward, soft-target cross-entropy, backward and an AdamW step (LARS for the
sigma-reparam recipe's schemes is not the point here: the optimizer is the same for all rows),
on random images and random soft targets. The timm row is `vit_base_patch16_224`'s class at
the chosen size (tasks/vit/timm_compat.py), i.e. the Pre-LN layout our `pre_ln` row computes;
its attention is timm's fused SDPA, as ours. drop_path is the size's (0.1 for ViT-B).
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

DEFAULT_SCHEMES = "pre_ln,post_ln,admin,sigma_reparam,spectral_norm_no_gamma,weight_norm_pre_ln"


def step_rate(model, batch: int, image_size: int, classes: int, precision: str, device: torch.device,
              steps: int, warmup: int) -> float:
    model.to(device).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4,
                            fused=device.type == "cuda" or None)
    x = torch.randn(batch, 3, image_size, image_size, device=device)
    t = torch.softmax(torch.randn(batch, classes, device=device), -1)
    dtype = torch.bfloat16 if precision == "bf16" else None

    def one():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(x)
        loss = -(t * F.log_softmax(logits.float(), -1)).sum(-1).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(warmup):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.vit_throughput", description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="vit_b16")
    ap.add_argument("--image-size", type=int, default=None, help="override the size's image_size")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--precision", default="bf16", choices=("fp32", "bf16"))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--schemes", default=DEFAULT_SCHEMES)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--classes", type=int, default=1000)
    args = ap.parse_args(argv)
    from models import build_model
    from models.sizes import resolve_size
    from tasks.vit.timm_compat import timm_vit

    device = torch.device(args.device)
    over = {"image_size": args.image_size} if args.image_size else {}
    size = resolve_size("vit", args.size, **over)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"ViT training throughput: {args.size} ({size.layers}L, d={size.embed_dim}, {size.image_size}px), "
          f"batch {args.batch}, {args.precision}, {args.steps} timed steps, {name}", flush=True)
    torch.manual_seed(0)
    ref = step_rate(timm_vit(size, args.classes), args.batch, size.image_size, args.classes, args.precision,
                    device, args.steps, args.warmup)
    print(f"{'timm VisionTransformer':28s} {ref:9.2f} images/s  (1.00x)", flush=True)
    for scheme in args.schemes.split(","):
        torch.manual_seed(0)
        model = build_model("vit", args.size, encoder_scheme=scheme, num_classes=args.classes, **over)
        rate = step_rate(model, args.batch, size.image_size, args.classes, args.precision, device,
                         args.steps, args.warmup)
        print(f"{'ours ' + scheme:28s} {rate:9.2f} images/s  ({rate / ref:.2f}x timm)", flush=True)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    # timm once more: on a shared machine the load drifts; the two timm rows bracket the others
    again = step_rate(timm_vit(size, args.classes), args.batch, size.image_size, args.classes, args.precision,
                      device, args.steps, args.warmup)
    print(f"{'timm VisionTransformer again':28s} {again:9.2f} images/s  ({again / ref:.2f}x the first)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
