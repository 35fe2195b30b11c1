"""Measurements shared by the studies, independent of any model family.

- `expected_gradient`: Xiong 2020 Fig. 3's "expected gradient", each parameter's gradient
  averaged over mini-batches (equal to the full-batch gradient for equal-size batches and a
  mean loss).
- `relative_norms`, `log_spread`: Liu 2020 Fig. 5's |g_i| / max_j |g_j| and its spread.
- `output_change`, `random_deltas`, `adam_step_deltas`: Liu 2020 Fig. 4's
  |F(x, W) - F(x, W*)|^2 for a random perturbation or one Adam update W* = W + delta.
- `loglog_slope`, `linear_fit`: growth-rate fits.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch


def expected_gradient(loss_fn: Callable[[dict], torch.Tensor], batches: Sequence[dict],
                      params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Mean over `batches` of d loss_fn(batch) / d params (one forward+backward per batch).

    Only the requested parameters get gradients (torch.autograd.grad), so nothing else is
    accumulated or stored. Returns float64 tensors shaped like the parameters.
    """
    if not batches or not params:
        raise ValueError("need at least one batch and one parameter")
    total = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    for batch in batches:
        loss = loss_fn(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss {loss.item()} at initialisation")
        grads = torch.autograd.grad(loss, list(params), allow_unused=True)
        for acc, g in zip(total, grads):
            if g is not None:
                acc += g.detach().double()
    return [t / len(batches) for t in total]


def relative_norms(norms: dict[str, float]) -> dict[str, float]:
    """|x_i| / max_j |x_j| for a dict of per-parameter norms (Liu 2020 Fig. 5)."""
    if not norms:
        raise ValueError("relative_norms needs at least one norm")
    vals = np.asarray(list(norms.values()), dtype=np.float64)
    if not np.all(np.isfinite(vals)) or np.any(vals < 0):
        bad = [k for k, v in norms.items() if not (math.isfinite(v) and v >= 0)]
        raise ValueError(f"norms must be finite and >= 0; bad entries: {bad[:5]}")
    top = vals.max()
    if top == 0:
        raise ValueError("all norms are zero: no relative norm is defined")
    return {k: float(v) / top for k, v in norms.items()}


def log_spread(values: Sequence[float]) -> dict[str, float]:
    """Spread of positive values on a log10 scale: std, range (max - min) and count.

    Zeros carry no log and are counted separately in "zeros".
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or np.any(v < 0) or not np.all(np.isfinite(v)):
        raise ValueError("log_spread needs a non-empty sequence of finite values >= 0")
    pos = np.log10(v[v > 0])
    if pos.size == 0:
        raise ValueError("log_spread: every value is zero")
    return {"log10_std": float(pos.std()), "log10_range": float(pos.max() - pos.min()),
            "n": int(pos.size), "zeros": int((v == 0).sum())}


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x (y ~ x^slope)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.size < 2 or x.shape != y.shape or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("loglog_slope needs >= 2 points with positive x and y")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def linear_fit(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """y = a x + b by least squares, with the coefficient of determination r2."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.size < 2 or x.shape != y.shape:
        raise ValueError("linear_fit needs >= 2 points of equal shape")
    a, b = np.polyfit(x, y, 1)
    resid = y - (a * x + b)
    ss = float(((y - y.mean()) ** 2).sum())
    return {"slope": float(a), "intercept": float(b), "r2": 1.0 - float((resid ** 2).sum()) / ss if ss > 0 else 1.0}


@torch.no_grad()
def output_change(forward: Callable[[], torch.Tensor], params: Sequence[torch.Tensor],
                  deltas: Sequence[torch.Tensor], valid: torch.Tensor | None = None,
                  before: torch.Tensor | None = None) -> float:
    """|F(x, W) - F(x, W + delta)|_2^2 per output position, averaged over valid positions.

    forward() -> (..., D) output of the network with its current parameters; params are
    shifted in place by deltas, measured, and restored exactly (the originals are copied).
    valid: bool mask over the output's leading dims (True = counted); default all positions.
    before: forward()'s output at the current parameters, if already computed (saves a pass).
    """
    if len(params) != len(deltas):
        raise ValueError(f"{len(params)} parameters but {len(deltas)} deltas")
    before = (forward() if before is None else before).double()
    saved = [p.detach().clone() for p in params]
    try:
        for p, d in zip(params, deltas):
            p.add_(d.to(p.dtype))
        after = forward().double()
    finally:
        for p, s in zip(params, saved):
            p.copy_(s)
    sq = (after - before).pow(2).sum(-1)  # squared L2 distance per position
    if valid is None:
        return float(sq.mean())
    if valid.shape != sq.shape:
        raise ValueError(f"valid mask {tuple(valid.shape)} does not match outputs {tuple(sq.shape)}")
    return float(sq[valid].mean())


def random_deltas(params: Sequence[torch.Tensor], eps: float, generator: torch.Generator) -> list[torch.Tensor]:
    """A random perturbation: delta ~ N(0, (eps * rms(W))^2) per entry of every weight matrix.

    Vectors (biases, LayerNorm gains, Admin's omega) are left unperturbed: their init values
    (0 or 1) carry no scale to be relative to. rms(W) = ||W||_F / sqrt(numel).
    """
    out = []
    for p in params:
        if p.dim() < 2:
            out.append(torch.zeros_like(p))
            continue
        rms = p.detach().pow(2).mean().sqrt()
        out.append(torch.randn(p.shape, generator=generator, dtype=p.dtype) * eps * rms)
    return out


def adam_step_deltas(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], lr: float,
                     betas: tuple[float, float] = (0.9, 0.98), eps: float = 1e-8) -> list[torch.Tensor]:
    """The first update of Adam (torch.optim.Adam, Kingma & Ba) from a fresh state.

    After one step m = (1 - b1) g and v = (1 - b2) g^2; bias correction gives m_hat = g and
    sqrt(v_hat) = |g|, so the update is exactly -lr * g / (|g| + eps), about -lr * sign(g),
    whatever the betas. The parameters themselves do not move.
    """
    if len(params) != len(grads):
        raise ValueError(f"{len(params)} parameters but {len(grads)} gradients")
    del betas  # the first step does not depend on them (kept for a self-describing call)
    return [-lr * g.detach().to(p.dtype) / (g.detach().to(p.dtype).abs() + eps) for p, g in zip(params, grads)]
