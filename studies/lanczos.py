"""Lanczos with full reorthogonalisation and stochastic Lanczos quadrature (SLQ).

For a symmetric operator H on R^n given only through v -> H v (here Hessian-vector products):

- `lanczos(matvec, v0, m)` builds the m x m tridiagonal T = Q^T H Q of the Krylov space of v0.
  Its eigenvalues (Ritz values) converge first to the extreme eigenvalues of H; with m >= n
  and exact arithmetic they are H's eigenvalues. Every new vector is orthogonalised twice
  against all previous ones ("full reorthogonalisation", classical Gram-Schmidt applied
  twice), which removes the ghost eigenvalues of plain Lanczos in floating point.
- `slq(matvec, n, m, starts)` runs Lanczos from random Rademacher vectors. From each run the
  eigen-decomposition T = U diag(theta) U^T gives a Gauss quadrature: nodes theta_k, weights
  tau_k = U_{0k}^2, with v^T f(H) v / |v|^2 = sum_k tau_k f(theta_k) exactly for polynomials f
  of degree <= 2m - 1. Averaged over starts, sum_k tau_k delta(lambda - theta_k) estimates the
  spectral density (1/n) sum_i delta(lambda - lambda_i) (Ghorbani, Krishnan & Xiao 2019;
  Ubaru, Chen & Saad 2017). `density` smooths it with a Gaussian kernel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

MatVec = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Quadrature:
    """Gauss quadrature of one Lanczos run: nodes (Ritz values, ascending) and weights (sum 1).

    errors[k] = beta_m |U_{m-1,k}|, the residual norm |H y_k - theta_k y_k| of Ritz pair k: some
    eigenvalue of H lies within it of theta_k (0 when the run stopped on an invariant space).
    """
    nodes: torch.Tensor
    weights: torch.Tensor
    errors: torch.Tensor | None = None

    def moment(self, p: int) -> float:
        return float((self.weights * self.nodes.pow(p)).sum())


def lanczos(matvec: MatVec, v0: torch.Tensor, m: int, *, store_dtype: torch.dtype = torch.float64,
            tol: float = 1e-10, residual: bool = False):
    """(alpha (k,), beta (k-1,)): the tridiagonal of k <= m Lanczos steps from v0
    (with residual=True also the norm beta_k of the last residual vector).

    matvec maps a float tensor of v0's shape to H v. The basis (an m x n matrix, preallocated)
    and the working vector are kept in `store_dtype`: float64 for exactness on small problems,
    float32 for big models (as precise as their float32 Hessian-vector products, half the
    memory). Reorthogonalisation is two matrix-vector products per pass. The run stops early
    (k < m) when the Krylov space becomes invariant (beta < tol * |H|).
    """
    if m < 1:
        raise ValueError(f"number of Lanczos steps must be >= 1, got {m}")
    q = v0.detach().flatten().to(store_dtype)
    nrm = q.norm()
    if not torch.isfinite(nrm) or nrm == 0:
        raise ValueError("Lanczos start vector must be finite and non-zero")
    q = q / nrm
    basis = torch.empty(m, q.numel(), dtype=store_dtype)
    alphas: list[float] = []
    betas: list[float] = []
    scale = 0.0
    for k in range(m):
        basis[k] = q
        w = matvec(q.to(v0.dtype).view_as(v0)).detach().flatten().to(store_dtype)
        if not torch.isfinite(w).all():
            raise FloatingPointError("Hessian-vector product returned non-finite values")
        alpha = float(w.double() @ q.double())
        alphas.append(alpha)
        done = basis[:k + 1]
        for _twice in range(2):  # classical Gram-Schmidt against the whole basis, twice
            w -= done.T @ (done @ w)
        beta = float(w.double().norm())
        scale = max(scale, abs(alpha), beta)
        if beta <= tol * max(scale, 1e-300):
            beta = 0.0
            break
        if len(alphas) == m:
            break
        betas.append(beta)
        q = w / beta
    out = torch.tensor(alphas, dtype=torch.float64), torch.tensor(betas, dtype=torch.float64)
    return (*out, beta) if residual else out


def tridiagonal(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    t = torch.diag(alpha)
    if beta.numel():
        t += torch.diag(beta, 1) + torch.diag(beta, -1)
    return t


def quadrature(alpha: torch.Tensor, beta: torch.Tensor, residual: float | None = None) -> Quadrature:
    """Gauss quadrature (nodes, weights) of a Lanczos tridiagonal, with the Ritz residual norms
    when the last residual norm is given."""
    evals, evecs = torch.linalg.eigh(tridiagonal(alpha, beta))
    errors = None if residual is None else residual * evecs[-1].abs()
    return Quadrature(evals, evecs[0].pow(2), errors)


def rademacher(n: int, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return (torch.randint(0, 2, (n,), generator=generator) * 2 - 1).to(dtype)


def slq(matvec: MatVec, n: int, m: int, starts: int, generator: torch.Generator, *,
        dtype: torch.dtype = torch.float32, store_dtype: torch.dtype = torch.float64) -> list[Quadrature]:
    """Stochastic Lanczos quadrature: one `Quadrature` per Rademacher start vector."""
    if starts < 1:
        raise ValueError(f"SLQ needs >= 1 start vector, got {starts}")
    return [quadrature(*lanczos(matvec, rademacher(n, generator, dtype), m, store_dtype=store_dtype, residual=True))
            for _ in range(starts)]


def top_eigenvalues(quads: list[Quadrature], k: int) -> list[float]:
    """The k largest Ritz values of the longest run (Lanczos finds extreme eigenvalues first)."""
    return [v for v, _ in top_ritz(quads, k)]


def top_ritz(quads: list[Quadrature], k: int) -> list[tuple[float, float]]:
    """(Ritz value, residual bound) of the k largest Ritz values of the longest run."""
    best = max(quads, key=lambda q: q.nodes.numel())
    err = best.errors if best.errors is not None else torch.full_like(best.nodes, float("nan"))
    pairs = sorted(zip(best.nodes.tolist(), err.tolist()), reverse=True)
    return pairs[:k]


def density(quads: list[Quadrature], grid: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian-smoothed spectral density on `grid`: mean over starts of
    sum_k tau_k N(lambda; theta_k, sigma^2). Integrates to 1 (up to the grid's extent)."""
    if sigma <= 0:
        raise ValueError("smoothing width sigma must be > 0")
    g = grid.double()[:, None]
    out = torch.zeros(grid.numel(), dtype=torch.float64)
    for q in quads:
        kern = torch.exp(-0.5 * ((g - q.nodes[None, :]) / sigma) ** 2) / (sigma * (2 * torch.pi) ** 0.5)
        out += kern @ q.weights
    return out / len(quads)


def moments(quads: list[Quadrature], p: int) -> float:
    """SLQ estimate of (1/n) tr(H^p): the mean over starts of sum_k tau_k theta_k^p."""
    return sum(q.moment(p) for q in quads) / len(quads)


def hvp_operator(loss: torch.Tensor, params: list[torch.Tensor]) -> tuple[MatVec, int]:
    """(v -> H v on the flattened parameters, n) for the Hessian of `loss` w.r.t. `params`.

    The first-order graph is built once (create_graph=True) and kept; each product is one
    more backward through it (double backward). Attention must run on a path with double
    backward (the math SDPA kernel on CPU, docs/methods.md §7).
    """
    grads = torch.autograd.grad(loss, params, create_graph=True)
    sizes = [p.numel() for p in params]

    def matvec(v: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(v.to(params[0].dtype), sizes)
        dot = sum((g * c.view_as(g)).sum() for g, c in zip(grads, chunks))
        hv = torch.autograd.grad(dot, params, retain_graph=True, allow_unused=True)
        return torch.cat([(h if h is not None else torch.zeros_like(p)).flatten()
                          for h, p in zip(hv, params)])

    return matvec, sum(sizes)
