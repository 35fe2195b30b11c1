"""ViT-B/16 against timm's vit_base_patch16_224, and Admin's profiling-free omega against admin-torch.

timm 1.0.31 (huggingface/pytorch-image-models): random init there, every tensor copied into our
model by an explicit name map (strict: each of ours is written exactly once), then the logits
must agree. admin-torch 0.1.0 (microsoft/admin-torch): `calculate_init(N, scale)` for an encoder
(N = 2L residual sublayers) and a decoder (N = 3L) at L = 6/18/60/100.
"""
import pytest
import torch

from reference_packages import need

timm = need("timm")
admin_torch = need("admin_torch")

from models import build_model  # noqa: E402
from models.admin import admin_torch_omega, load_omega  # noqa: E402


def timm_to_ours(depth: int) -> dict[str, str]:
    """timm state-dict key -> our key for ViT (fused qkv, Pre-LN, final norm, cls head)."""
    m = {"cls_token": "cls_token", "pos_embed": "pos_embed", "patch_embed.proj.weight": "patch_embed.weight",
         "patch_embed.proj.bias": "patch_embed.bias", "norm.weight": "encoder.final_norm.weight",
         "norm.bias": "encoder.final_norm.bias", "head.weight": "head.weight", "head.bias": "head.bias"}
    for i in range(depth):
        t, o = f"blocks.{i}.", f"encoder.layers.{i}."
        for p in ("weight", "bias"):
            m[t + "norm1." + p] = o + "self_attn.pre_norm." + p
            m[t + "attn.qkv." + p] = o + "self_attn.fn.attn.qkv_proj." + p
            m[t + "attn.proj." + p] = o + "self_attn.fn.attn.out_proj." + p
            m[t + "norm2." + p] = o + "ffn.pre_norm." + p
            m[t + "mlp.fc1." + p] = o + "ffn.fn.fc1." + p
            m[t + "mlp.fc2." + p] = o + "ffn.fn.fc2." + p
    return m


def test_vit_b16_equals_timm_with_weights_copied():
    torch.manual_seed(0)
    ref = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
    ours = build_model("vit", "vit_b16", encoder_scheme="pre_ln", num_classes=1000).eval()
    n_ref = sum(p.numel() for p in ref.parameters())
    assert n_ref == sum(p.numel() for p in ours.parameters()) == 86_567_656
    mapping = timm_to_ours(len(ref.blocks))
    src, dst = ref.state_dict(), ours.state_dict()
    assert set(mapping) == set(src), set(src) ^ set(mapping)
    assert sorted(mapping.values()) == sorted(k for k in dst if k != "encoder.input_scale")
    with torch.no_grad():
        for k_ref, k_ours in mapping.items():
            assert dst[k_ours].shape == src[k_ref].shape, k_ref
            dst[k_ours].copy_(src[k_ref])
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = ref(x), ours(x)
    diff = (a - b).abs().max().item()
    print(f"ViT-B/16 vs timm vit_base_patch16_224: max |logit diff| {diff:.2e} (logit scale {a.abs().max():.2f})")
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layers", [6, 18, 60, 100])
@pytest.mark.parametrize("kind", ["O(logn)", "O(1)", "O(n)"])
def test_admin_torch_formula(layers, kind):
    for n in (2 * layers, 3 * layers):  # encoder, decoder residual sublayers
        assert admin_torch_omega(n, kind) == pytest.approx(admin_torch.calculate_init(n, kind), rel=1e-12)


def test_admin_torch_values_land_on_every_sublayer():
    torch.manual_seed(0)
    model = build_model("translation", "translation_tiny", encoder_scheme="admin", src_vocab=20,
                        encoder_layers=3, decoder_layers=2)
    load_omega(model, "admin_torch:O(logn)")
    for name, stack in model.stacks().items():
        subs = stack.sublayers()
        expected = admin_torch.calculate_init(len(subs), "O(logn)")
        for res in subs:
            torch.testing.assert_close(res.omega.omega.detach(), torch.full_like(res.omega.omega, expected))
