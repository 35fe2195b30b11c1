"""The ViT against timm, and the Table 1 schemes of Zhai 2023 after a training step."""
import pytest
import torch
from torch import nn

from models import build_model
from models.sigma_reparam import SIGMA_REPARAM_LAYERS, effective_weight
from models.weight_norm import is_weight_normalised
from tasks.engine.optim import LARS


def test_vit_b16_equals_timm_after_weight_copy():
    timm = pytest.importorskip("timm")
    from tasks.vit.timm_compat import copy_to_timm

    torch.manual_seed(0)
    ours = build_model("vit", "vit_b16", encoder_scheme="pre_ln", num_classes=1000).eval()
    ref = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters()) == 86_567_656
    copy_to_timm(ours, ref)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = ours(x), ref(x)
    assert a.shape == (2, 1000)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert a.abs().max() > 0.1  # not a trivially zero output


def _step(model, opt):
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1, 2, 3])
    model.train()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


def _layers(model):
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d) + SIGMA_REPARAM_LAYERS)]


def test_sigma_reparam_vit_step_keeps_no_ln_and_every_layer_reparametrised():
    torch.manual_seed(0)
    model = build_model("vit", "vit_tiny", encoder_scheme="sigma_reparam", num_classes=10)
    gammas = {n: p.detach().clone() for n, p in model.named_parameters() if n.endswith("gamma")}
    opt = LARS([p for p in model.parameters()], lr=0.5, momentum=0.9)
    _step(model, opt)
    assert not any(isinstance(m, nn.LayerNorm) for m in model.modules())
    layers = _layers(model)
    # 2 layers x (qkv, out, fc1, fc2) + patch conv + head, every one reparametrised
    assert len(layers) == 10 and all(isinstance(m, SIGMA_REPARAM_LAYERS) for m in layers)
    assert type(model.patch_embed).__name__ == "SigmaReparamConv2d"
    assert len(gammas) == 10
    assert any(not torch.equal(p, gammas[n]) for n, p in model.named_parameters() if n in gammas)
    for m in layers:  # W_hat = gamma W / sigma: its spectral norm is |gamma| (to power-iteration accuracy)
        s = torch.linalg.matrix_norm(effective_weight(m).reshape(m.weight.shape[0], -1).float(), ord=2)
        assert abs(s.item() - m.gamma.abs().item()) < 0.1 * m.gamma.abs().item() + 1e-6


def test_spectral_norm_without_gamma_keeps_gamma_at_one():
    torch.manual_seed(0)
    model = build_model("vit", "vit_tiny", encoder_scheme="spectral_norm_no_gamma", num_classes=10)
    assert not any(n.endswith("gamma") for n, _ in model.named_parameters())
    opt = LARS(list(model.parameters()), lr=0.5, momentum=0.9)
    _step(model, opt)
    _step(model, opt)
    assert not any(isinstance(m, nn.LayerNorm) for m in model.modules())
    layers = _layers(model)
    assert len(layers) == 10 and all(isinstance(m, SIGMA_REPARAM_LAYERS) for m in layers)
    for m in layers:
        assert m.gamma.item() == 1.0 and not m.gamma.requires_grad
        assert "gamma" in m.state_dict()


def test_weight_norm_pre_ln_equals_pre_ln_at_init_and_normalises_every_layer():
    torch.manual_seed(0)
    plain = build_model("vit", "vit_tiny", encoder_scheme="pre_ln", num_classes=10).eval()
    torch.manual_seed(0)
    wn = build_model("vit", "vit_tiny", encoder_scheme="weight_norm_pre_ln", num_classes=10).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(wn(x), plain(x), rtol=1e-5, atol=1e-5)
    layers = _layers(wn)
    assert len(layers) == 10 and all(is_weight_normalised(m) for m in layers)
    assert sum(isinstance(m, nn.LayerNorm) for m in wn.modules()) == 5  # 2 per layer + final
    opt = torch.optim.Adam(wn.parameters(), lr=1e-2)
    _step(wn, opt)
    for m in layers:  # the row norms of W are the gains g after the step too
        g = m.parametrizations.weight.original0.detach().flatten()
        rows = m.weight.detach().reshape(m.weight.shape[0], -1).norm(dim=1)
        torch.testing.assert_close(rows, g.abs(), rtol=1e-4, atol=1e-6)
