"""Forward+backward throughput and peak memory per scheme for every model family.

    python -m bench.models_throughput                       # paper sizes, CPU, reduced batch
    python -m bench.models_throughput --device cuda --batch-scale 8   # bf16 on a GPU
    python -m bench.models_throughput --families vit --schemes pre_ln sigma_reparam

Each (family, scheme) cell runs in its own process so peak memory is its own (CPU: max RSS;
GPU: torch.cuda.max_memory_allocated). Also times a probe step (attention entropy on) to
show what the probes cost when switched on; switched off they are one attribute check.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from models import SCHEMES, build_model

# family -> (size, input builder at batch-scale 1, units per sample name)
PAPER = {
    "translation": ("transformer_wmt_en_de", "tokens"),
    "vit": ("vit_b16", "images"),
    "asr": ("asr_sigma_36x768", "frames"),
    "lm": ("lm_wiki103", "tokens"),
}


def make_model(family: str, scheme: str, vocab: int):
    size = PAPER[family][0]
    kw = {"translation": dict(src_vocab=vocab), "vit": dict(num_classes=1000), "asr": {}, "lm": dict(vocab=vocab)}
    return build_model(family, size, encoder_scheme=scheme, **kw[family])


def make_inputs(family: str, batch: int, device):
    """Inputs and the number of units (tokens / images / frames) they hold."""
    if family == "translation":
        src = torch.randint(4, 1000, (batch, 64), device=device)
        return (src, src.clone()), 2 * src.numel()
    if family == "vit":
        return (torch.randn(batch, 3, 224, 224, device=device),), batch
    if family == "asr":  # 15 s utterances, 80 filterbanks (docs/recipes.md §8)
        return (torch.randn(batch, 1500, 80, device=device), torch.full((batch,), 1500, device=device)), batch * 1500
    toks = torch.randint(4, 1000, (batch, 512), device=device)
    return (toks,), toks.numel()


def run_one(family: str, scheme: str, batch: int, steps: int, device: str, vocab: int) -> dict:
    torch.manual_seed(0)
    dev = torch.device(device)
    model = make_model(family, scheme, vocab).to(dev).train()
    inputs, units = make_inputs(family, batch, dev)
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda")

    def step(probe: bool = False):
        with amp:
            if probe:
                from models.probes import attention_entropy

                out = {}
                attention_entropy(model, lambda: out.setdefault("y", model(*inputs)))
                return
            y = model(*inputs)
            y = y[0] if isinstance(y, tuple) else y
            y.float().mean().backward()

    def timed(n, probe=False):
        step(probe)  # warm-up
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(n):
            step(probe)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t) / n

    sec = timed(steps)
    probe_sec = timed(1, probe=True)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = sum(p.numel() for p in model.parameters())
    return {"family": family, "size": PAPER[family][0], "scheme": scheme, "batch": batch, "params_M": params / 1e6,
            "step_s": sec, "units_per_s": units / sec, "unit": PAPER[family][1], "peak_MiB": peak,
            "probe_forward_s": probe_sec}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", nargs="+", default=list(PAPER), choices=list(PAPER))
    order = ["pre_ln"] + [s for s in sorted(SCHEMES) if s != "pre_ln"]  # pre_ln first: the ratio's base
    ap.add_argument("--schemes", nargs="+", default=order, choices=sorted(SCHEMES))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-scale", type=int, default=1, help="samples per step (CPU default 1)")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=32768, help="vocabulary of the text families")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        family, scheme = a.one.split(":")
        print(json.dumps(run_one(family, scheme, a.batch_scale, a.steps, a.device, a.vocab)))
        return
    rows = []
    for family in a.families:
        for scheme in a.schemes:
            cmd = [sys.executable, "-m", "bench.models_throughput", "--one", f"{family}:{scheme}", "--device", a.device,
                   "--batch-scale", str(a.batch_scale), "--steps", str(a.steps), "--vocab", str(a.vocab)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{family}/{scheme} failed:\n{out.stderr[-2000:]}")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print_row(rows[-1], rows)


def print_row(r: dict, rows: list[dict]) -> None:
    if len(rows) == 1:
        print(f"{'family':<12}{'size':<22}{'scheme':<24}{'params(M)':>10}{'step(s)':>9}{'units/s':>11}"
              f"{'vs pre_ln':>10}{'peak MiB':>10}{'probe fwd(s)':>13}", flush=True)
    base = next((x for x in rows if x["family"] == r["family"] and x["scheme"] == "pre_ln"), None)
    ratio = f"{r['step_s'] / base['step_s']:.2f}x" if base else "-"
    print(f"{r['family']:<12}{r['size']:<22}{r['scheme']:<24}{r['params_M']:>10.1f}{r['step_s']:>9.3f}"
          f"{r['units_per_s']:>11.1f}{ratio:>10}{r['peak_MiB']:>10.0f}{r['probe_forward_s']:>13.3f}", flush=True)


if __name__ == "__main__":
    main()
