"""Probes: entropy plumbing, the Theorem 3.1 quantity per head, dependency beta, zero cost when off."""
import math

import pytest
import torch

from models import build_model
from models import probes
from models.attention import Attention
from models.entropy import attention_entropy as entropy_fn
from models.entropy import entropy_lower_bound
from models.stack import Residual

V = 40


def model(scheme="pre_ln", **kw):
    torch.manual_seed(0)
    return build_model("translation", "translation_tiny", encoder_scheme=scheme, src_vocab=V, dropout=0.0, **kw).eval()


def tokens(seed=1):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V, (3, 8), generator=g)
    prev = torch.randint(4, V, (3, 6), generator=g)
    src[0, 5:] = 1
    prev[2, 3:] = 1
    return src, prev


def test_uniform_attention_has_entropy_log_of_valid_keys():
    m = model()
    with torch.no_grad():
        for attn in probes.attention_modules(m).values():
            for name, _ in attn.groups:
                lin = getattr(attn, name)
                lin.weight.zero_()  # q = k = 0: uniform attention over the valid keys
                lin.bias.zero_()
    src, prev = tokens()
    ent = probes.attention_entropy(m, lambda: m(src, prev))
    n_src = src.ne(1).sum(1).float()
    # every valid query of sentence b sees n_src[b] keys; the mean runs over valid queries
    expected_enc = (torch.log(n_src) * n_src).sum() / n_src.sum()
    torch.testing.assert_close(ent["encoder.0.self_attn"], expected_enc.repeat(4), rtol=1e-5, atol=1e-5)
    # causal self-attention: query t sees t+1 keys; pad queries excluded
    valid = prev.ne(1)
    per_query = torch.log(torch.arange(1, prev.shape[1] + 1).float()).expand_as(prev)
    torch.testing.assert_close(ent["decoder.0.self_attn"], per_query[valid].mean().repeat(4), rtol=1e-5, atol=1e-5)
    # cross-attention: every valid target query sees the valid source keys of its sentence
    cross = (torch.log(n_src)[:, None].expand_as(prev))[valid].mean()
    torch.testing.assert_close(ent["decoder.1.cross_attn"], cross.repeat(4), rtol=1e-5, atol=1e-5)


def test_probe_entropy_equals_direct_computation_from_qk():
    m = model()
    src, prev = tokens()
    attn: Attention = m.encoder.layers[1].self_attn.fn.attn
    seen = {}
    h = attn.register_forward_hook(lambda mod, args, kw, out: seen.setdefault("x", args[0]), with_kwargs=True)
    ent = probes.attention_entropy(m, lambda: m(src, prev))
    h.remove()
    x = seen["x"]  # (B, T, D), the input of the attention (after the pre-norm)
    q = attn.q_proj(x).view(3, 8, 4, -1).transpose(1, 2)
    k = attn.k_proj(x).view(3, 8, 4, -1).transpose(1, 2)
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    pad = src.eq(1)
    p = torch.softmax(logits.masked_fill(pad[:, None, None, :], float("-inf")), -1)
    h_rows = -(p * torch.log(p.clamp_min(1e-30))).sum(-1)  # (B, H, T)
    valid = (~pad)[:, None, :].expand_as(h_rows)
    direct = torch.stack([h_rows[:, i][valid[:, i]].mean() for i in range(4)])
    torch.testing.assert_close(ent["encoder.1.self_attn"], direct.detach(), rtol=1e-5, atol=1e-5)


def test_qk_spectral_norm_per_head_matches_direct_svd_and_bound_holds():
    m = model("post_ln")
    norms = probes.qk_spectral_norms(m)
    attn = m.encoder.layers[0].self_attn.fn.attn
    wq = attn.q_proj.weight.view(4, 16, 64)
    wk = attn.k_proj.weight.view(4, 16, 64)
    direct = torch.stack([torch.linalg.matrix_norm(wq[h].T @ wk[h], ord=2) for h in range(4)])
    torch.testing.assert_close(norms["encoder.0.self_attn"], direct.detach(), rtol=1e-4, atol=1e-6)
    # Theorem 3.1 on the real layer (zero biases at init): each query row's entropy >= bound
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 10, 64, generator=g) * 0.5
    with torch.no_grad():
        q = attn.q_proj(x).view(1, 10, 4, 16).transpose(1, 2)
        k = attn.k_proj(x).view(1, 10, 4, 16).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(-1, -2) / 4.0, -1)[0]  # (H, T, T)
    rows = -(p * torch.log(p)).sum(-1)
    s = norms["encoder.0.self_attn"] * torch.linalg.matrix_norm(x[0] @ x[0].T, ord=2) / 4.0
    for h in range(4):
        assert rows[h].min() >= entropy_lower_bound(s[h].double(), 10).float() - 1e-5


def test_residual_dependency_rows_are_unit_and_pre_ln_matches_paper_formula():
    m = model("pre_ln")
    src, prev = tokens()
    beta = probes.residual_dependency(m, lambda: m(src, prev))
    for b in beta.values():
        torch.testing.assert_close((b ** 2).sum(1), torch.ones(b.shape[0], dtype=b.dtype))
    # Pre-LN: beta_{i,j} = Std[a_j] / sqrt(sum_{k<=i} Var[a_k]) with a_0 the embedding output
    subs = m.encoder.sublayers()
    taps = []
    for r in subs:
        r.tap = lambda res, skip, branch, acc=taps: acc.append((skip.std().item(), branch.std().item()))
    with torch.no_grad():
        m(src, prev)
    for r in subs:
        r.tap = None
    stds = [taps[0][0]] + [t[1] for t in taps]
    i = 3
    expected = stds[2] / math.sqrt(sum(s ** 2 for s in stds[: i + 1]))
    assert beta["encoder"][i - 1, 2].item() == pytest.approx(expected, rel=1e-6)


def test_post_ln_depends_more_on_own_branch_than_pre_ln_at_depth():
    src, prev = tokens()
    diag = {}
    for scheme in ("post_ln", "pre_ln"):
        m = model(scheme, encoder_layers=6, decoder_layers=6)
        b = probes.residual_dependency(m, lambda: m(src, prev))["encoder"]
        diag[scheme] = torch.diagonal(b, offset=1)[4:].mean().item()  # beta_ii, deeper sublayers
    assert diag["post_ln"] > diag["pre_ln"]


def test_probes_off_leave_no_hooks_and_grad_update_norms():
    m = model("admin")
    src, prev = tokens()
    probes.attention_entropy(m, lambda: m(src, prev))
    probes.residual_dependency(m, lambda: m(src, prev))
    assert all(a.probe is None for a in probes.attention_modules(m).values())
    assert all(r.tap is None for r in m.modules() if isinstance(r, Residual))
    stats = probes.omega_stats(m)
    assert len(stats) == 2 * 2 + 3 * 2 and all(v["mean"] == 1.0 for v in stats.values())
    m.train()
    before = probes.snapshot(m)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    m(src, prev).float().pow(2).mean().backward()
    grads = probes.grad_norms(m)
    opt.step()
    upd = probes.update_norms(before, m)
    for name, p in m.named_parameters():
        assert upd[name] == pytest.approx(0.1 * grads[name], rel=1e-4, abs=1e-7)
    sn = probes.spectral_norms(m)
    w = m.encoder.layers[0].ffn.fn.fc1.weight
    assert sn["encoder.layers.0.ffn.fn.fc1"] == pytest.approx(torch.linalg.matrix_norm(w, ord=2).item(), rel=1e-5)


def test_entropy_helper_excludes_padded_queries():
    probs = torch.full((1, 1, 3, 3), 1 / 3)
    probs[0, 0, 2] = torch.tensor([1.0, 0.0, 0.0])
    qpad = torch.tensor([[False, False, True]])
    assert entropy_fn(probs, None, qpad).item() == pytest.approx(math.log(3), rel=1e-6)
