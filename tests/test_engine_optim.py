"""Optimizers follow the recipes' update rules; weight decay skips biases, norms, gamma, omega."""
import math

import pytest
import torch
from torch import nn

from tasks.config import OptimConfig
from tasks.engine.optim import LARS, RAdamTC, build_optimizer, param_groups


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.norm = nn.LayerNorm(3)
        self.omega = nn.Parameter(torch.ones(3))
        self.gamma = nn.Parameter(torch.ones(1, 1))  # 2-D, excluded by name only


def test_no_decay_groups():
    cfg = OptimConfig(weight_decay=0.1)
    groups = {g["weight_decay"]: set(g["names"]) for g in param_groups(Net(), cfg)}
    assert groups[0.1] == {"fc.weight"}
    assert groups[0.0] == {"fc.bias", "norm.weight", "norm.bias", "omega", "gamma"}


@pytest.mark.parametrize("name", ["adam", "adamw", "radam", "sgd", "lars"])
def test_every_optimizer_reduces_a_quadratic(name):
    torch.manual_seed(0)
    w = nn.Linear(5, 1, bias=False)
    cfg = OptimConfig(name=name, lr=0.05 if name != "lars" else 1.0, momentum=0.9, weight_decay=0.0,
                      trust_coef=0.01)
    opt = build_optimizer(w, cfg, torch.device("cpu"))
    x = torch.randn(64, 5)
    start = w(x).pow(2).mean().item()
    for _ in range(60):
        opt.zero_grad()
        w(x).pow(2).mean().backward()
        opt.step()
    assert w(x).pow(2).mean().item() < 0.5 * start


def test_adam_weight_decay_is_decoupled():
    """fairseq adam: p <- p - lr*wd*p on top of the Adam step (zero gradient -> pure decay)."""
    p = nn.Parameter(torch.full((2, 2), 2.0))
    opt = build_optimizer(nn.ParameterList([p]), OptimConfig(name="adam", lr=0.1, weight_decay=0.5),
                          torch.device("cpu"))
    p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.allclose(p, torch.full((2, 2), 2.0 * (1 - 0.1 * 0.5)))


def test_radam_only_decays_until_rectified_then_follows_the_formula():
    b1, b2, lr, eps, wd = 0.9, 0.98, 0.01, 1e-8, 0.1
    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = RAdamTC([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    g = torch.tensor([0.5, 0.25])
    m = torch.zeros(2)
    v = torch.zeros(2)
    rho_inf = 2 / (1 - b2) - 1
    expected = p.detach().clone()
    moved_at = None
    for t in range(1, 9):
        p.grad = g.clone()
        opt.step()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        expected = expected * (1 - lr * wd)  # TC: decoupled decay on every step
        if rho >= 5:
            moved_at = moved_at or t
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            step = lr * r * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            expected = expected - step * m / (v.sqrt() + eps)
        assert torch.allclose(p.detach(), expected, atol=1e-7), t
    assert moved_at is not None and moved_at > 1  # the first updates only decay p


def test_lars_trust_ratio_on_matrices_only():
    w = nn.Parameter(torch.full((2, 2), 3.0))  # ||w|| = 6
    b = nn.Parameter(torch.ones(2))
    opt = LARS([w, b], lr=1.0, momentum=0.0, trust_coef=0.01)
    w.grad = torch.full((2, 2), 0.5)  # ||g|| = 1
    b.grad = torch.full((2,), 0.5)
    opt.step()
    assert torch.allclose(w.detach(), torch.full((2, 2), 3.0 - 0.5 * 0.01 * 6.0 / 1.0), atol=1e-6)
    assert torch.allclose(b.detach(), torch.full((2,), 0.5))  # plain SGD step for 1-D
