"""Training-dynamics probes. Off by default; when off they cost one attribute check per module.

Each probe is a function called at initialisation or every N training steps:
  attention_entropy   per layer and head, natural log, fp32, padded keys masked, padded queries
                      excluded (Zhai 2023 Sec. 3; docs/methods.md §4.1)
  spectral_norms      ||W||_2 of every weight matrix (effective W_hat for sigma-reparam layers)
  qk_spectral_norms   ||W_Q^h W_K^h^T||_2 per head, the sigma of Theorem 3.1 (docs/methods.md §4.2)
  grad_norms / update_norms   per-parameter norms (Liu 2020 Fig. 5 takes them relative to the max)
  omega_stats         Admin omega per sublayer
  residual_dependency beta_{i,j} of Liu 2020 Sec. 4
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable

import torch
from torch import nn

from models.attention import Attention
from models.entropy import attention_entropy as _entropy
from models.sigma_reparam import SIGMA_REPARAM_LAYERS, effective_weight
from models.stack import Omega, Residual


def attention_modules(model: nn.Module) -> dict[str, Attention]:
    """Attention modules by a readable layer name, e.g. 'encoder.3.self_attn'."""
    out = {}
    for stack_name, stack in model.stacks().items():
        for i, layer in enumerate(stack.layers):
            for kind in ("self_attn", "cross_attn"):
                res = getattr(layer, kind)
                if res is not None:
                    out[f"{stack_name}.{i}.{kind}"] = res.fn.attn
    return out


@contextmanager
def _probing(modules: dict[str, Attention], make_probe):
    for name, m in modules.items():
        m.probe = make_probe(name)
    try:
        yield
    finally:
        for m in modules.values():
            m.probe = None


def attention_entropy(model: nn.Module, run_forward: Callable[[], object]) -> dict[str, torch.Tensor]:
    """Run `run_forward()` once (no grad) and return {layer: entropy per head (H,)}."""
    modules = attention_modules(model)
    result: dict[str, torch.Tensor] = {}

    def make_probe(name):
        def probe(attn, probs, key_pad, query_pad):
            result[name] = _entropy(probs, key_pad, query_pad).detach().cpu()
        return probe

    with _probing(modules, make_probe), torch.no_grad():
        run_forward()
    return result


def _matrix(module: nn.Module) -> torch.Tensor | None:
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d) + SIGMA_REPARAM_LAYERS):
        w = effective_weight(module)
        return w.reshape(w.shape[0], -1)
    return None


@torch.no_grad()
def spectral_norms(model: nn.Module) -> dict[str, float]:
    """{module name: spectral norm of its (effective) weight matrix}; one SVD each, probe steps only."""
    out = {}
    for name, module in model.named_modules():
        w = _matrix(module)
        if w is not None:
            out[name] = torch.linalg.matrix_norm(w.float(), ord=2).item()
    return out


@torch.no_grad()
def qk_spectral_norms(model: nn.Module) -> dict[str, torch.Tensor]:
    """{layer: (H,) spectral norms of W_Q^h W_K^h^T} with W^h the head's (Dh, D) rows.

    ||A^T B||_2 for A, B of shape (Dh, D) equals ||R_A R_B^T||_2 with A^T = Q_A R_A^T (QR),
    a Dh x Dh problem instead of D x D.
    """
    out = {}
    for name, attn in attention_modules(model).items():
        w = attn.weight_slices()
        q = w["q"].float().reshape(attn.heads, attn.head_dim, -1)  # (H, Dh, D)
        k = w["k"].float().reshape(attn.heads, attn.head_dim, -1)
        rq = torch.linalg.qr(q.transpose(1, 2)).R  # (H, Dh, Dh)
        rk = torch.linalg.qr(k.transpose(1, 2)).R
        out[name] = torch.linalg.matrix_norm(rq @ rk.transpose(1, 2), ord=2).cpu()
    return out


@torch.no_grad()
def grad_norms(model: nn.Module) -> dict[str, float]:
    norms = {n: p.grad.detach().float().norm() for n, p in model.named_parameters() if p.grad is not None}
    values = torch.stack(list(norms.values())).tolist() if norms else []  # one host sync
    return dict(zip(norms, values))


@torch.no_grad()
def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@torch.no_grad()
def update_norms(before: dict[str, torch.Tensor], model: nn.Module) -> dict[str, float]:
    norms = {n: (p.detach() - before[n]).float().norm() for n, p in model.named_parameters() if n in before}
    values = torch.stack(list(norms.values())).tolist() if norms else []
    return dict(zip(norms, values))


@torch.no_grad()
def omega_stats(model: nn.Module) -> dict[str, dict[str, float]]:
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, Omega):
            w = m.omega.float()
            out[name] = {"mean": w.mean().item(), "std": w.std().item() if w.numel() > 1 else 0.0,
                         "min": w.min().item(), "max": w.max().item()}
    return out


def residual_dependency(model: nn.Module, run_forward: Callable[[], object]) -> dict[str, torch.Tensor]:
    """beta_{i,j} per stack (Liu 2020 Sec. 4), an (N, N+1) matrix over sublayers i = 1..N and
    branches j = 0..N, where branch 0 is the stack input (embeddings).

    The residual stream is tracked as a linear combination of the branch outputs a_j,
    treating each post-norm LayerNorm as division by the std of its input S_i and Admin's
    omega by its mean:  x_i = (omega_i x_{i-1} + a_i) / S_i  (S_i = 1 without post-norm).
    With independent branches (the paper's assumption)
        beta_{i,j} = c_{i,j} Std[a_j] / sqrt(sum_k c_{i,k}^2 Var[a_k]),  sum_j beta_{i,j}^2 = 1.
    For Pre-LN this is Std[a_j] / Std[sum_{k<=i} a_k] as in the paper.
    """
    stats: dict[str, list[tuple[float, float, float, float]]] = {}
    taps = []
    for stack_name, stack in model.stacks().items():
        stats[stack_name] = []
        for res in stack.sublayers():
            res.tap = _dependency_tap(stats[stack_name])
            taps.append(res)
    try:
        with torch.no_grad():
            run_forward()
    finally:
        for res in taps:
            res.tap = None
    return {name: _beta(rows) for name, rows in stats.items() if rows}


def _dependency_tap(rows: list):
    def tap(res: Residual, skip: torch.Tensor, branch: torch.Tensor):
        omega = res.omega.omega.float().mean().item() if isinstance(res.omega, Omega) else 1.0
        x_prev = skip.float() / omega
        normed = isinstance(res.post_norm, nn.LayerNorm)
        s = (skip.float() + branch.float()).std().item() if normed else 1.0
        rows.append((x_prev.std().item(), branch.float().std().item(), omega, s))
    return tap


def _beta(rows: list[tuple[float, float, float, float]]) -> torch.Tensor:
    n = len(rows)
    std = torch.tensor([rows[0][0]] + [r[1] for r in rows], dtype=torch.float64)  # Std[a_0..a_N]
    coef = torch.zeros(n + 1, dtype=torch.float64)
    coef[0] = 1.0
    beta = torch.zeros(n, n + 1, dtype=torch.float64)
    for i, (_, _, omega, s) in enumerate(rows, start=1):
        coef = coef * omega / s
        coef[i] = 1.0 / s
        contrib = coef * std
        beta[i - 1] = contrib / math.sqrt(float((contrib ** 2).sum()))
    return beta
