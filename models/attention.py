"""Multi-head attention: fused SDPA on ordinary steps, explicit probabilities only for probes.

Shapes: queries x (B, Tq, D), keys/values kv (B, Tk, D); heads H, head dim Dh = D // H.
Padding masks are bool with True = padding. Causal self-attention masks padded keys as well
as future ones, as fairseq's decoder does (`MultiheadAttention` gets both `attn_mask` and
`key_padding_mask`): with right padding a real query never sees a pad anyway, but a padded
query would, and Admin profiling takes variances over padded positions too (TC's rule), so
the padded rows must equal the reference's for the profiled omega to equal it.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

# How the input projections are grouped into Linear modules. The grouping matters for
# sigma-reparam, which normalises each Linear as one matrix (docs/methods.md §2.3):
#   separate: q_proj, k_proj, v_proj            (fairseq)
#   fused:    qkv_proj                          (timm ViT, Zhai 2023 vision recipe)
#   qk_v:     qk_proj, v_proj                   (Zhai 2023 speech recipe, disjoint_type=1)
GROUPINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "separate": (("q_proj", "q"), ("k_proj", "k"), ("v_proj", "v")),
    "fused": (("qkv_proj", "qkv"),),
    "qk_v": (("qk_proj", "qk"), ("v_proj", "v")),
}

# A probe receives (module, probs (B,H,Tq,Tk) fp32, key_padding_mask, query_padding_mask).
Probe = Callable[["Attention", torch.Tensor, torch.Tensor | None, torch.Tensor | None], None]


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, *, bias: bool = True, dropout: float = 0.0,
                 grouping: str = "separate", cross: bool = False, causal: bool = False):
        super().__init__()
        if dim % heads:
            raise ValueError(f"embed dim {dim} is not divisible by {heads} heads")
        if grouping not in GROUPINGS:
            raise ValueError(f"unknown attention grouping {grouping!r}; expected one of {sorted(GROUPINGS)}")
        if cross and grouping != "separate":
            raise ValueError("cross-attention takes queries and keys from different inputs: use grouping 'separate'")
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.dropout, self.cross, self.causal = dropout, cross, causal
        self.groups = GROUPINGS[grouping]
        for name, parts in self.groups:
            setattr(self, name, nn.Linear(dim, dim * len(parts), bias=bias))
        self.out_proj = nn.Linear(dim, dim, bias=bias)
        self.probe: Probe | None = None  # set only by models.probes; None costs one attribute check

    def projections(self, x: torch.Tensor, kv: torch.Tensor, only: str | None = None) -> dict[str, torch.Tensor]:
        """q, k, v as (B, H, T, Dh); `only` restricts to the groups producing those parts."""
        out: dict[str, torch.Tensor] = {}
        for name, parts in self.groups:
            if only is not None and not set(parts) & set(only):
                continue
            src = x if parts == "q" else kv
            y = getattr(self, name)(src)
            for part, chunk in zip(parts, y.chunk(len(parts), dim=-1)):
                b, t, _ = chunk.shape
                out[part] = chunk.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        return out

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None,
                query_padding_mask: torch.Tensor | None = None, cache: dict | None = None) -> torch.Tensor:
        kv = x if kv is None else kv
        if cache is not None:
            return self._incremental(x, kv, key_padding_mask, cache)
        p = self.projections(x, kv)
        q, k, v = p["q"], p["k"], p["v"]
        drop = self.dropout if self.training else 0.0
        if self.probe is None:
            mask, causal = None, self.causal
            if key_padding_mask is not None:
                mask = ~key_padding_mask[:, None, None, :]  # SDPA: True = may attend, (B,1,1,Tk)
                if causal:  # SDPA takes one mask or is_causal, not both: combine them (B,1,Tq,Tk)
                    tq, tk = q.shape[-2], k.shape[-2]
                    mask = mask & torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril()
                    causal = False
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop, is_causal=causal)
        else:
            o = self._explicit(q, k, v, key_padding_mask, query_padding_mask, drop)
        b, _, t, _ = o.shape
        return self.out_proj(o.transpose(1, 2).reshape(b, t, self.dim))

    def _incremental(self, x, kv, key_padding_mask, cache: dict) -> torch.Tensor:
        """One decoding step: x (N, 1, D) is the newest query. Self-attention appends its key
        and value to the cache; cross-attention projects the memory once and reuses it."""
        if self.cross:
            if "k" not in cache:
                cache.update(self.projections(x, kv, only="kv"))
            q = self.projections(x, kv, only="q")["q"]
        else:
            p = self.projections(x, x)
            q = p["q"]
            for part in ("k", "v"):
                cache[part] = p[part] if part not in cache else torch.cat([cache[part], p[part]], dim=2)
        mask = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
        o = F.scaled_dot_product_attention(q, cache["k"], cache["v"], attn_mask=mask)
        b, _, t, _ = o.shape
        return self.out_proj(o.transpose(1, 2).reshape(b, t, self.dim))

    def logits(self, q: torch.Tensor, k: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        """Masked attention logits q k^T / sqrt(Dh), fp32, (B, H, Tq, Tk)."""
        s = torch.matmul(q.float(), k.float().transpose(-1, -2)) / math.sqrt(self.head_dim)
        if self.causal:
            tq, tk = s.shape[-2:]
            future = torch.ones(tq, tk, dtype=torch.bool, device=s.device).triu(1)
            s = s.masked_fill(future, float("-inf"))
        if key_padding_mask is not None:
            s = s.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        return s

    def _explicit(self, q, k, v, key_padding_mask, query_padding_mask, drop):
        if self.causal and key_padding_mask is None:
            key_padding_mask = query_padding_mask  # self-attention: keys are the queries
        probs = torch.softmax(self.logits(q, k, key_padding_mask), dim=-1)  # fp32, before dropout
        if self.probe is not None:
            self.probe(self, probs, key_padding_mask, query_padding_mask)
        probs = F.dropout(probs, drop, self.training)
        return torch.matmul(probs.to(v.dtype), v)

    def weight_slices(self) -> dict[str, torch.Tensor]:
        """Current effective W_Q, W_K as (D_out=D, D_in) matrices (sigma-reparam applied)."""
        from models.sigma_reparam import effective_weight

        out: dict[str, torch.Tensor] = {}
        for name, parts in self.groups:
            w = effective_weight(getattr(self, name))
            for part, chunk in zip(parts, w.chunk(len(parts), dim=0)):
                out[part] = chunk
        return out
