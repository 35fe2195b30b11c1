"""SigmaReparamLinear against the reference SNLinear semantics (apple/ml-sigma-reparam
`vision/layers.py`, commit fea4e359), written here independently from its description:

  init:    u = first right singular vector of W0 (exact SVD), sigma = s0, gamma = s0;
  forward: (no grad) v = normalize(W u), u' = normalize(W^T v), u <- u' in train mode;
           sigma = v^T W u' with gradient through W (not detached);
           W_hat = gamma * W / sigma;  y = x W_hat^T + b.
One power step per forward; F.normalize's eps 1e-12. The trajectory of 20 SGD steps (one forward
per step) must agree: outputs, gamma, sigma estimate and u.
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.sigma_reparam import SigmaReparamLinear


class ReferenceSNLinear(nn.Module):
    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().clone())
        self.bias = nn.Parameter(linear.bias.detach().clone())
        _, s, vh = torch.linalg.svd(self.weight.detach(), full_matrices=False)
        self.register_buffer("u", vh[0].clone())
        self.register_buffer("spectral_norm", s[:1].clone())
        self.gamma = nn.Parameter(s[:1].clone())

    def forward(self, x):
        w = self.weight
        with torch.no_grad():
            v = F.normalize(w @ self.u, dim=0, eps=1e-12)
            u = F.normalize(w.t() @ v, dim=0, eps=1e-12)
            if self.training:
                self.u.copy_(u)
        sigma = v @ w @ u
        if self.training:
            self.spectral_norm.copy_(sigma.detach().reshape(1))
        return F.linear(x, w / sigma * self.gamma, self.bias)


@pytest.mark.parametrize("rows", [4, 96])  # 4 < in: output-scaling path; 96 >= in: materialised W_hat
def test_sigma_reparam_follows_the_reference_trajectory(rows):
    torch.manual_seed(0)
    plain = nn.Linear(32, 24)
    ref = ReferenceSNLinear(plain)
    ours = SigmaReparamLinear.from_linear(plain, gamma_init="sigma")
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.05)
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(rows, 32, generator=g)
    with torch.no_grad():  # equal to the plain layer at init (gamma = sigma(W0))
        torch.testing.assert_close(ours(x0), plain(x0), rtol=1e-5, atol=1e-5)
    worst = 0.0
    for _ in range(20):
        x = torch.randn(rows, 32, generator=g)
        target = torch.randn(rows, 24, generator=g)
        outs = []
        for layer, opt in ((ref, opt_ref), (ours, opt_ours)):
            opt.zero_grad()
            y = layer(x)
            (y - target).pow(2).mean().backward()
            opt.step()
            outs.append(y.detach())
        worst = max(worst, (outs[0] - outs[1]).abs().max().item())
        torch.testing.assert_close(outs[1], outs[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.gamma.detach(), ref.gamma.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.sigma, ref.spectral_norm, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.u, ref.u, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.weight.detach(), ref.weight.detach(), rtol=1e-4, atol=1e-6)
    s0 = torch.linalg.matrix_norm(plain.weight.detach(), ord=2)
    assert abs(ours.gamma.item() - s0.item()) > 1e-3  # gamma was trained, not only carried
    print(f"sigma-reparam vs reference SNLinear, rows={rows}: max |dy| over 20 steps {worst:.2e}")


def test_eval_mode_does_not_advance_u():
    torch.manual_seed(0)
    plain = nn.Linear(16, 8)
    ref, ours = ReferenceSNLinear(plain).eval(), SigmaReparamLinear.from_linear(plain).eval()
    u0 = ours.u.clone()
    x = torch.randn(5, 16)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.u, u0)
