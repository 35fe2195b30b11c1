"""Lanczos / SLQ against the exact Hessian of a tiny network (torch.autograd.functional.hessian)."""
import torch
from torch import nn
from torch.func import functional_call

from studies import lanczos as L


def _tiny_problem(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    sizes = [p.numel() for p in net.parameters()]
    flat0 = torch.cat([p.detach().flatten() for p in net.parameters()])

    def loss_of_flat(flat):
        ps = {n: c.view(s) for n, c, s in zip(names, torch.split(flat, sizes), shapes)}
        return (functional_call(net, ps, (x,)) - y).pow(2).mean()

    exact = torch.autograd.functional.hessian(loss_of_flat, flat0)
    loss = (net(x) - y).pow(2).mean()
    matvec, n = L.hvp_operator(loss, list(net.parameters()))
    return exact, matvec, n


def test_hvp_matches_exact_hessian():
    exact, matvec, n = _tiny_problem()
    v = torch.randn(n, dtype=torch.float64)
    torch.testing.assert_close(matvec(v), exact @ v, rtol=1e-10, atol=1e-12)


def test_full_lanczos_recovers_every_eigenvalue():
    exact, matvec, n = _tiny_problem()
    evals = torch.linalg.eigvalsh(exact)
    alpha, beta = L.lanczos(matvec, torch.randn(n, dtype=torch.float64), n)
    ritz = torch.linalg.eigvalsh(L.tridiagonal(alpha, beta))
    assert ritz.numel() == n  # full reorthogonalisation: no early breakdown, no ghosts
    torch.testing.assert_close(ritz, evals, rtol=1e-8, atol=1e-9)


def test_short_lanczos_top_eigenvalues_converge():
    exact, matvec, n = _tiny_problem(seed=1)
    evals = torch.linalg.eigvalsh(exact).flip(0)
    quads = L.slq(matvec, n, m=n // 2, starts=1, generator=torch.Generator().manual_seed(0),
                  dtype=torch.float64)
    top = L.top_eigenvalues(quads, 2)
    assert abs(top[0] - evals[0].item()) < 1e-6 * abs(evals[0].item())
    assert abs(top[1] - evals[1].item()) < 1e-2 * abs(evals[0].item())


def test_quadrature_is_exact_for_low_degree_moments():
    # v^T H^p v / |v|^2 equals the quadrature's p-th moment for p <= 2m - 1.
    exact, matvec, n = _tiny_problem(seed=2)
    v = torch.randn(n, dtype=torch.float64)
    q = L.quadrature(*L.lanczos(matvec, v, 4))
    u = v / v.norm()
    for p in range(0, 8):
        want = float(u @ torch.linalg.matrix_power(exact, p) @ u)
        assert abs(q.moment(p) - want) <= 1e-8 * max(1.0, abs(want))
    assert abs(q.weights.sum().item() - 1.0) < 1e-12


def test_slq_density_moments_match_exact_spectrum():
    exact, matvec, n = _tiny_problem(seed=3)
    evals = torch.linalg.eigvalsh(exact)
    quads = L.slq(matvec, n, m=10, starts=400, generator=torch.Generator().manual_seed(1),
                  dtype=torch.float64)
    for p in (1, 2):
        want = evals.pow(p).mean().item()
        # Hutchinson estimator over 400 Rademacher starts: a few percent of the second moment
        assert abs(L.moments(quads, p) - want) < 0.1 * evals.pow(2).mean().sqrt().item() ** p
    # the smoothed density is a probability density whose mean is tr(H)/n
    lo, hi = evals.min().item() - 1, evals.max().item() + 1
    grid = torch.linspace(lo, hi, 4001, dtype=torch.float64)
    dens = L.density(quads, grid, sigma=0.02 * (hi - lo))
    dx = (grid[1] - grid[0]).item()
    assert abs(dens.sum().item() * dx - 1.0) < 1e-3
    mean = (dens * grid).sum().item() * dx
    assert abs(mean - evals.mean().item()) < 0.1 * evals.abs().max().item()


def test_lanczos_rejects_bad_input():
    import pytest

    with pytest.raises(ValueError):
        L.lanczos(lambda v: v, torch.zeros(3), 2)
    with pytest.raises(ValueError):
        L.lanczos(lambda v: v, torch.ones(3), 0)
    with pytest.raises(ValueError):
        L.density([], torch.zeros(3), 0.0)


def test_hvp_through_a_translation_model_matches_finite_differences():
    # double backward through attention (math SDPA path), LayerNorm, embeddings, tied output;
    # float64 end to end (the studies' loss casts to float32, too coarse for differences)
    from studies import common

    for scheme in ("post_ln", "pre_ln"):
        model = common.build_translation("translation_tiny", scheme, scheme, 1, 50, seed=0).double()
        batch = common.synthetic_batch(2, vocab=50, seed=1, min_len=3, max_len=5)
        params = list(model.parameters())

        def loss_fn():
            logits = model(batch["src"], batch["prev"])
            return torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["tgt"].flatten(), ignore_index=1)

        with common.math_attention():
            matvec, n = L.hvp_operator(loss_fn(), params)
            v = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
            hv = matvec(v)

        def grad_at(shift):
            chunks = torch.split(shift, [p.numel() for p in params])
            with torch.no_grad():
                for p, c in zip(params, chunks):
                    p.add_(c.view_as(p))
            g = torch.cat([x.flatten() for x in torch.autograd.grad(loss_fn(), params)])
            with torch.no_grad():
                for p, c in zip(params, chunks):
                    p.sub_(c.view_as(p))
            return g

        h = 1e-6
        fd = (grad_at(h * v) - grad_at(-h * v)) / (2 * h)
        assert (hv - fd).norm() <= 1e-5 * fd.norm(), scheme


def test_ritz_residual_bounds_contain_an_eigenvalue():
    exact, matvec, n = _tiny_problem(seed=4)
    evals = torch.linalg.eigvalsh(exact)
    quads = L.slq(matvec, n, m=6, starts=1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for value, bound in L.top_ritz(quads, 3):
        assert (evals - value).abs().min() <= bound + 1e-10
