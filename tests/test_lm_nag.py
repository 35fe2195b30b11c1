"""fairseq's NAG optimizer (the transformer_lm_wiki103 recipe) in tasks.engine.optim."""
import torch
from torch import nn

from tasks.config import OptimConfig
from tasks.engine.optim import NAG, build_optimizer, set_lr


def _grads(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 3, generator=g) for _ in range(n)]


def test_nag_equals_torch_nesterov_sgd_at_constant_lr():
    p1 = nn.Parameter(torch.ones(4, 3))
    p2 = nn.Parameter(torch.ones(4, 3))
    ours = NAG([p1], lr=0.1, momentum=0.9)
    ref = torch.optim.SGD([p2], lr=0.1, momentum=0.9, nesterov=True)
    for g in _grads():
        p1.grad, p2.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    torch.testing.assert_close(p1.detach(), p2.detach())


def test_nag_follows_fairseq_when_the_lr_changes():
    """p <- p(1 - lr wd) + m^2 c buf - (1+m) lr g; buf <- m c buf - lr g; c = lr / lr_old."""
    m, wd = 0.99, 0.01
    p = nn.Parameter(torch.ones(4, 3))
    opt = NAG([p], lr=1.0, momentum=m, weight_decay=wd)
    want, buf, lr_old = torch.ones(4, 3), torch.zeros(4, 3), 1.0
    for k, g in enumerate(_grads()):
        lr = 1e-3 * (k + 1)  # a warm-up: the lr changes every step
        set_lr(opt, lr)
        p.grad = g.clone()
        opt.step()
        c = lr / lr_old
        want = want * (1 - lr * wd) + m * m * c * buf - (1 + m) * lr * g
        buf = m * c * buf - lr * g
        lr_old = lr
        torch.testing.assert_close(p.detach(), want)


def test_build_optimizer_makes_nag():
    w = nn.Linear(3, 2)
    opt = build_optimizer(w, OptimConfig(name="nag", lr=1.0, momentum=0.99, weight_decay=0.0),
                          torch.device("cpu"))
    assert isinstance(opt, NAG) and opt.param_groups[0]["momentum"] == 0.99
