"""Batched beam search over `model.encode` / `model.decode`, following fairseq's SequenceGenerator.

Rules kept from fairseq (docs/recipes.md §3.3, §5):
- decoding starts from eos (the decoder input convention); pad is never generated;
- max length = min(int(max_len_a * S + max_len_b), max_positions - 1), S = the padded source
  length of the batch (fairseq uses src_tokens.size(1)); at step max_len only eos is allowed;
  eos is forbidden before min_len (1) tokens;
- each step ranks 2*beam candidates per sentence; an eos candidate among the top `beam`
  finalises that hypothesis with score sum(log p) / (step + 1) ** lenpen (step + 1 tokens
  including eos), the best `beam` non-eos candidates continue;
- a sentence stops once it has `beam` finalised hypotheses; the best by normalised score wins.
beam = 1 is greedy decoding. Finished sentences leave the batch.

Decoder cost: with the plain TranslationModel API (docs/ARCHITECTURE.md) every step re-decodes
the whole prefix, O(T^2) positions per sentence (and the output projection of every position).
A model that also offers fairseq-style incremental decoding is used step by step instead:
    model.decode_incremental(last_tokens (N,1), enc, enc_pad, state: dict) -> logits (N,1,V)
        (the model keeps its per-layer key/value caches and the position count in `state`)
    model.reorder_incremental_state(state, rows (N',) long)   (keep/reorder cached rows)
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from tasks.translation.dictionary import EOS, PAD


def max_length(src_len: int, max_len_a: float, max_len_b: int, max_positions: int) -> int:
    return min(int(max_len_a * src_len + max_len_b), max_positions - 1)


def _step_lprobs(model, tokens: torch.Tensor, enc, enc_pad, state, step: int, max_len: int, min_len: int):
    """(N, V) float32 log-probabilities of the next token, with fairseq's masks."""
    if state is not None:
        logits = model.decode_incremental(tokens[:, -1:], enc, enc_pad, state)[:, -1]
    else:
        logits = model.decode(tokens, enc, enc_pad)[:, -1]
    lprobs = F.log_softmax(logits.float(), dim=-1)
    lprobs = lprobs.masked_fill(lprobs.isnan(), -math.inf)  # as fairseq: a NaN row never wins
    lprobs[:, PAD] = -math.inf
    if step >= max_len:  # only eos is allowed at the last step
        eos_col = lprobs[:, EOS].clone()
        lprobs.fill_(-math.inf)
        lprobs[:, EOS] = eos_col
    if step < min_len:
        lprobs[:, EOS] = -math.inf
    return lprobs


@torch.no_grad()
def generate(model, src_tokens: torch.Tensor, beam: int = 5, lenpen: float = 1.0,
             max_len_a: float = 0.0, max_len_b: int = 200, min_len: int = 1,
             max_positions: int = 1024) -> list[list[int]]:
    """Best hypothesis (token ids without eos) for each row of src_tokens (B,S)."""
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    bsz, src_len = src_tokens.shape
    max_len = max_length(src_len, max_len_a, max_len_b, max_positions)
    enc, enc_pad = model.encode(src_tokens)
    enc, enc_pad = enc.repeat_interleave(beam, 0), enc_pad.repeat_interleave(beam, 0)  # (B*beam, S, D)
    tokens = torch.full((bsz * beam, 1), EOS, dtype=torch.long, device=src_tokens.device)
    scores = torch.zeros(bsz * beam, device=src_tokens.device)  # cumulative log-prob per live beam
    active = list(range(bsz))  # sentence id of each row block in the current batch
    finalized: list[list[tuple[float, list[int]]]] = [[] for _ in range(bsz)]
    state = {} if hasattr(model, "decode_incremental") else None
    for step in range(max_len + 1):
        n = len(active)
        lprobs = _step_lprobs(model, tokens, enc, enc_pad, state, step, max_len, min_len)
        vocab = lprobs.size(1)
        cand = (scores.unsqueeze(1) + lprobs).view(n, beam, vocab)
        if step == 0:  # all beams are the same prefix: expand from the first one only
            cand[:, 1:] = -math.inf
        top_scores, top_idx = cand.view(n, -1).topk(min(2 * beam, beam * vocab), dim=1)  # (n, 2*beam)
        beam_idx, tok = top_idx // vocab, top_idx % vocab
        _finalize(finalized, active, tokens, top_scores, beam_idx, tok, beam, step, lenpen)
        done = [len(finalized[sid]) >= beam for sid in active]
        if all(done) or step == max_len:
            break
        rows, tokens, scores = _advance(tokens, top_scores, beam_idx, tok, beam)
        if any(done):  # drop finished sentences from the batch
            row_keep = torch.tensor([not d for d in done], device=tokens.device).repeat_interleave(beam)
            tokens, scores, rows = tokens[row_keep], scores[row_keep], rows[row_keep]
            enc, enc_pad = enc[row_keep], enc_pad[row_keep]
            active = [sid for sid, d in zip(active, done) if not d]
        if state is not None:
            model.reorder_incremental_state(state, rows)
    return [_best(f) for f in finalized]


def _advance(tokens, top_scores, beam_idx, tok, beam: int):
    """The best `beam` non-eos candidates of each sentence continue: (rows of `tokens` they
    extend (n*beam,), extended tokens (n*beam, t+1), their cumulative scores (n*beam,))."""
    n = top_scores.size(0)
    masked = top_scores.masked_fill(tok.eq(EOS), -math.inf)
    keep_scores, pick = masked.topk(beam, dim=1)  # (n, beam), still in score order
    rows = (torch.arange(n, device=tokens.device).unsqueeze(1) * beam + beam_idx.gather(1, pick)).view(-1)
    tokens = torch.cat([tokens[rows], tok.gather(1, pick).view(-1, 1)], dim=1)
    return rows, tokens, keep_scores.view(-1)


def _finalize(finalized, active, tokens, top_scores, beam_idx, tok, beam: int, step: int,
              lenpen: float) -> None:
    """Record eos candidates ranked within the top `beam` of their sentence."""
    eos_hits = tok[:, :beam].eq(EOS) & torch.isfinite(top_scores[:, :beam])
    if not bool(eos_hits.any()):
        return
    for i, rank in eos_hits.nonzero().tolist():
        sid = active[i]
        if len(finalized[sid]) >= beam:
            continue
        row = i * beam + int(beam_idx[i, rank])
        score = float(top_scores[i, rank]) / (step + 1) ** lenpen
        finalized[sid].append((score, tokens[row, 1:].tolist()))


def _best(hyps: Sequence[tuple[float, list[int]]]) -> list[int]:
    if not hyps:
        return []
    best = max(range(len(hyps)), key=lambda k: (hyps[k][0], -k))  # ties: the first finalised
    return hyps[best][1]
