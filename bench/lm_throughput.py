"""Training throughput of the lm family per scheme, beside torch.nn.TransformerEncoder (causal mask).

    python -m bench.lm_throughput                                  # lm_small-sized, CPU, small batch
    python -m bench.lm_throughput --device cuda --size lm_wiki103 --tokens 3072 --batch 2
    python -m bench.lm_throughput --size lm_tiny --layers 16 --schemes pre_ln sigma_reparam

One training step = forward, -sum log p(target), backward, optimizer step (Adam), in bf16
autocast on CUDA. Tokens/s counts target tokens. The reference is a plain PyTorch model of the
same size: nn.Embedding (sqrt(d) scale) + the same sinusoidal positions, nn.TransformerEncoder
(ReLU FFN, norm_first for the pre-norm schemes, a final LayerNorm for those, as ours) with a
causal mask (is_causal, the fused kernels' path), and the same kind of output layer (tied full
softmax, or torch's AdaptiveLogSoftmaxWithLoss when the size is adaptive). Differences in speed
are then the schemes' own costs (sigma-reparam's power iteration, Admin's omega) and our stack's.
"""
from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from models import build_model
from models.lm import band_edges
from models.sizes import resolve_size
from models.translation import sinusoidal_table

SCHEMES = ("post_ln", "pre_ln", "admin", "sigma_reparam", "sigma_reparam_pre_ln")


class TorchCausalLM(nn.Module):
    """The reference: torch's own encoder stack with a causal mask, at the size of an LMSize."""

    def __init__(self, size, vocab: int, pre_norm: bool):
        super().__init__()
        d = size.embed_dim
        self.embed = nn.Embedding(vocab, d, padding_idx=1)
        self.register_buffer("pe", sinusoidal_table(size.max_positions + 2, d), persistent=False)
        layer = nn.TransformerEncoderLayer(d, size.heads, size.ffn_dim, size.dropout, batch_first=True,
                                           norm_first=pre_norm)
        self.stack = nn.TransformerEncoder(layer, size.layers, norm=nn.LayerNorm(d) if pre_norm else None,
                                           enable_nested_tensor=False)
        self.scale = math.sqrt(d)
        self.adaptive = None
        if size.adaptive_softmax:
            cuts = band_edges(vocab, size.adaptive_cutoffs)[1:-1]
            if cuts:
                self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(d, vocab, cuts, div_value=size.adaptive_factor)

    def target_log_probs(self, tokens: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        x = self.scale * self.embed(tokens) + self.pe[2:t + 2]
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=tokens.device)
        h = self.stack(x, mask=mask, is_causal=True)
        if self.adaptive is not None:
            return self.adaptive(h.reshape(-1, h.shape[-1]).float(), target.reshape(-1)).output.view_as(target)
        logits = F.linear(h, self.embed.weight).float()
        return torch.log_softmax(logits, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)


def measure(model: nn.Module, batch: int, tokens: int, vocab: int, steps: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    src = torch.randint(4, vocab, (batch, tokens), device=device)
    tgt = torch.randint(4, vocab, (batch, tokens), device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step():
        with amp:
            loss = -model.target_log_probs(src, tgt).sum()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(2):  # warm-up: allocator, kernels, sigma-reparam's first power iteration
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    mem = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")
    return {"ms_per_step": 1000 * dt, "tokens_per_s": batch * tokens / dt, "peak_mem_mb": mem}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="lm_small", help="an lm size of models.sizes (lm_tiny, lm_small, lm_wiki103)")
    ap.add_argument("--layers", type=int, default=None, help="override the size's depth")
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=256, help="tokens per sample")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--schemes", nargs="+", default=list(SCHEMES))
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    over = {"layers": args.layers} if args.layers else {}
    over["max_positions"] = max(args.tokens, resolve_size("lm", args.size).max_positions)
    size = resolve_size("lm", args.size, **over)
    print(f"# {args.size}: {size.layers} layers, d {size.embed_dim}, FFN {size.ffn_dim}, {size.heads} heads, "
          f"adaptive {size.adaptive_softmax}; vocab {args.vocab}; batch {args.batch} x {args.tokens} tokens; "
          f"{args.device}{' bf16' if device.type == 'cuda' else ' fp32'}; {args.steps} timed steps")
    print(f"{'model':<32}{'tokens/s':>12}{'ms/step':>10}{'peak MB':>10}{'vs torch':>10}")
    refs = {}
    for pre in (False, True):
        torch.manual_seed(0)
        ref = TorchCausalLM(size, args.vocab, pre).to(device).train()
        refs[pre] = measure(ref, args.batch, args.tokens, args.vocab, args.steps, device)
        r = refs[pre]
        print(f"{'torch TransformerEncoder ' + ('pre' if pre else 'post'):<32}{r['tokens_per_s']:>12.0f}"
              f"{r['ms_per_step']:>10.1f}{r['peak_mem_mb']:>10.0f}{1.0:>10.2f}")
        del ref
    for scheme in args.schemes:
        torch.manual_seed(0)
        model = build_model("lm", args.size, encoder_scheme=scheme, vocab=args.vocab, **over).to(device).train()
        r = measure(model, args.batch, args.tokens, args.vocab, args.steps, device)
        ref = refs[model.decoder.scheme.pre_norm]
        print(f"{'lm ' + scheme:<32}{r['tokens_per_s']:>12.0f}{r['ms_per_step']:>10.1f}{r['peak_mem_mb']:>10.0f}"
              f"{r['tokens_per_s'] / ref['tokens_per_s']:>10.2f}")
        del model


if __name__ == "__main__":
    main()
