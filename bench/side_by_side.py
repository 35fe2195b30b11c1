"""Training step time per scheme beside the reference implementations, in one run.

    python -m bench.side_by_side                      # realistic batches (slow on CPU)
    python -m bench.side_by_side --tokens 1024 --vit-batch 4 --repeats 3   # reduced, CPU
    python -m bench.side_by_side --device cuda        # bf16 autocast on a GPU

Two families at the papers' sizes, one full training step each (forward, loss, backward,
optimizer step, zero_grad), all models of a family measured round-robin so a shared machine's
load hits each alike; the figure is the median over repeats after one warm-up step each.
- WMT base (fairseq transformer_wmt_en_de: 6+6 layers, d 512, FFN 2048, 8 heads, a shared
  32,768-symbol vocabulary) on a batch of --tokens target tokens (default 4,096: fairseq's
  --max-tokens 4096, the WMT recipes' per-GPU batch), --length-token sentences; label-smoothed
  CE (eps 0.1), Adam. Baseline: torch.nn.Transformer of the same size with the same
  embeddings, output projection and loss (norm_first as the scheme's Pre/Post placement).
- ViT-B/16 at 224x224 on --vit-batch images (default 32: a realistic per-GPU batch), CE,
  AdamW. Baseline: timm's vit_base_patch16_224 (our ViT equals it bit for bit, docs/methods.md §8).
Printed: each model's step time, its ratio to the baseline (>1: slower), and the overhead of
each scheme over Pre-LN (the goal for sigma-reparam and Admin: <= 1.10x).
"""
from __future__ import annotations

import argparse
import gc
import math
import statistics
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from models import SCHEMES, build_model

# --model-scale paper: the sizes measured; tiny: a seconds-long smoke run of the same code
WMT_SIZES = {
    "paper": dict(size="transformer_wmt_en_de", vocab=32768, d=512, heads=8, ffn=2048, layers=6, dropout=0.1),
    "tiny": dict(size="translation_tiny", vocab=1000, d=64, heads=4, ffn=128, layers=2, dropout=0.1),
}
VIT_SIZES = {  # timm keyword arguments of the same architecture
    "paper": dict(size="vit_b16", image=224, timm=dict(img_size=224, patch_size=16, embed_dim=768, depth=12,
                                                       num_heads=12, mlp_ratio=4.0)),
    "tiny": dict(size="vit_tiny", image=32, timm=dict(img_size=32, patch_size=4, embed_dim=64, depth=2,
                                                      num_heads=4, mlp_ratio=2.0)),
}
PAD, EOS = 1, 2  # fairseq's dictionary layout (tasks.translation.dictionary)
DEFAULT_SCHEMES = ("post_ln", "pre_ln", "admin", "sigma_reparam", "sigma_reparam_pre_ln")
GOAL_BASELINE, GOAL_OVERHEAD = 1.0, 1.10


class TorchTransformer(nn.Module):
    """torch.nn.Transformer at WMT base with our embedding/output layout (tied, scaled, learned positions)."""

    def __init__(self, norm_first: bool, vocab: int, d: int, heads: int, ffn: int, layers: int, dropout: float):
        super().__init__()
        self.d, self.dropout = d, dropout
        self.embed = nn.Embedding(vocab, d, padding_idx=PAD)
        nn.init.normal_(self.embed.weight, std=d ** -0.5)
        self.pos = nn.Embedding(1026, d)
        self.net = nn.Transformer(d, heads, layers, layers, ffn, dropout, batch_first=True, norm_first=norm_first)

    def _embed(self, tokens):
        pos = torch.arange(tokens.size(1), device=tokens.device)
        return F.dropout(self.embed(tokens) * self.d ** 0.5 + self.pos(pos), self.dropout, self.training)

    def forward(self, src, prev):
        pad, t = src.eq(PAD), prev.size(1)
        enc = self.net.encoder(self._embed(src), src_key_padding_mask=pad)
        causal = torch.ones(t, t, dtype=torch.bool, device=prev.device).triu(1)
        x = self.net.decoder(self._embed(prev), enc, tgt_mask=causal, tgt_is_causal=True,
                             tgt_key_padding_mask=prev.eq(PAD), memory_key_padding_mask=pad)
        return F.linear(x, self.embed.weight)


def wmt_batch(tokens: int, length: int, vocab: int, device, seed: int = 0) -> dict:
    """tokens // length sentence pairs, lengths uniform in [7/8 length, length] (fairseq batches
    sentences of similar length), right-padded; prev = EOS + target shifted right."""
    n = max(1, tokens // length)
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(max(1, length * 7 // 8), length + 1, (n,), generator=g)
    src, tgt = torch.full((n, length), PAD), torch.full((n, length), PAD)
    for i, k in enumerate(lens.tolist()):
        src[i, :k] = torch.randint(4, vocab, (k,), generator=g)
        tgt[i, :k] = torch.randint(4, vocab, (k,), generator=g)
        src[i, k - 1] = tgt[i, k - 1] = EOS
    prev = torch.full_like(tgt, PAD)
    prev[:, 0] = EOS
    prev[:, 1:] = torch.where(tgt[:, :-1].eq(EOS), PAD, tgt[:, :-1])
    return {"src": src.to(device), "prev": prev.to(device), "tgt": tgt.to(device),
            "sentences": n, "ntokens": int(tgt.ne(PAD).sum()), "padded": n * length}


def smoothed_ce(logits, target, eps=0.1, ignore_index=PAD):
    """Label-smoothed CE summed over non-pad targets (the same for every model compared)."""
    return F.cross_entropy(logits.float().flatten(0, -2), target.flatten(), ignore_index=ignore_index,
                           label_smoothing=eps, reduction="sum")


@dataclass
class Entry:
    name: str
    scheme: str | None  # None for the baselines
    build: Callable[[], nn.Module]
    baseline: str | None = None  # the name of the entry this one is compared with
    times: list[float] = field(default_factory=list)
    model: nn.Module | None = None
    opt: torch.optim.Optimizer | None = None
    error: str | None = None
    step: Callable[[], None] | None = None


def plain_graph(model: nn.Module) -> nn.Module:
    """The sigma-reparam layers on their plain autograd graph (the formulation before the fast node)."""
    from models.sigma_reparam import SigmaReparamLinear
    for m in model.modules():
        if isinstance(m, SigmaReparamLinear):
            m.fast = False
    return model


def batched_power(model: nn.Module) -> nn.Module:
    """All power steps of the model in a few batched kernels (models.sigma_reparam_fast)."""
    from models.sigma_reparam_fast import enable_batched_power_steps
    model._power_hooks = enable_batched_power_steps(model)
    return model


def _plain_variants(entries: list[Entry], plain: bool, batched: bool = False) -> list[Entry]:
    """Each sigma-reparam entry followed by its plain-graph twin (--plain-sigma) and its
    batched-power-step twin (--batched-sigma)."""
    out = []
    for e in entries:
        out.append(e)
        if e.scheme and SCHEMES[e.scheme].sigma_reparam:
            if plain:
                out.append(Entry(f"{e.name} (plain graph)", e.scheme, (lambda b=e.build: plain_graph(b())), e.baseline))
            if batched:
                out.append(Entry(f"{e.name} (batched power)", e.scheme, (lambda b=e.build: batched_power(b())),
                                 e.baseline))
    return out


def wmt_entries(schemes, device, plain=False, scale="paper", batched=False) -> list[Entry]:
    cfg = dict(WMT_SIZES[scale])
    size = cfg.pop("size")

    def ours(scheme):
        return lambda: build_model("translation", size, encoder_scheme=scheme, decoder_scheme=scheme,
                                   src_vocab=cfg["vocab"], tgt_vocab=cfg["vocab"], share="all")
    out = [Entry(f"torch.nn.Transformer norm_first={nf}", None, (lambda nf=nf: TorchTransformer(nf, **cfg)))
           for nf in (False, True)]
    out += [Entry(s, s, ours(s), f"torch.nn.Transformer norm_first={SCHEMES[s].pre_norm}") for s in schemes]
    return _plain_variants(out, plain, batched)


def vit_entries(schemes, device, plain=False, scale="paper", batched=False) -> list[Entry]:
    from timm.models.vision_transformer import VisionTransformer  # only this family needs timm
    from models.sizes import resolve_size

    cfg = VIT_SIZES[scale]
    name = "timm vit_base_patch16_224" if scale == "paper" else "timm VisionTransformer (tiny)"

    def ref():  # vit_base_patch16_224 is this class with these arguments (timm 1.0.31)
        return VisionTransformer(num_classes=1000, drop_path_rate=resolve_size("vit", cfg["size"]).drop_path,
                                 **cfg["timm"])
    out = [Entry(name, None, ref)]
    out += [Entry(s, s, (lambda s=s: build_model("vit", cfg["size"], encoder_scheme=s, num_classes=1000)), name)
            for s in schemes]
    return _plain_variants(out, plain, batched)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_step(family: str, entry: Entry, batch: dict, device, amp: bool) -> Callable[[], None]:
    ctx = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if amp else (lambda: torch.autocast(device.type, enabled=False))

    def step():
        model, opt = entry.model, entry.opt
        with ctx():
            if family == "wmt":
                loss = smoothed_ce(model(batch["src"], batch["prev"]), batch["tgt"]) / batch["ntokens"]
            else:
                loss = F.cross_entropy(model(batch["images"]).float(), batch["labels"])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def measure(family: str, entries: list[Entry], batch: dict, device, amp: bool, repeats: int,
            deadline: float = math.inf, log=print, clock: str = "wall") -> list[Entry]:
    """Build every entry, warm each up, then time `repeats` rounds round-robin. Stops early
    (keeping what it has) at `deadline` (time.monotonic()); a failing model is reported, not fatal.

    clock "wall": elapsed time (GPU: synchronised); "cpu": this process's CPU time
    (time.process_time), which on a shared CPU counts the step's own work, not the time spent
    waiting for a core -- with one torch thread it equals the wall time of an idle machine."""
    now = time.perf_counter if clock == "wall" else time.process_time
    for e in entries:
        try:
            torch.manual_seed(0)
            e.model = e.build().to(device).train()
            e.opt = (torch.optim.Adam if family == "wmt" else torch.optim.AdamW)(e.model.parameters(), lr=1e-4)
            step = make_step(family, e, batch, device, amp)
            step()  # warm-up: allocation, kernel selection
            sync(device)
            e.step = step
        except Exception as exc:  # noqa: BLE001 -- one model failing must not lose the others
            e.error = f"{type(exc).__name__}: {exc}"[:300]
            e.model = e.opt = None
            log(f"  {e.name}: FAILED ({e.error})")
    live = [e for e in entries if e.error is None]
    for r in range(repeats):
        if time.monotonic() > deadline:
            log(f"  deadline reached after {r} of {repeats} rounds")
            break
        for e in live:
            sync(device)
            t0 = now()
            e.step()
            sync(device)
            e.times.append(now() - t0)
    return entries


def release(entries: list[Entry], device) -> None:
    for e in entries:
        e.model = e.opt = e.step = None
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def median(e: Entry) -> float:
    return statistics.median(e.times) if e.times else math.nan


def report(title: str, entries: list[Entry], units: float, unit: str, log=print, extra: Callable | None = None) -> None:
    by = {e.name: e for e in entries}
    pre = by.get("pre_ln")
    log(title)
    log(f"  {'model':<38}{'step s':>9}{'min s':>8}{'n':>3}{unit + '/s':>13}{'vs ref':>8}{'vs pre_ln':>10}"
        + (f"{'':>2}{extra.__doc__}" if extra else ""))
    for e in entries:
        if e.error or not e.times:
            log(f"  {e.name:<38}{'failed: ' + e.error if e.error else 'not timed'}")
            continue
        m = median(e)
        ref = by.get(e.baseline) if e.baseline else None
        vs_ref = f"{m / median(ref):.2f}x" if ref and ref.times else "-"
        vs_pre = f"{m / median(pre):.2f}x" if pre and pre.times and e.scheme else "-"
        log(f"  {e.name:<38}{m:>9.3f}{min(e.times):>8.3f}{len(e.times):>3}{units / m:>13.1f}{vs_ref:>8}{vs_pre:>10}"
            + (f"  {extra(e, m)}" if extra else ""))
    if pre and pre.times:
        ref = by.get(pre.baseline)
        if ref and ref.times:
            r = median(pre) / median(ref)
            log(f"  goal: Pre-LN at least as fast as the reference: step ratio {r:.2f}x "
                f"({'met' if r <= GOAL_BASELINE else 'NOT met'}; goal <= {GOAL_BASELINE:.2f}x)")
        for e in entries:
            if e.scheme and e.scheme != "pre_ln" and e.times and "plain graph" not in e.name and (e.scheme == "admin" or SCHEMES[e.scheme].sigma_reparam):
                r = median(e) / median(pre)
                log(f"  goal: {e.name} overhead over Pre-LN {r:.2f}x ({'met' if r <= GOAL_OVERHEAD else 'NOT met'};"
                    f" goal <= {GOAL_OVERHEAD:.2f}x)")


def _clock(args, device) -> str:
    clock = getattr(args, "clock", None) or \
        ("cpu" if device.type == "cpu" and torch.get_num_threads() == 1 else "wall")
    if clock == "cpu" and (device.type != "cpu" or torch.get_num_threads() != 1):
        raise SystemExit("--clock cpu needs --device cpu and one torch thread (--threads 1)")
    return clock


def run_wmt(args, device, amp, log=print, deadline=math.inf) -> list[Entry]:
    batch = wmt_batch(args.tokens, args.length, WMT_SIZES[args.model_scale]["vocab"], device)
    log(f"WMT {WMT_SIZES[args.model_scale]['size']}: {batch['sentences']} sentence pairs x {args.length} tokens = {batch['padded']} padded "
        f"target tokens ({batch['ntokens']} real), requested --tokens {args.tokens}")
    entries = measure("wmt", wmt_entries(args.schemes, device, args.plain_sigma, args.model_scale, args.batched_sigma),
                      batch, device, amp, args.repeats, deadline, log, _clock(args, device))
    report(f"WMT {WMT_SIZES[args.model_scale]['size']} training step (forward + loss + backward + Adam)", entries, batch["ntokens"], "tok", log)
    return entries


def run_vit(args, device, amp, log=print, deadline=math.inf, extra=None) -> list[Entry]:
    g = torch.Generator().manual_seed(0)
    px = VIT_SIZES[args.model_scale]["image"]
    batch = {"images": torch.randn(args.vit_batch, 3, px, px, generator=g).to(device),
             "labels": torch.randint(0, 1000, (args.vit_batch,), generator=g).to(device)}
    log(f"ViT {VIT_SIZES[args.model_scale]['size']}: batch {args.vit_batch} images of {px}x{px}")
    entries = measure("vit", vit_entries(args.schemes, device, args.plain_sigma, args.model_scale, args.batched_sigma),
                      batch, device, amp, args.repeats, deadline, log, _clock(args, device))
    report(f"ViT {VIT_SIZES[args.model_scale]['size']} training step (forward + CE + backward + AdamW)", entries, args.vit_batch, "img", log, extra)
    return entries


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--families", nargs="+", default=["wmt", "vit"], choices=["wmt", "vit"])
    ap.add_argument("--schemes", nargs="+", default=list(DEFAULT_SCHEMES), choices=sorted(SCHEMES))
    ap.add_argument("--tokens", type=int, default=4096, help="target tokens per WMT batch (recipe: 4096)")
    ap.add_argument("--length", type=int, default=32, help="WMT sentence length in tokens")
    ap.add_argument("--vit-batch", type=int, default=32, help="images per ViT batch (realistic: 32)")
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds (median reported)")
    ap.add_argument("--plain-sigma", action="store_true",
                    help="also time each sigma-reparam scheme on its plain autograd graph (before the fast node)")
    ap.add_argument("--batched-sigma", action="store_true",
                    help="also time each sigma-reparam scheme with all power steps batched per forward")
    ap.add_argument("--model-scale", default="paper", choices=("paper", "tiny"),
                    help="paper: WMT base and ViT-B/16 (the figures); tiny: a smoke run of the same code")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--keep-denormals", action="store_true",
                    help="CPU: keep IEEE denormal arithmetic (default: flush denormals to zero, see main())")
    ap.add_argument("--clock", choices=("wall", "cpu"), default=None,
                    help="step time as elapsed time or as this process's CPU time (default: cpu on a CPU with "
                         "one thread -- robust to other processes' load --, wall otherwise)")
    return ap


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.nn\.modules\.transformer")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench.side_by_side: --device cuda but no CUDA device is visible")
    if args.threads:
        torch.set_num_threads(args.threads)
    amp = device.type == "cuda"
    # x86 CPUs compute on denormal floats ~10-100x slower than on normal ones; the no-LN
    # sigma_reparam scheme's backward produces enough of them to cost +40% on WMT base at 1,024
    # tokens (measured: sigma_reparam 1.43x Pre-LN as is, 1.10x flushed). GPUs run denormals at
    # full speed, so flushing keeps the CPU figures about the schemes' arithmetic, not about this.
    flushed = device.type == "cpu" and not args.keep_denormals and torch.set_flush_denormal(True)
    if "pre_ln" not in args.schemes:
        args.schemes = ["pre_ln"] + list(args.schemes)  # the overheads' base
    if args.clock is None and device.type == "cpu" and torch.get_num_threads() != 1:
        args.clock = "wall"
    print(f"device {device} ({'bf16 autocast' if amp else 'fp32'}), {torch.get_num_threads()} threads, "
          f"{args.repeats} timed rounds round-robin, median step time ({_clock(args, device)} clock); "
          f"{'denormals flushed to zero; ' if flushed else ''}"
          f"torch {torch.__version__}", flush=True)
    for fam in args.families:
        entries = (run_wmt if fam == "wmt" else run_vit)(args, device, amp, log=lambda s: print(s, flush=True))
        release(entries, device)


if __name__ == "__main__":
    main()
