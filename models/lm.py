"""Causal Transformer language model with tied input/output embeddings.

Same embedding semantics as the translation decoder (sqrt(d) scale, fairseq sinusoidal
positions). The WikiText-103 configuration has the dimensions of fairseq's
transformer_lm_wiki103 (SPEC 4.7) with a plain tied softmax over the full vocabulary: the
adaptive input and adaptive softmax of that recipe are not part of this model.
"""
from __future__ import annotations

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
        self.embed = TokenEmbedding(fairseq_embedding(vocab, size.embed_dim), size.max_positions, size.dropout)
        self.decoder = Stack(spec, scheme, size.layers, causal=True)
        init_module(self.decoder, size.init)
        if scheme.sigma_reparam:  # the tied output embedding stays a plain tied matrix (SPEC 1.7)
            reparametrise(self.decoder, size.sigma_gamma_init, size.sigma_init_std)

    def stacks(self) -> dict[str, Stack]:
        return {"decoder": self.decoder}

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T), right-padded with pad=1 -> logits (B, T, V)."""
        x = self.decoder(self.embed(tokens), pad=tokens.eq(PAD))
        return F.linear(x, self.embed.embed.weight)
