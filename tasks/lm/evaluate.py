"""Perplexity as fairseq-eval-lm computes it, with a context window.

fairseq-eval-lm --tokens-per-sample T --context-window C (C < T) cuts the stream into blocks of
T - C tokens (it lowers tokens_per_sample by C before building the blocks) and prepends to each
block up to C tokens that precede it (LMContextWindowDataset), so every scored token sees at
least min(C, its position) earlier tokens, and at most C + T - C - 1; only the block's own tokens
are scored, each once. C = 0 is plain block evaluation (what validation during training does).
For transformer_lm_wiki103 the documented call is T = 3072, C = 2560 (512 new tokens a window);
we take that as the default for wiki103 but have not verified it against the paper's numbers [U].

Units: the sum of -ln p over all scored tokens (every line's `</s>` included, as fairseq counts
them), divided by their number = loss in nats; perplexity = exp(nats). fairseq prints the loss in
base 2 (nll / ln 2) and perplexity = 2^bits, the same perplexity; `bits` is reported beside `nats`
so a logged fairseq loss compares directly: bits = nats / ln 2.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

from common.tokens import EOS, PAD


def window_spans(n_tokens: int, tokens_per_sample: int, context_window: int) -> list[tuple[int, int, int]]:
    """[(context_start, block_start, block_end)] covering [0, n_tokens) once with scored blocks."""
    if not 0 <= context_window < tokens_per_sample:
        raise ValueError(f"context_window must lie in [0, tokens_per_sample={tokens_per_sample}), "
                         f"got {context_window}")
    step = tokens_per_sample - context_window
    return [(max(0, s - context_window), s, min(s + step, n_tokens)) for s in range(0, n_tokens, step)]


def window_arrays(tokens: np.ndarray, ctx: int, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) over [ctx, end): source is the stream shifted right by one (eos before the
    first token of the stream); target is pad on the context part, which is not scored."""
    target = np.asarray(tokens[ctx:end], dtype=np.int64).copy()
    prev = np.asarray(tokens[max(ctx - 1, 0):end - 1], dtype=np.int64)
    source = np.concatenate([[EOS], prev]) if ctx == 0 else prev
    target[:start - ctx] = PAD
    return source, target


def batches(tokens: np.ndarray, tokens_per_sample: int, context_window: int,
            max_tokens: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(source (B, L), target (B, L)) right-padded with pad; B windows fit in max_tokens."""
    spans = window_spans(len(tokens), tokens_per_sample, context_window)
    per_batch = max(1, max_tokens // tokens_per_sample)
    for i in range(0, len(spans), per_batch):
        pairs = [window_arrays(tokens, *span) for span in spans[i:i + per_batch]]
        width = max(len(s) for s, _ in pairs)
        src = np.full((len(pairs), width), PAD, dtype=np.int64)
        tgt = np.full((len(pairs), width), PAD, dtype=np.int64)
        for r, (s, t) in enumerate(pairs):
            src[r, :len(s)], tgt[r, :len(t)] = s, t
        yield torch.from_numpy(src), torch.from_numpy(tgt)


def target_log_probs(model, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log p(target | source) (B, L) fp32 from a CausalLM (target_log_probs) or any model whose
    forward gives logits (B, L, V)."""
    fn = getattr(model, "target_log_probs", None)
    if fn is not None:
        return fn(source, target)
    logits = model(source).float()
    return torch.log_softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def evaluate_stream(model, tokens: np.ndarray, tokens_per_sample: int, context_window: int = 0,
                    max_tokens: int = 0, device: torch.device | None = None) -> dict:
    """{"nats", "bits", "ppl", "tokens", "nll_sum"} of the stream under `model` (in eval mode)."""
    if len(tokens) == 0:
        raise ValueError("cannot evaluate an empty token stream")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    nll = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for src, tgt in batches(tokens, tokens_per_sample, context_window, max_tokens or tokens_per_sample):
        src, tgt = src.to(device), tgt.to(device)
        lp = target_log_probs(model, src, tgt)
        keep = tgt.ne(PAD)
        nll -= (lp.double() * keep).sum()
        count += int(keep.sum())
    model.train(was_training)
    nll_sum = float(nll)
    nats = nll_sum / count
    return {"nats": nats, "bits": nats / math.log(2), "ppl": math.exp(min(nats, 700.0)), "tokens": count,
            "nll_sum": nll_sum}
