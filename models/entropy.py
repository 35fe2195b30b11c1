"""Attention entropy (Zhai et al. 2023, docs/methods.md §4.1) and its lower bound (Theorem 3.1, docs/methods.md §4.2).

Pure functions in fp32/fp64, no modules. `models.probes` calls `attention_entropy` on the
explicit attention probabilities of a probe step; the studies use the bound to compare the
measured entropy with what the logits' spectral scale allows.
"""
from __future__ import annotations

import math

import torch


def attention_entropy(probs: torch.Tensor, key_padding_mask: torch.Tensor | None = None,
                      query_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean attention entropy per head, in nats: Ent(A_i) = -sum_j A_ij log A_ij.

    probs: (B, H, Tq, Tk) softmax probabilities (before attention dropout).
    key_padding_mask: (B, Tk) bool, True = padded key. Entries at padded keys are ignored
        (a correctly masked attention gives them probability 0 anyway).
    query_padding_mask: (B, Tq) bool, True = padded query; those rows are left out of the mean.
    Returns (H,) fp32: the mean over batch and valid queries of each head's row entropy
    (NaN for a head only if no query is valid).

    0 * log 0 counts as 0 exactly (torch.xlogy), so one-hot rows and causal masks need no
    fudge. Differences from the reference speech code (SR `speech_transformer.py`): it adds
    1e-6 inside the log and averages over all query rows, padded ones included, and over heads.
    """
    if probs.dim() != 4:
        raise ValueError(f"probs must have shape (B, H, Tq, Tk), got {tuple(probs.shape)}")
    b, _, tq, tk = probs.shape
    p = probs.float()
    if key_padding_mask is not None:
        _check_mask(key_padding_mask, (b, tk), "key_padding_mask")
        p = p.masked_fill(key_padding_mask[:, None, None, :], 0.0)
    ent = -torch.xlogy(p, p).sum(dim=-1)  # (B, H, Tq)
    if query_padding_mask is None:
        return ent.mean(dim=(0, 2))
    _check_mask(query_padding_mask, (b, tq), "query_padding_mask")
    valid = (~query_padding_mask).float()[:, None, :]  # (B, 1, Tq)
    return (ent * valid).sum(dim=(0, 2)) / valid.sum(dim=(0, 2))


def _check_mask(mask: torch.Tensor, shape: tuple[int, int], name: str) -> None:
    if mask.dtype != torch.bool or tuple(mask.shape) != shape:
        raise ValueError(f"{name} must be a bool tensor of shape {shape} (True = pad), "
                         f"got {mask.dtype} {tuple(mask.shape)}")


def entropy_lower_bound(s, T: int) -> torch.Tensor:
    """Theorem 3.1 of Zhai et al. 2023 (docs/methods.md §4.2; statement from a secondary source, [U]):
    every attention row over T keys with logit scale s has entropy (nats) at least

        log(1 + (T-1) beta) + s sqrt(T(T-1)) beta / (1 + (T-1) beta),  beta = exp(-s sqrt(T/(T-1))).

    s = ||W_K W_Q^T||_2 ||X X^T||_2 (see `logit_spectral_scale`). The bound equals log T at
    s = 0, decreases in s, and decays like T s e^{-s}: the entropy of a row whose logits are one
    value and T-1 copies of that value minus s sqrt(T/(T-1)) (a centred logit vector of norm s).

    s: number or tensor (>= 0), T: int >= 2. Returns a tensor shaped like s (fp64 unless s is
    a floating tensor, whose dtype is kept).
    """
    if not isinstance(T, int) or T < 2:
        raise ValueError(f"T must be an int >= 2 (number of keys), got {T!r}")
    if not (isinstance(s, torch.Tensor) and s.is_floating_point()):
        s = torch.as_tensor(s, dtype=torch.float64)
    if (s < 0).any():
        raise ValueError("the logit scale s must be non-negative")
    beta = torch.exp(-s * math.sqrt(T / (T - 1)))
    denom = 1.0 + (T - 1) * beta
    return torch.log(denom) + s * math.sqrt(T * (T - 1)) * beta / denom


def logit_spectral_scale(X: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor,
                         scale: float = 1.0) -> torch.Tensor:
    """s = scale * ||W_q W_k^T||_2 * ||X X^T||_2 for logits = scale * (X W_q)(X W_k)^T.

    X: (T, d) one sequence; W_q, W_k: (d, n_a) one head's query/key projections; `scale` is the
    logit scale (1/sqrt(n_a) in a standard attention head). logit_ij = scale x_i^T W_q W_k^T x_j,
    so the matrix that counts is W_q W_k^T (it has the same spectral norm as the W_K W_Q^T of
    docs/methods.md §4.2). Returns a 0-dim tensor.
    """
    if X.dim() != 2 or W_q.dim() != 2 or W_q.shape != W_k.shape or W_q.shape[0] != X.shape[1]:
        raise ValueError(f"expected X (T, d) and W_q, W_k (d, n_a), got {tuple(X.shape)}, "
                         f"{tuple(W_q.shape)}, {tuple(W_k.shape)}")
    qk = torch.linalg.matrix_norm(W_q @ W_k.T, ord=2)
    xx = torch.linalg.matrix_norm(X @ X.T, ord=2)
    return scale * qk * xx
