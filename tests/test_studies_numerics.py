"""The studies' measurements on models small enough to have closed forms."""
import json
import math

import pytest
import torch
from torch import nn

from studies import common, numerics as N


def test_batch_averaged_gradient_equals_full_batch_gradient():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    x, y = torch.randn(12, 4, dtype=torch.float64), torch.randint(0, 3, (12,))
    batches = [{"x": x[i:i + 3], "y": y[i:i + 3]} for i in range(0, 12, 3)]  # equal sizes

    def loss_fn(b):
        return nn.functional.cross_entropy(net(b["x"]), b["y"])  # mean loss

    params = list(net.parameters())
    avg = N.expected_gradient(loss_fn, batches, params)
    full = torch.autograd.grad(loss_fn({"x": x, "y": y}), params)
    for a, f in zip(avg, full):
        torch.testing.assert_close(a, f, rtol=1e-12, atol=1e-14)
    assert all(p.grad is None for p in params)  # nothing accumulated on the model


def test_output_change_of_linear_model_matches_closed_form():
    torch.manual_seed(1)
    lin = nn.Linear(5, 7, bias=True).double()
    x = torch.randn(2, 6, 5, dtype=torch.float64)
    d_w, d_b = torch.randn(7, 5, dtype=torch.float64) * 1e-2, torch.randn(7, dtype=torch.float64) * 1e-2
    w0 = lin.weight.detach().clone()
    got = N.output_change(lambda: lin(x), [lin.weight, lin.bias], [d_w, d_b])
    # F(x, W + d) - F(x, W) = x d_W^T + d_b exactly, for every position
    want = (x @ d_w.T + d_b).pow(2).sum(-1).mean().item()
    assert math.isclose(got, want, rel_tol=1e-10)
    torch.testing.assert_close(lin.weight.detach(), w0, rtol=0, atol=0)  # restored exactly
    valid = torch.zeros(2, 6, dtype=torch.bool)
    valid[0, :3] = True
    got_masked = N.output_change(lambda: lin(x), [lin.weight, lin.bias], [d_w, d_b], valid)
    assert math.isclose(got_masked, (x[0, :3] @ d_w.T + d_b).pow(2).sum(-1).mean().item(), rel_tol=1e-10)


def test_random_deltas_scale_and_adam_first_step():
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(300, 400) * 0.05, torch.zeros(300)
    dw, db = N.random_deltas([w, b], 0.01, g)
    assert db.abs().max() == 0  # vectors are left alone
    rel = dw.pow(2).mean().sqrt() / w.pow(2).mean().sqrt()
    assert abs(rel.item() - 0.01) < 0.0005
    grads = [torch.randn(300, 400), torch.randn(300)]
    deltas = N.adam_step_deltas([w, b], grads, lr=1e-3)
    copies = [w.clone().requires_grad_(True), b.clone().requires_grad_(True)]
    for c, gr in zip(copies, grads):
        c.grad = gr.clone()
    torch.optim.Adam(copies, lr=1e-3, betas=(0.9, 0.98), eps=1e-8).step()  # the real optimiser
    for d, c, p in zip(deltas, copies, [w, b]):
        torch.testing.assert_close(d, c.detach() - p, rtol=1e-4, atol=1e-9)


def test_relative_norms_and_spread_on_hand_made_input():
    rel = N.relative_norms({"a": 2.0, "b": 0.5, "c": 0.02, "d": 0.0})
    assert rel == {"a": 1.0, "b": 0.25, "c": 0.01, "d": 0.0}
    s = N.log_spread(list(rel.values()))
    assert s["zeros"] == 1 and s["n"] == 3
    assert math.isclose(s["log10_range"], 2.0)
    logs = [0.0, math.log10(0.25), -2.0]
    mean = sum(logs) / 3
    assert math.isclose(s["log10_std"], math.sqrt(sum((v - mean) ** 2 for v in logs) / 3))
    with pytest.raises(ValueError):
        N.relative_norms({"a": 0.0})
    with pytest.raises(ValueError):
        N.relative_norms({"a": float("nan")})
    with pytest.raises(ValueError):
        N.relative_norms({})


def test_fits():
    assert math.isclose(N.loglog_slope([6, 8, 10, 12, 14], [3 * n ** -0.5 for n in (6, 8, 10, 12, 14)]), -0.5)
    f = N.linear_fit([1, 2, 3], [2, 4, 6])
    assert math.isclose(f["slope"], 2.0) and math.isclose(f["r2"], 1.0)
    with pytest.raises(ValueError):
        N.loglog_slope([1], [1])


def test_claims_schema_and_atomic_outputs(tmp_path):
    out = tmp_path / "s.csv"
    c = [common.claim("x", "holds", {"ratio": torch.tensor(2.5), "curve": [1.0, float("nan")]}, "ok"),
         common.claim("y", "not_run", {}, "no runs")]
    path = common.write_claims(out, c)
    data = json.loads(path.read_text())
    assert path.name == "s.claims.json"
    assert [d["claim"] for d in data] == ["x", "y"]
    assert data[0]["figures"] == {"ratio": 2.5, "curve": [1.0, None]}
    for d in data:
        assert set(d) == {"claim", "verdict", "figures", "detail"}
        assert d["verdict"] in ("holds", "fails", "not_run")
    with pytest.raises(ValueError):
        common.claim("x", "maybe", {}, "")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_synthetic_batch_layout():
    b = common.synthetic_batch(6, vocab=500, seed=3)
    assert torch.equal(b["src"], common.synthetic_batch(6, vocab=500, seed=3)["src"])  # deterministic
    lens = b["src"].ne(common.PAD).sum(1)
    assert lens.min() >= 11 and lens.max() <= 41
    for i in range(6):
        n = int(b["tgt"][i].ne(common.PAD).sum())
        assert b["tgt"][i, n - 1] == common.EOS and b["prev"][i, 0] == common.EOS
        assert torch.equal(b["prev"][i, 1:n], b["tgt"][i, :n - 1])
        m = int(lens[i])
        assert b["src"][i, m - 1] == common.EOS and (b["src"][i, :m - 1] >= common.FIRST_SYMBOL).all()
    assert b["src"].max() < 500
    with pytest.raises(common.StudyError):
        common.synthetic_batch(0)


def test_output_change_reuses_a_given_reference_output():
    lin = nn.Linear(3, 2).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    d = [torch.full((2, 3), 0.1, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)]
    ref = lin(x).detach()
    assert N.output_change(lambda: lin(x), [lin.weight, lin.bias], d, before=ref) == \
        N.output_change(lambda: lin(x), [lin.weight, lin.bias], d)
