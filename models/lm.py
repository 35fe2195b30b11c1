"""Causal Transformer language model: tied full softmax, or adaptive input + adaptive softmax.

Same embedding semantics as the translation decoder (sqrt(d) scale, fairseq sinusoidal
positions, pad = 1). Two output layers:
- plain (lm_tiny, lm_small): one embedding matrix E (V, d), logits = h E^T (tied);
- adaptive (lm_wiki103 = fairseq's transformer_lm_wiki103, Baevski & Auli 2019): the vocabulary,
  sorted by frequency, is cut into bands [0, c1), [c1, c2), [c2, V) (cutoffs 20000, 60000);
  band i has an embedding of dimension d / factor^i (factor 4) and a projection to d
  (AdaptiveInput). The output is fairseq's AdaptiveSoftmax: a head over the c1 frequent words
  plus one "cluster" logit per tail band, and per tail band a two-layer map
  d -> d / factor^(i+1) -> band words, so that
      log p(w) = log softmax(head)[w]                         for w < c1,
      log p(w) = log softmax(head)[c1 + i - 1] + log softmax(tail_i)[w - c_i]   in band i >= 1.
  Tied (tie_adaptive_weights, tie_adaptive_proj): the head's word rows are the band-0 input
  embedding, tail i's output rows are band i's input embedding and its first map is band i's
  input projection transposed. fairseq applies the adaptive softmax dropout to h before the
  head and the tails, and again between the two maps of each tail.
  torch.nn.AdaptiveLogSoftmaxWithLoss computes the same function for untied weights without
  dropout (tests/test_lm_model.py checks this), but it owns its weights (no tying with the
  input) and has no dropout, so this file has its own module.
sigma-reparam converts the decoder stack only: embeddings, adaptive input/softmax and the tied
output projection stay plain (docs/methods.md §2.3).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.init import init_module, reparametrise
from models.scheme import Scheme
from models.sizes import LMSize
from models.stack import LayerSpec, Stack
from models.translation import PAD, TokenEmbedding, fairseq_embedding


class CausalLM(nn.Module):
    def __init__(self, size: LMSize, scheme: Scheme, vocab: int):
        super().__init__()
        self.size = size
        spec = LayerSpec(dim=size.embed_dim, heads=size.heads, ffn_dim=size.ffn_dim, dropout=size.dropout,
                         attn_dropout=size.attn_dropout, act_dropout=size.act_dropout)
        self.vocab = vocab
        self.adaptive_input = self.adaptive_softmax = None
        if size.adaptive_input:
            self.adaptive_input = AdaptiveInput(vocab, size.embed_dim, size.adaptive_cutoffs, size.adaptive_factor)
            self.embed = TokenEmbedding(self.adaptive_input, size.max_positions, size.dropout)
            self.embed.scale = math.sqrt(size.embed_dim)  # fairseq: embed_scale = sqrt(decoder embed dim)
        else:
            self.embed = TokenEmbedding(fairseq_embedding(vocab, size.embed_dim), size.max_positions, size.dropout)
        if size.adaptive_softmax:
            if size.tie_adaptive_weights and self.adaptive_input is None:
                raise ValueError("lm size: tie_adaptive_weights needs adaptive_input=True (or set it False)")
            self.adaptive_softmax = AdaptiveSoftmax(
                vocab, size.embed_dim, size.adaptive_cutoffs, size.adaptive_factor, size.adaptive_softmax_dropout,
                self.adaptive_input if size.tie_adaptive_weights else None, size.tie_adaptive_proj)
        elif size.adaptive_input:
            raise ValueError("lm size: adaptive_input without adaptive_softmax has no tied output layer; "
                             "set adaptive_softmax=True")
        self.decoder = Stack(spec, scheme, size.layers, causal=True)
        init_module(self.decoder, size.init)
        if scheme.sigma_reparam:  # the tied output embedding stays a plain tied matrix (docs/methods.md §2.3)
            reparametrise(self.decoder, size.sigma_gamma_init, size.sigma_init_std)

    def stacks(self) -> dict[str, Stack]:
        return {"decoder": self.decoder}

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T), right-padded with pad=1 -> last hidden states (B, T, d)."""
        return self.decoder(self.embed(tokens), pad=tokens.eq(PAD))

    def output_log_probs(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states (..., d) -> log-probabilities over the vocabulary (..., V), fp32."""
        if self.adaptive_softmax is not None:
            return self.adaptive_softmax.log_prob(h)
        return torch.log_softmax(F.linear(h, self.embed.embed.weight).float(), dim=-1)

    def target_log_probs(self, tokens: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """log p(target_t | tokens_<=t) as (B, T) fp32, without building (B, T, V) for the
        adaptive softmax (only the head and the tail bands the targets fall in)."""
        h = self.features(tokens)
        if self.adaptive_softmax is not None:
            return self.adaptive_softmax.target_log_prob(h, target)
        logits = F.linear(h, self.embed.embed.weight).float()
        return torch.log_softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)

    def forward(self, tokens: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (B, T), right-padded with pad=1 -> logits (B, T, V). With the adaptive softmax
        the full log-probabilities (a valid set of logits: log_softmax leaves them unchanged).
        With `target` (B, T): log p(target) (B, T) as target_log_probs, through forward so that a
        DistributedDataParallel wrapper sees the call (training never builds (B, T, V) then)."""
        if target is not None:
            return self.target_log_probs(tokens, target)
        h = self.features(tokens)
        if self.adaptive_softmax is not None:
            return self.adaptive_softmax.log_prob(h)
        return F.linear(h, self.embed.embed.weight)


def band_edges(vocab: int, cutoffs) -> list[int]:
    """[0, c1, ..., V]: the cutoffs below V (a cutoff >= V is dropped, so the recipe's 20000/60000
    also builds on a small generated vocabulary), then V."""
    cuts = sorted(int(c) for c in cutoffs)
    if any(c <= 0 for c in cuts) or len(set(cuts)) != len(cuts):
        raise ValueError(f"adaptive_cutoffs must be distinct positive ints, got {list(cutoffs)}")
    return [0] + [c for c in cuts if c < vocab] + [vocab]


class AdaptiveInput(nn.Module):
    """Baevski & Auli adaptive input (fairseq AdaptiveInput): band i embeds its words in
    d / factor^i dimensions and projects them to d (no bias). Init as fairseq: embeddings
    N(0, dim_i^-1/2) with the pad row zero, projections xavier_uniform."""

    def __init__(self, vocab: int, dim: int, cutoffs, factor: float):
        super().__init__()
        self.edges = band_edges(vocab, cutoffs)
        self.dim, self.embedding_dim = dim, dim
        self.embeddings = nn.ModuleList()
        self.projections = nn.ModuleList()
        for i in range(len(self.edges) - 1):
            band_dim = int(dim // factor ** i)
            emb = nn.Embedding(self.edges[i + 1] - self.edges[i], band_dim)
            nn.init.normal_(emb.weight, mean=0.0, std=band_dim ** -0.5)
            proj = nn.Linear(band_dim, dim, bias=False)
            nn.init.xavier_uniform_(proj.weight)
            self.embeddings.append(emb)
            self.projections.append(proj)
        with torch.no_grad():
            self.embeddings[0].weight[PAD].zero_()

    @property
    def weight(self) -> torch.Tensor:  # TokenEmbedding reads embedding_dim only; kept for API symmetry
        return self.embeddings[0].weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out = None
        for i, (emb, proj) in enumerate(zip(self.embeddings, self.projections)):
            lo, hi = self.edges[i], self.edges[i + 1]
            mask = (tokens >= lo) & (tokens < hi)
            y = proj(emb((tokens - lo).clamp(0, hi - lo - 1)))
            part = y * mask.unsqueeze(-1).to(y.dtype)
            out = part if out is None else out + part
        return out


class AdaptiveSoftmax(nn.Module):
    """fairseq's AdaptiveSoftmax (see the module docstring); tied to an AdaptiveInput or not."""

    def __init__(self, vocab: int, dim: int, cutoffs, factor: float, dropout: float,
                 tied: AdaptiveInput | None = None, tie_proj: bool = True):
        super().__init__()
        self.edges = band_edges(vocab, cutoffs)
        self.vocab, self.dim = vocab, dim
        n_tail = len(self.edges) - 2
        # held outside the module tree: the adaptive input owns (and registers) the shared weights
        self._tied = (tied,) if tied is not None else ()
        self.dropout = nn.Dropout(dropout)
        self.class_proj = nn.Linear(dim, n_tail, bias=False) if n_tail else None
        self.head_words = None if tied is not None else nn.Linear(dim, self.edges[1], bias=False)
        self.tail_proj, self.tail_out = nn.ModuleList(), nn.ModuleList()
        for i in range(1, n_tail + 1):
            band_dim = int(dim // factor ** i)
            self.tail_proj.append(None if tied is not None and tie_proj else nn.Linear(dim, band_dim, bias=False))
            self.tail_out.append(None if tied is not None else
                                 nn.Linear(band_dim, self.edges[i + 1] - self.edges[i], bias=False))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)

    @property
    def tied(self) -> AdaptiveInput | None:
        return self._tied[0] if self._tied else None

    # tied weights are read from the adaptive input at every call (one parameter, two uses)
    def _head(self, h: torch.Tensor) -> torch.Tensor:
        if self.tied is None:
            words = self.head_words(h)
        else:
            e0, p0 = self.tied.embeddings[0].weight, self.tied.projections[0].weight
            x = h if e0.shape[1] == self.dim else F.linear(h, p0.t())  # d -> band-0 dim
            words = F.linear(x, e0)
        if self.class_proj is None:
            return words
        return torch.cat([words, self.class_proj(h)], dim=-1)

    def _tail(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """Logits of tail band i (1-based) for hidden states h (N, d)."""
        proj = self.tail_proj[i - 1]
        x = proj(h) if proj is not None else F.linear(h, self.tied.projections[i].weight.t())
        x = self.dropout(x)
        out = self.tail_out[i - 1]
        return out(x) if out is not None else F.linear(x, self.tied.embeddings[i].weight)

    def log_prob(self, h: torch.Tensor) -> torch.Tensor:
        """(..., d) -> (..., V) fp32 log-probabilities (sum to one over the vocabulary)."""
        shape = h.shape[:-1]
        h = self.dropout(h.reshape(-1, self.dim))
        head = torch.log_softmax(self._head(h).float(), dim=-1)
        c1 = self.edges[1]
        parts = [head[:, :c1]]
        for i in range(1, len(self.edges) - 1):
            parts.append(torch.log_softmax(self._tail(i, h).float(), dim=-1) + head[:, c1 + i - 1:c1 + i])
        return torch.cat(parts, dim=-1).reshape(*shape, self.vocab)

    def target_log_prob(self, h: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """log p(target) for h (..., d), target (...) long -> (...) fp32; a tail is evaluated only
        on the positions whose target lies in its band (fairseq's adaptive_loss)."""
        shape = target.shape
        h = self.dropout(h.reshape(-1, self.dim))
        t = target.reshape(-1)
        head = torch.log_softmax(self._head(h).float(), dim=-1)
        c1 = self.edges[1]
        out = head.gather(1, t.clamp(max=c1 - 1).unsqueeze(1)).squeeze(1)
        for i in range(1, len(self.edges) - 1):
            lo, hi = self.edges[i], self.edges[i + 1]
            rows = ((t >= lo) & (t < hi)).nonzero().squeeze(1)
            if rows.numel() == 0:
                # no target in this band: still touch its own weights (zero gradient), so that
                # DistributedDataParallel finds every parameter used in every step
                own = [m.weight for m in (self.tail_proj[i - 1], self.tail_out[i - 1]) if m is not None]
                out = out + sum(0.0 * w.sum() for w in own) if own else out
                continue
            tail = torch.log_softmax(self._tail(i, h.index_select(0, rows)).float(), dim=-1)
            lp = tail.gather(1, (t.index_select(0, rows) - lo).unsqueeze(1)).squeeze(1)
            out = out.index_copy(0, rows, lp + head.index_select(0, rows)[:, c1 + i - 1])
        return out.reshape(shape)
