"""Admin profiling (`models.admin.profile_omega`) against the Transformer-Clinic rule, on fairseq's
modules with our weights, on a padded batch.

The rule, as the TC code (LiyuanLucasLiu/Transformer-Clinic, `fairseq/fairseq/modules/
transformer_layer.py`, --init-type adaptive-profiling) applies it, re-implemented here on top of
fairseq 0.12's layers (Post-LN, the Admin residual b = x*omega + f(x), then LayerNorm):
  a running value starts at 1.0 per stack (the decoder's afresh); walking the sublayers in
  forward order: omega_i := running; running := sqrt(Var[x*omega_i] + Var[f_i(x)]), population
  variances over every element of the T x B x C tensors, padding included (numpy, float64).
TC profiles with dropout on; both sides run with dropout 0 here so that the comparison is
deterministic (the rule itself does not change). The decoder's self-attention gets fairseq's
future mask and key-padding mask, so the padded rows, which enter the variances, are fairseq's.
"""
import numpy as np
import pytest
import torch

from reference_packages import need

need("fairseq")
# fairseq 0.12 hands torch a bool key-padding mask with a float future mask (its own choice)
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")

import models.attention as attention  # noqa: E402
from fairseq_ref import build_pair  # noqa: E402
from models.admin import profile_omega  # noqa: E402

V = 48


def padded_batch():
    g = torch.Generator().manual_seed(5)
    src = torch.randint(4, V, (4, 10), generator=g)
    prev = torch.randint(4, V, (4, 9), generator=g)
    for i, n in enumerate((10, 6, 4, 8)):
        src[i, n - 1] = 2
        src[i, n:] = 1
    prev[:, 0] = 2
    for i, n in enumerate((9, 5, 3, 8)):  # 11 of 36 decoder positions are padding (31%)
        prev[i, n:] = 1
    return src, prev


def _var(t: torch.Tensor) -> float:
    return float(np.var(t.detach().double().numpy()))


def tc_rule(ref, src, prev) -> dict[str, list[float]]:
    """The TC profiling rule on fairseq's Post-LN layers with an omega on every residual skip."""
    out = {"encoder": [], "decoder": []}

    def residual(stack, x, f, norm):
        omega = running[stack]
        out[stack].append(omega)
        skip, branch = x * omega, f(x)
        running[stack] = float(np.sqrt(_var(skip) + _var(branch)))
        return norm(skip + branch)

    running = {"encoder": 1.0, "decoder": 1.0}
    enc_pad = src.eq(1)
    x, _ = ref.encoder.forward_embedding(src)
    x = x.transpose(0, 1)  # T x B x C, as fairseq's layers
    for layer in ref.encoder.layers:
        x = residual("encoder", x, lambda h: layer.self_attn(query=h, key=h, value=h, key_padding_mask=enc_pad,
                                                             need_weights=False)[0], layer.self_attn_layer_norm)
        x = residual("encoder", x, lambda h: layer.fc2(layer.activation_fn(layer.fc1(h))), layer.final_layer_norm)
    memory = x
    dec = ref.decoder
    dec_pad = prev.eq(1)
    t = prev.shape[1]
    future = torch.triu(torch.full((t, t), float("-inf")), 1)
    y = (dec.embed_scale * dec.embed_tokens(prev) + dec.embed_positions(prev)).transpose(0, 1)
    for layer in dec.layers:
        y = residual("decoder", y, lambda h: layer.self_attn(query=h, key=h, value=h, key_padding_mask=dec_pad,
                                                             attn_mask=future, need_weights=False)[0],
                     layer.self_attn_layer_norm)
        y = residual("decoder", y, lambda h: layer.encoder_attn(query=h, key=memory, value=memory,
                                                                key_padding_mask=enc_pad, static_kv=True,
                                                                need_weights=False)[0],
                     layer.encoder_attn_layer_norm)
        y = residual("decoder", y, lambda h: layer.fc2(layer.activation_fn(layer.fc1(h))), layer.final_layer_norm)
    return out


def ours_profile(ours, src, prev):
    def run_batch(model):
        model(src, prev).float().sum().backward()
    return profile_omega(ours, run_batch)


def test_profiled_omega_equals_the_tc_rule_on_a_padded_batch():
    ours, ref, _ = build_pair("admin", "admin", V, layers=3)
    src, prev = padded_batch()
    with torch.no_grad():
        expected = tc_rule(ref, src, prev)
    got = ours_profile(ours, src, prev)
    assert len(got["encoder"]) == 6 and len(got["decoder"]) == 9
    worst = 0.0
    for stack in ("encoder", "decoder"):
        rel = np.abs(np.array(got[stack]) / np.array(expected[stack]) - 1)
        worst = max(worst, float(rel.max()))
    print(f"Admin profiling vs TC rule on fairseq layers: max relative omega diff {worst:.1e}; "
          f"decoder omega {np.round(got['decoder'], 4).tolist()}")
    assert worst < 1e-5
    assert got["encoder"][0] == got["decoder"][0] == 1.0 and got["decoder"][-1] > 1.0


def test_without_the_decoder_key_mask_the_profile_would_differ():
    """Guards the test above: padded decoder rows enter the variances."""
    ours, ref, _ = build_pair("admin", "admin", V, layers=3)
    src, prev = padded_batch()
    with torch.no_grad():
        expected = tc_rule(ref, src, prev)
    dec_attn = [layer.self_attn.fn.attn for layer in ours.decoder.layers]
    original = attention.Attention.forward

    def no_key_mask(self, x, kv=None, key_padding_mask=None, **kw):
        return original(self, x, kv, None if self in dec_attn else key_padding_mask, **kw)
    attention.Attention.forward = no_key_mask
    try:
        got = ours_profile(ours, src, prev)
    finally:
        attention.Attention.forward = original
    np.testing.assert_allclose(got["encoder"], expected["encoder"], rtol=1e-5)
    assert np.abs(np.array(got["decoder"]) / np.array(expected["decoder"]) - 1).max() > 1e-4
