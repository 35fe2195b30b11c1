"""Encoder-decoder translation model with fairseq semantics (docs/methods.md §5).

Tokens: pad = 1, eos = 2 (fairseq dictionary). Inputs are right-padded.
  x = sqrt(d) * E[tokens] + PE(positions), then dropout; PE is fairseq's sinusoid:
  [sin(p f) | cos(p f)] concatenated, f_k = exp(-k ln(10000) / (d/2 - 1)), positions
  counted over non-pad tokens starting at pad + 1; pad positions get the zero vector.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from common.tokens import EOS, PAD  # fairseq ids
from models.init import init_module, reparametrise
from models.scheme import Scheme
from models.sizes import TranslationSize
from models.stack import LayerSpec, Stack


SHARE_MODES = ("all", "decoder", "none")


def sinusoidal_table(num: int, dim: int, pad: int = PAD) -> torch.Tensor:
    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float) * -(math.log(10000.0) / (half - 1)))
    angles = torch.arange(num, dtype=torch.float)[:, None] * freq[None, :]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(num, 1)], dim=1)
    table[pad] = 0.0
    return table


def make_positions(tokens: torch.Tensor, pad: int = PAD) -> torch.Tensor:
    """Position ids (B, T): pad + 1, pad + 2, ... over non-pad tokens; pad tokens get `pad`."""
    mask = tokens.ne(pad).long()
    return torch.cumsum(mask, dim=1) * mask + pad


class TokenEmbedding(nn.Module):
    """sqrt(d)-scaled token embedding plus fixed sinusoidal positions, then dropout."""

    def __init__(self, embed: nn.Embedding, max_positions: int, dropout: float):
        super().__init__()
        self.embed = embed
        self.scale = math.sqrt(embed.embedding_dim)
        self.register_buffer("pe", sinusoidal_table(max_positions + PAD + 1, embed.embedding_dim), persistent=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pos = make_positions(tokens)
        if pos.max() >= self.pe.shape[0]:
            raise ValueError(f"sequence of {tokens.shape[1]} tokens exceeds max_positions={self.pe.shape[0] - PAD - 1}")
        return self.dropout(self.scale * self.embed(tokens) + self.pe[pos])


def fairseq_embedding(vocab: int, dim: int) -> nn.Embedding:
    emb = nn.Embedding(vocab, dim, padding_idx=PAD)
    nn.init.normal_(emb.weight, mean=0.0, std=dim ** -0.5)
    with torch.no_grad():
        emb.weight[PAD].zero_()
    return emb


class TranslationModel(nn.Module):
    def __init__(self, size: TranslationSize, encoder_scheme: Scheme, decoder_scheme: Scheme,
                 src_vocab: int, tgt_vocab: int, share: str = "all"):
        super().__init__()
        if share not in SHARE_MODES:
            raise ValueError(f"unknown share mode {share!r}; expected one of {SHARE_MODES}")
        if share == "all" and src_vocab != tgt_vocab:
            raise ValueError(f"share='all' needs a joined dictionary; got vocab sizes {src_vocab} and {tgt_vocab}")
        self.size, self.share = size, share
        d = size.embed_dim
        spec = LayerSpec(dim=d, heads=size.heads, ffn_dim=size.ffn_dim, dropout=size.dropout,
                         attn_dropout=size.attn_dropout, act_dropout=size.act_dropout)
        src_emb = fairseq_embedding(src_vocab, d)
        tgt_emb = src_emb if share == "all" else fairseq_embedding(tgt_vocab, d)
        self.encoder_embed = TokenEmbedding(src_emb, size.max_positions, size.dropout)
        self.decoder_embed = TokenEmbedding(tgt_emb, size.max_positions, size.dropout)
        self.encoder = Stack(spec, encoder_scheme, size.encoder_layers)
        self.decoder = Stack(spec, decoder_scheme, size.decoder_layers, causal=True, cross=True)
        self.output_projection = None
        if share == "none":
            self.output_projection = nn.Linear(d, tgt_vocab, bias=False)
            nn.init.normal_(self.output_projection.weight, std=d ** -0.5)
        for stack in (self.encoder, self.decoder):
            init_module(stack, size.init)
        for stack in (self.encoder, self.decoder):  # after every init: conversion may draw random numbers
            if stack.scheme.sigma_reparam:
                reparametrise(stack, size.sigma_gamma_init, size.sigma_init_std)

    def stacks(self) -> dict[str, Stack]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def encode(self, src_tokens: torch.Tensor):
        pad = src_tokens.eq(PAD)
        return self.encoder(self.encoder_embed(src_tokens), pad=pad), pad

    def decode(self, prev_output_tokens, enc, enc_pad):
        pad = prev_output_tokens.eq(PAD)
        x = self.decoder(self.decoder_embed(prev_output_tokens), pad=pad, memory=enc, memory_pad=enc_pad)
        if self.output_projection is not None:
            return self.output_projection(x)
        return F.linear(x, self.decoder_embed.embed.weight)  # tied output embedding

    def decode_incremental(self, last_tokens, enc, enc_pad, state: dict) -> torch.Tensor:
        """Decode one new position (eval mode): last_tokens (N, 1) -> logits (N, 1, V).

        `state` keeps every decoder layer's key/value cache and the number of positions
        decoded so far (prefixes in beam search hold no padding, so position = PAD + 1 + step).
        """
        step = state.get("step", 0)
        emb = self.decoder_embed
        x = emb.dropout(emb.scale * emb.embed(last_tokens) + emb.pe[PAD + 1 + step])
        x = self.decoder.step(x, enc, enc_pad, state.setdefault("layers", {}))
        state["step"] = step + 1
        if self.output_projection is not None:
            return self.output_projection(x)
        return F.linear(x, emb.embed.weight)

    @staticmethod
    def reorder_incremental_state(state: dict, rows: torch.Tensor) -> None:
        """Keep/reorder the cached rows (beam search), rows (N',) long."""
        for layer in state.get("layers", {}).values():
            for cache in layer.values():
                for key, t in cache.items():
                    cache[key] = t.index_select(0, rows)

    def forward(self, src_tokens: torch.Tensor, prev_output_tokens: torch.Tensor) -> torch.Tensor:
        enc, enc_pad = self.encode(src_tokens)
        return self.decode(prev_output_tokens, enc, enc_pad)
