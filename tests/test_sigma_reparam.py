"""sigma-reparam layers (Zhai 2023, docs/methods.md §2.1): init equivalence, sigma tracking, gradients, folding."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.sigma_reparam import (
    SigmaReparamConv1d,
    SigmaReparamConv2d,
    SigmaReparamLinear,
    effective_weight,
    fold_sigma_reparam,
    spectral_estimate,
)


def _true_sigma(layer):
    return torch.linalg.matrix_norm(layer.weight.detach().reshape(layer.weight.shape[0], -1), ord=2)


def test_linear_at_init_equals_plain_layer():
    torch.manual_seed(0)
    x = torch.randn(4, 7, 12)
    layer = SigmaReparamLinear(12, 9)
    plain = F.linear(x, layer.weight, layer.bias)
    assert torch.allclose(layer(x), plain, atol=1e-6)
    assert torch.allclose(layer.gamma, _true_sigma(layer).reshape(1), rtol=1e-6)

    lin = nn.Linear(12, 9)
    converted = SigmaReparamLinear.from_linear(lin)
    assert torch.equal(converted.weight, lin.weight) and torch.equal(converted.bias, lin.bias)
    assert torch.allclose(converted(x), lin(x), atol=1e-6)
    no_bias = SigmaReparamLinear.from_linear(nn.Linear(12, 9, bias=False))
    assert no_bias.bias is None


def test_init_std_draws_normal_weights():
    torch.manual_seed(0)
    layer = SigmaReparamLinear(256, 256, init_std=0.1)
    assert abs(layer.weight.std().item() - 0.1) < 0.005
    assert abs(layer.weight.mean().item()) < 0.005


def test_conv_at_init_equals_plain_conv():
    torch.manual_seed(0)
    conv2 = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1)
    sr2 = SigmaReparamConv2d.from_conv2d(conv2)
    img = torch.randn(2, 3, 9, 9)
    assert torch.allclose(sr2(img), conv2(img), atol=1e-6)
    assert sr2.u.shape == (3 * 3 * 3,)

    conv1 = nn.Conv1d(5, 6, kernel_size=7, stride=3, padding=3)
    sr1 = SigmaReparamConv1d.from_conv1d(conv1)
    seq = torch.randn(2, 5, 31)
    assert torch.allclose(sr1(seq), conv1(seq), atol=1e-6)

    fresh = SigmaReparamConv2d(3, 4, kernel_size=(2, 3), stride=1, padding=(1, 0))
    expect = F.conv2d(img, fresh.weight, fresh.bias, 1, (1, 0))
    assert torch.allclose(fresh(img), expect, atol=1e-6)


def test_gamma_one_gives_unit_spectral_norm():
    torch.manual_seed(0)
    for layer in (SigmaReparamLinear(20, 30, gamma_init="one", init_std=0.1),
                  SigmaReparamConv2d(3, 5, 4, 4, gamma_init="one")):
        w_hat = effective_weight(layer).reshape(layer.weight.shape[0], -1)
        assert abs(torch.linalg.matrix_norm(w_hat, ord=2).item() - 1.0) < 1e-5
        assert layer.gamma.item() == 1.0


def test_sigma_tracks_spectral_norm_during_training():
    torch.manual_seed(0)
    layer = SigmaReparamLinear(16, 12)
    target = nn.Linear(16, 12)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2)
    w0 = layer.weight.detach().clone()
    for _ in range(40):
        x = torch.randn(32, 16)
        loss = (layer(x) - target(x).detach()).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    layer(torch.randn(2, 16))  # the buffer holds the estimate for the weight of the last forward
    # The weight moved by more than its own norm, yet one power step per forward keeps the
    # estimate within 1% of the exact spectral norm.
    assert (layer.weight.detach() - w0).norm() > 0.5 * w0.norm()
    true = _true_sigma(layer)
    assert abs(spectral_estimate(layer).item() - true.item()) / true.item() < 0.01


def test_gradient_includes_sigma_term():
    torch.manual_seed(0)
    layer = SigmaReparamLinear(6, 5, init_std=0.3)
    with torch.no_grad():
        layer.gamma.fill_(1.7)
    x = torch.randn(8, 6)
    r = torch.randn(8, 5)
    w = layer.weight.detach()
    # The forward's constants: one power step from the stored u.
    v = F.normalize(w @ layer.u, dim=0)
    u = F.normalize(w.t() @ v, dim=0)
    sigma = v @ w @ u
    (layer(x) * r).sum().backward()
    # Analytic: L = <G, W_hat>, W_hat = gamma W / sigma, d sigma / dW = v u^T, with G = r^T x.
    g = r.t() @ x
    gamma = 1.7
    expect_w = gamma / sigma * g - gamma / sigma**2 * (g * w).sum() * torch.outer(v, u)
    assert torch.allclose(layer.weight.grad, expect_w, atol=1e-5)
    assert torch.allclose(layer.gamma.grad, ((g * w).sum() / sigma).reshape(1), atol=1e-5)
    assert torch.allclose(layer.bias.grad, r.sum(0), atol=1e-5)
    # Without the sigma term the gradient would differ: the test can tell them apart.
    assert not torch.allclose(layer.weight.grad, gamma / sigma * g, atol=1e-3)


def test_every_parameter_gets_a_gradient_and_u_updates_only_in_training():
    torch.manual_seed(0)
    net = nn.Sequential(SigmaReparamConv2d(3, 4, 3, padding=1), nn.Flatten(),
                        SigmaReparamLinear(4 * 5 * 5, 3))
    x = torch.randn(2, 3, 5, 5)
    reparam = [net[0], net[2]]
    with torch.no_grad():  # move the weights away from the SVD init so that u has to move
        for m in reparam:
            m.weight.add_(torch.randn_like(m.weight))
    net.eval()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        net(x)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())

    net.train()
    u_before = [m.u.clone() for m in reparam]
    net(x).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all((m.u - ub).norm() > 1e-2 for m, ub in zip(reparam, u_before))

    net.eval()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        net(x)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


def test_reset_spectral_state_after_external_reinit():
    torch.manual_seed(0)
    layer = SigmaReparamLinear(10, 8)
    with torch.no_grad():
        layer.weight.normal_(0, 1.0)
    layer.reset_spectral_state()
    x = torch.randn(3, 10)
    assert torch.allclose(layer(x), F.linear(x, layer.weight, layer.bias), atol=1e-5)
    assert torch.allclose(layer.sigma, _true_sigma(layer).reshape(1), rtol=1e-5)


def test_fold_equals_eval_forward():
    torch.manual_seed(0)
    net = nn.Sequential(
        SigmaReparamConv1d(4, 6, 3, padding=1, gamma_init="one"), nn.ReLU(),
        nn.Flatten(), SigmaReparamLinear(6 * 10, 16), nn.GELU(),
        nn.Unflatten(1, (1, 4, 4)), SigmaReparamConv2d(1, 2, 3, padding=1), nn.Flatten(),
        nn.Linear(32, 3),
    )
    # Train a few steps so gamma != sigma and u lags the weight (folding must use one power step).
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(5):
        loss = net(torch.randn(8, 4, 10)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    folded = fold_sigma_reparam(net)
    kinds = [type(m) for m in folded]
    assert SigmaReparamLinear not in kinds and SigmaReparamConv2d not in kinds
    assert SigmaReparamConv1d not in kinds
    assert kinds[0] is nn.Conv1d and kinds[3] is nn.Linear and kinds[6] is nn.Conv2d
    assert isinstance(net[3], SigmaReparamLinear)  # the original is untouched
    x = torch.randn(5, 4, 10)
    with torch.no_grad():
        assert torch.allclose(folded(x), net(x), atol=1e-6)
    assert isinstance(fold_sigma_reparam(net[3]), nn.Linear)


def test_bf16_autocast_computes_sigma_in_fp32():
    torch.manual_seed(0)
    layer = SigmaReparamLinear(16, 8)
    x = torch.randn(4, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert y.dtype == torch.bfloat16
    assert layer.sigma.dtype == torch.float32 and layer.u.dtype == torch.float32
    assert torch.allclose(layer.sigma, _true_sigma(layer).reshape(1), rtol=1e-5)
    y.float().sum().backward()
    assert layer.weight.grad.dtype == torch.float32 and torch.isfinite(layer.weight.grad).all()


def test_bad_input_fails_clearly():
    with pytest.raises(ValueError, match="gamma_init"):
        SigmaReparamLinear(3, 3, gamma_init="two")
    with pytest.raises(ValueError, match="padding_mode"):
        SigmaReparamConv2d(3, 3, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode"):
        SigmaReparamConv2d.from_conv2d(nn.Conv2d(3, 3, 3, padding=1, padding_mode="circular"))
    with pytest.raises(ValueError, match="groups"):
        SigmaReparamConv1d.from_conv1d(nn.Conv1d(4, 4, 3, groups=2))
    with pytest.raises(TypeError):
        SigmaReparamLinear.from_linear(nn.Conv1d(4, 4, 3))
    with pytest.raises(ValueError, match="init_std"):
        SigmaReparamLinear(3, 3, init_std=0.0)
    zero = nn.Linear(3, 3)
    nn.init.zeros_(zero.weight)
    with pytest.raises(ValueError, match="all zeros"):
        SigmaReparamLinear.from_linear(zero)
    with pytest.raises(TypeError):
        effective_weight(nn.Embedding(2, 2))
    with pytest.raises(TypeError):
        spectral_estimate(nn.Linear(2, 2))
    plain = nn.Linear(2, 3)
    assert torch.equal(effective_weight(plain), plain.weight)  # plain layers: their own weight


def test_state_dict_round_trip_keeps_buffers():
    torch.manual_seed(0)
    a = SigmaReparamLinear(5, 4)
    a(torch.randn(2, 5))
    b = copy.deepcopy(SigmaReparamLinear(5, 4))
    b.load_state_dict(a.state_dict())
    assert set(a.state_dict()) == {"weight", "bias", "gamma", "u", "sigma"}
    x = torch.randn(3, 5)
    assert torch.equal(a.eval()(x), b.eval()(x))


# ---------------------------------------------------- the fast node against the plain graph
def _set_fast(model, fast):
    for m in model.modules():
        if isinstance(m, SigmaReparamLinear):
            m.fast = fast
    return model


def _tiny_translation():
    from models import build_model

    torch.manual_seed(0)
    return build_model("translation", "translation_tiny", encoder_scheme="sigma_reparam",
                       decoder_scheme="sigma_reparam", src_vocab=40, tgt_vocab=40, share="all")


def test_fast_node_follows_the_plain_graph_trajectory():
    """20 SGD steps (dropout on, same seeds): outputs, every gradient, parameters, u and sigma
    of the fast node equal those of the plain autograd graph to fp32 rounding. (SGD, not Adam:
    Adam would blow rounding noise on gradients that are zero in exact arithmetic -- the key
    biases', which softmax ignores -- up to lr-sized steps.)"""
    plain = _set_fast(_tiny_translation(), False)
    fast = _set_fast(copy.deepcopy(plain), True)
    assert sum(isinstance(m, SigmaReparamLinear) for m in fast.modules()) > 10
    opts = [torch.optim.SGD(m.parameters(), lr=0.02, momentum=0.9) for m in (plain, fast)]
    g = torch.Generator().manual_seed(1)
    for step in range(20):
        src = torch.randint(4, 40, (3, 7), generator=g)
        prev = torch.randint(4, 40, (3, 5), generator=g)
        outs = []
        for model, opt in zip((plain, fast), opts):
            torch.manual_seed(100 + step)  # same dropout masks
            y = model(src, prev)
            (y.float().square().mean() + y.float().mean()).backward()
            outs.append(y.detach())
        # fp32 rounding, which training amplifies step by step (relative 5e-7 at step 0, ~1e-5 by
        # step 20 here): compared against each tensor group's scale, since gradients that are zero
        # in exact arithmetic (key biases) are pure rounding noise in both
        torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=3e-5 * float(outs[0].abs().max()))
        gmax = max(float(p.grad.abs().max()) for p in plain.parameters())
        for (name, p0), p1 in zip(plain.named_parameters(), fast.parameters()):
            assert p1.grad is not None, name
            torch.testing.assert_close(p1.grad, p0.grad, rtol=0, atol=3e-5 * gmax, msg=name)
        for opt in opts:
            opt.step()
            opt.zero_grad()
    for (name, t0), t1 in zip(plain.state_dict().items(), fast.state_dict().values()):
        torch.testing.assert_close(t1, t0, rtol=1e-4, atol=3e-5 * max(float(t0.abs().max()), 1.0), msg=name)


@pytest.mark.parametrize("bias", [True, False])
def test_fast_node_gradients_per_input_and_fixed_gamma(bias):
    torch.manual_seed(0)
    ref = SigmaReparamLinear(12, 7, bias=bias)
    ref.fast = False
    new = copy.deepcopy(ref)
    new.fast = True
    new.gamma.requires_grad_(False)  # a fixed-gamma ablation: no gamma gradient, the rest unchanged
    ref.gamma.requires_grad_(False)
    x0 = torch.randn(2, 5, 12)
    gy = torch.randn(2, 5, 7)
    grads = []
    for layer in (ref, new):
        x = x0.clone().requires_grad_()
        layer(x).backward(gy)
        grads.append([x.grad] + [p.grad for p in layer.parameters() if p.requires_grad])
    assert new.gamma.grad is None
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(new.u, ref.u)  # both advanced u once, to the same vector


def test_fast_node_bf16_autocast_matches_plain_graph():
    torch.manual_seed(0)
    ref = SigmaReparamLinear(64, 32)
    ref.fast = False
    new = copy.deepcopy(ref)
    new.fast = True
    x = torch.randn(40, 64)
    out = []
    for layer in (ref, new):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = layer(x)
        assert y.dtype == torch.bfloat16
        y.float().sum().backward()
        out.append((y.float(), layer.weight.grad, layer.gamma.grad))
    for a, b in zip(*out):
        torch.testing.assert_close(b, a, rtol=2e-2, atol=2e-2)  # bf16 matmuls, rounded differently
    assert new.weight.grad.dtype == torch.float32


def test_fast_node_double_backward_equals_plain_graph():
    """Hessian-vector products (the studies' create_graph=True path) agree."""
    torch.manual_seed(0)
    ref = SigmaReparamLinear(6, 5).double()
    ref.fast = False
    new = copy.deepcopy(ref)
    new.fast = True
    ref.eval(), new.eval()  # u fixed, so both see the same power step
    x = torch.randn(4, 6, dtype=torch.float64)
    hv = []
    for layer in (ref, new):
        params = list(layer.parameters())
        loss = layer(x).tanh().square().sum()
        grads = torch.autograd.grad(loss, params, create_graph=True)
        vec = [torch.ones_like(p) for p in params]
        hv.append(torch.autograd.grad(grads, params, vec))
    for a, b in zip(*hv):  # sigma is computed in fp32 in both (docs/methods.md §2.1), hence fp32-level agreement
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_batched_power_steps_equal_the_per_layer_ones():
    """One pre-hook doing every layer's power step in batched mat-vecs: same outputs, gradients,
    u and sigma as the per-layer steps; generate()-style direct calls still run their own."""
    from models.sigma_reparam_fast import enable_batched_power_steps

    ref = _tiny_translation()
    new = copy.deepcopy(ref)
    handles = enable_batched_power_steps(new)
    g = torch.Generator().manual_seed(3)
    for step in range(3):
        src, prev = torch.randint(4, 40, (2, 6), generator=g), torch.randint(4, 40, (2, 4), generator=g)
        outs = []
        for model in (ref, new):
            torch.manual_seed(step)
            y = model(src, prev)
            y.square().mean().backward()
            outs.append(y.detach())
        torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=1e-5 * float(outs[0].abs().max()))
        gmax = max(float(p.grad.abs().max()) for p in ref.parameters())
        for (name, p0), p1 in zip(ref.named_parameters(), new.parameters()):
            torch.testing.assert_close(p1.grad, p0.grad, rtol=0, atol=1e-5 * gmax, msg=name)
        for (name, b0), b1 in zip(ref.named_buffers(), new.buffers()):
            torch.testing.assert_close(b1, b0, rtol=1e-5, atol=1e-6, msg=name)
    layers = [m for m in new.modules() if isinstance(m, SigmaReparamLinear)]
    assert all(m._pending is None for m in layers)  # nothing left over after the forward
    u_before = layers[0].u.clone()
    new.encode(torch.randint(4, 40, (2, 6), generator=g))  # outside forward: the layer's own step
    assert not torch.equal(layers[0].u, u_before)
    for h in handles:
        h.remove()
