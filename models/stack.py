"""The one residual stack every model family uses.

A residual sublayer computes, for any scheme (flags of `models.scheme.Scheme`):

    x_out = post_norm( omega(x) + drop( f( pre_norm(x) ) ) )

  Post-LN   : pre_norm = Identity, post_norm = LayerNorm, omega = Identity
  Pre-LN    : pre_norm = LayerNorm, post_norm = Identity  (+ a final LayerNorm on the stack)
  Admin     : Post-LN with omega = a trainable vector on the skip input (Liu 2020, eq. 6)
  sigma-reparam variants: the same placements; every Linear of f is reparametrised.

The flags become modules at construction time, so `forward` never branches on a scheme.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from models.attention import Attention
from models.scheme import Scheme

# A tap receives (residual, skip = omega(x), branch = drop(f(pre_norm(x)))) on every forward
# while set; used by Admin profiling and the dependency probe. None costs one attribute check.
Tap = Callable[["Residual", torch.Tensor, torch.Tensor], None]


@dataclass(frozen=True)
class LayerSpec:
    """Everything a layer needs besides the scheme; families fill it from their size."""
    dim: int
    heads: int
    ffn_dim: int
    dropout: float = 0.0  # on each sublayer output, before the residual add
    attn_dropout: float = 0.0  # on attention probabilities
    act_dropout: float = 0.0  # after the FFN activation
    activation: str = "relu"
    bias: bool = True
    ln_eps: float = 1e-5
    grouping: str = "separate"
    layer_drop: float = 0.0  # probability of dropping a whole layer's branches (speech recipe)
    drop_path: float = 0.0  # stochastic depth per sample on each branch (DeiT recipe)


class Omega(nn.Module):
    """Admin's per-channel scale of the residual skip input, omega_i in R^d (trainable)."""

    def __init__(self, dim: int):
        super().__init__()
        self.omega = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.omega


class DropPath(nn.Module):
    """Zeroes a branch per sample with probability p in training, rescaling survivors by 1/(1-p)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)


def layer_norm(on: bool, dim: int, eps: float) -> nn.Module:
    return nn.LayerNorm(dim, eps=eps) if on else nn.Identity()


class Residual(nn.Module):
    def __init__(self, fn: nn.Module, spec: LayerSpec, scheme: Scheme, drop_path: float = 0.0):
        super().__init__()
        self.fn = fn
        self.pre_norm = layer_norm(scheme.pre_norm, spec.dim, spec.ln_eps)
        self.post_norm = layer_norm(scheme.post_norm, spec.dim, spec.ln_eps)
        self.omega = Omega(spec.dim) if scheme.admin_omega else nn.Identity()
        self.drop = nn.Sequential(nn.Dropout(spec.dropout), DropPath(drop_path))
        self.tap: Tap | None = None

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None, **kw) -> torch.Tensor:
        skip = self.omega(x)
        branch = self.drop(self.fn(self.pre_norm(x), **kw))
        if keep is not None:  # layer drop: 0/1 scalar for the whole layer
            branch = branch * keep
        if self.tap is not None:
            self.tap(self, skip, branch)
        return self.post_norm(skip + branch)


class FeedForward(nn.Module):
    """FFN(h) = act(h W1^T + b1) W2^T + b2; fc1 is Xiong's W^1, fc2 is W^2."""

    def __init__(self, spec: LayerSpec):
        super().__init__()
        self.fc1 = nn.Linear(spec.dim, spec.ffn_dim, bias=spec.bias)
        self.act = {"relu": nn.ReLU(), "gelu": nn.GELU()}[spec.activation]
        self.act_drop = nn.Dropout(spec.act_dropout)
        self.fc2 = nn.Linear(spec.ffn_dim, spec.dim, bias=spec.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act_drop(self.act(self.fc1(x))))


class SelfAttention(nn.Module):
    def __init__(self, spec: LayerSpec, causal: bool):
        super().__init__()
        self.attn = Attention(spec.dim, spec.heads, bias=spec.bias, dropout=spec.attn_dropout,
                              grouping=spec.grouping, causal=causal)

    def forward(self, x, pad=None, cache=None):
        return self.attn(x, key_padding_mask=pad, query_padding_mask=pad, cache=cache)


class CrossAttention(nn.Module):
    def __init__(self, spec: LayerSpec):
        super().__init__()
        self.attn = Attention(spec.dim, spec.heads, bias=spec.bias, dropout=spec.attn_dropout, cross=True)

    def forward(self, x, memory=None, memory_pad=None, pad=None, cache=None):
        return self.attn(x, memory, key_padding_mask=memory_pad, query_padding_mask=pad, cache=cache)


class Layer(nn.Module):
    """Self-attention (+ cross-attention when `cross`) + FFN, each a Residual sublayer."""

    def __init__(self, spec: LayerSpec, scheme: Scheme, *, causal: bool = False, cross: bool = False,
                 drop_path: float = 0.0):
        super().__init__()
        self.self_attn = Residual(SelfAttention(spec, causal), spec, scheme, drop_path)
        self.cross_attn = Residual(CrossAttention(spec), spec, scheme, drop_path) if cross else None
        self.ffn = Residual(FeedForward(spec), spec, scheme, drop_path)
        self.layer_drop = spec.layer_drop

    def sublayers(self) -> list[Residual]:
        return [r for r in (self.self_attn, self.cross_attn, self.ffn) if r is not None]

    def forward(self, x, pad=None, memory=None, memory_pad=None):
        keep = None
        if self.training and self.layer_drop > 0:
            keep = (torch.rand((), device=x.device) >= self.layer_drop).to(x.dtype)
        x = self.self_attn(x, keep, pad=pad)
        if self.cross_attn is not None:
            x = self.cross_attn(x, keep, memory=memory, memory_pad=memory_pad, pad=pad)
        return self.ffn(x, keep)

    def step(self, x, memory, memory_pad, cache: dict):
        """Incremental decoding of one position (eval mode); `cache` holds this layer's keys/values."""
        x = self.self_attn(x, cache=cache.setdefault("self", {}))
        if self.cross_attn is not None:
            x = self.cross_attn(x, memory=memory, memory_pad=memory_pad, cache=cache.setdefault("cross", {}))
        return self.ffn(x)


class Stack(nn.Module):
    """N layers under one scheme; a final LayerNorm when the scheme asks for one (Pre-LN)."""

    def __init__(self, spec: LayerSpec, scheme: Scheme, layers: int, *, causal: bool = False,
                 cross: bool = False):
        super().__init__()
        self.scheme = scheme
        # DeiT/timm: stochastic depth grows linearly from 0 to drop_path over the layers.
        rates = [spec.drop_path * i / max(layers - 1, 1) for i in range(layers)]
        self.layers = nn.ModuleList(
            Layer(spec, scheme, causal=causal, cross=cross, drop_path=r) for r in rates)
        self.final_norm = layer_norm(scheme.final_norm, spec.dim, spec.ln_eps)
        # Per-channel input scale; ones except after `models.admin.fold_admin` moved the first
        # sublayer's omega here (a fixed buffer, not a parameter).
        self.register_buffer("input_scale", torch.ones(spec.dim))

    def sublayers(self) -> list[Residual]:
        return [r for layer in self.layers for r in layer.sublayers()]

    def forward(self, x, pad=None, memory=None, memory_pad=None):
        x = x * self.input_scale
        for layer in self.layers:
            x = layer(x, pad=pad, memory=memory, memory_pad=memory_pad)
        return self.final_norm(x)

    def step(self, x, memory, memory_pad, state: dict):
        """x (N, 1, D): the newest position; `state` maps layer index -> that layer's cache."""
        x = x * self.input_scale
        for i, layer in enumerate(self.layers):
            x = layer.step(x, memory, memory_pad, state.setdefault(i, {}))
        return self.final_norm(x)
