"""The studies' readers of other packages' files: prepared data, metrics.jsonl, run dirs;
and the Theorem 3.1 check against an exact minimum found by optimisation."""
import json
import math

import numpy as np
import pytest
import torch

from studies import admin_relative_norms, common, sigma_entropy
from studies.data import prepared_pairs


def _prepared_dir(path, pairs, vocab=40):
    from tasks.translation.dataset import write_indexed

    path.mkdir()
    dtype = np.dtype(np.uint16)
    for lang, side in (("de", 0), ("en", 1)):
        write_indexed(path / f"train.de-en.{lang}", [np.array(p[side] + [2]) for p in pairs], dtype)
    (path / "meta.json").write_text(json.dumps({"src": "de", "tgt": "en", "dtype": "uint16", "vocab_size": vocab}))
    return path


def test_prepared_pairs_become_fairseq_batches(tmp_path):
    pairs = [([5, 6, 7], [8, 9]), (list(range(4, 4 + 70)), [5]), ([10], [11, 12, 13]), ([14, 15], [16])]
    d = _prepared_dir(tmp_path / "data", pairs)
    batches, vocab, label = common.load_batches(d, 1, 3, seed=0)
    assert vocab == 40 and label == "prepared:data"
    b = batches[0]  # the 70-token pair is skipped (max_len 64); pairs sorted by length
    assert b["src"].tolist() == [[14, 15, 2, 1], [5, 6, 7, 2], [10, 2, 1, 1]]
    assert b["tgt"].tolist() == [[16, 2, 1, 1], [8, 9, 2, 1], [11, 12, 13, 2]]
    assert b["prev"].tolist() == [[2, 16, 1, 1], [2, 8, 9, 1], [2, 11, 12, 13]]
    with pytest.raises(common.StudyError, match="only 3 pairs"):
        prepared_pairs(d, 4)


def _write_run(root, scheme, variant, records, status="ok"):
    # a run directory as the workflow lays it out (catalog.runid), so the study reads its identity
    run = root / "tiny" / "runs" / "translation" / "iwslt14_de_en" / "transformer_iwslt_de_en-6L-6L" / scheme / variant / "seed1"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (run / "status.json").write_text(json.dumps({"status": status, "step": 0, "reason": ""}))
    return run


def _records(entropies, spectral, losses):
    out = []
    for step, (e, s, l) in enumerate(zip(entropies, spectral, losses)):
        out.append({"kind": "train", "step": step, "loss": l})
        out.append({"kind": "probe", "step": step, "entropy": {"encoder.0.self_attn": [e, e + 0.1]},
                    "spectral": {"encoder.layers.0.ffn.fn.fc1": s, "encoder.layers.0.ffn.fn.fc2": s}})
    return out


def test_sigma_entropy_claims_from_hand_made_runs(tmp_path):
    runs = [
        _write_run(tmp_path, "post_ln", "lr2x", _records([2.0, 0.05, 0.02], [1.0, 4.0, 9.0], [5, 8, "nan"]), "diverged"),
        _write_run(tmp_path, "sigma_reparam_post_ln", "lr2x", _records([2.0, 1.5, 1.2], [1.0, 1.2, 1.5], [5, 4, 3])),
    ]
    df, claims = sigma_entropy.run(runs, check_bound=False)
    by = {c["claim"]: c for c in claims}
    assert by["sigma_entropy_collapse"]["verdict"] == "holds"
    f = by["sigma_entropy_collapse"]["figures"]["post_ln_vs_sigma_reparam_post_ln@lr2x"]
    assert math.isclose(f["baseline_min_entropy"], 0.07) and math.isclose(f["sigma_min_entropy"], 1.25)
    g = by["sigma_spectral_growth"]["figures"]["post_ln_vs_sigma_reparam_post_ln@lr2x"]
    assert math.isclose(g["baseline_growth"], 9.0) and math.isclose(g["sigma_growth"], 1.5)
    assert by["sigma_spectral_growth"]["verdict"] == "holds"
    assert by["sigma_entropy_bound"]["verdict"] == "not_run"
    # swapping the roles makes both claims fail
    runs2 = [_write_run(tmp_path / "b", "post_ln", "lr2x", _records([2.0, 1.5, 1.2], [1.0, 1.2, 1.5], [5, 4, 3])),
             _write_run(tmp_path / "b", "sigma_reparam_post_ln", "lr2x", _records([2.0, 0.05, 0.02], [1.0, 4, 9], [5, 8, 9]))]
    _, claims2 = sigma_entropy.run(runs2, check_bound=False)
    assert [c["verdict"] for c in claims2] == ["fails", "fails", "not_run"]


def test_sigma_entropy_rejects_a_dir_without_metrics(tmp_path):
    with pytest.raises(common.StudyError, match="metrics.jsonl"):
        sigma_entropy.run([tmp_path], check_bound=False)


def test_relative_norms_from_a_metrics_file(tmp_path):
    recs = [{"kind": "train", "step": 1, "loss": 3.0},
            {"kind": "probe", "step": 1, "grad_norms": {"a": 100.0, "b": 1.0, "c": 0.01},
             "update_norms": {"a": 1.0, "b": 0.5, "c": 0.25}},
            {"kind": "probe", "step": 2, "grad_norms": {"a": "nan", "b": 1.0, "c": 0.1},
             "update_norms": {"a": 1.0, "b": 1.0, "c": 0.5}}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in recs))
    df, (claim,) = admin_relative_norms.run("tiny", run_dir=tmp_path)
    step1 = df[df["step"] == 1].set_index("param")
    assert step1["rel_grad_norm"].to_dict() == {"a": 1.0, "b": 0.01, "c": 0.0001}
    assert step1["rel_update_norm"].to_dict() == {"a": 1.0, "b": 0.5, "c": 0.25}
    assert sorted(df[df["step"] == 2]["param"]) == ["b", "c"]  # the non-finite entry is dropped
    assert claim["verdict"] == "holds"
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"kind": "train", "step": 1, "loss": 1.0}))
    with pytest.raises(common.StudyError, match="update_norms"):
        admin_relative_norms.run("tiny", run_dir=tmp_path)


@pytest.mark.parametrize("s0", [1.0, 4.0])
def test_entropy_bound_is_below_the_optimised_minimum(s0):
    """Minimise the smallest row entropy of softmax(X M X^T) over X, W_q, W_k at fixed
    s = ||W_q W_k^T|| ||X X^T|| (rescaling W_q); the minimum found never goes below the bound."""
    from models.entropy import entropy_lower_bound

    T, d, na = 4, 3, 2
    bound = float(entropy_lower_bound(s0, T))
    best = math.inf
    for restart in range(3):
        g = torch.Generator().manual_seed(restart)
        X = torch.randn(T, d, generator=g, dtype=torch.float64, requires_grad=True)
        wq = torch.randn(d, na, generator=g, dtype=torch.float64, requires_grad=True)
        wk = torch.randn(d, na, generator=g, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([X, wq, wk], lr=0.1)
        for _ in range(120):
            s = torch.linalg.matrix_norm(wq @ wk.T, 2) * torch.linalg.matrix_norm(X @ X.T, 2)
            p = torch.softmax((s0 / s) * (X @ wq) @ (X @ wk).T, dim=-1)
            ent = -torch.xlogy(p, p).sum(-1).min()
            best = min(best, ent.item())
            opt.zero_grad()
            ent.backward()
            opt.step()
    assert best >= bound - 1e-9
    assert best <= math.log(T)


def test_entropy_bound_check_cached_sigma_matches_direct_formula():
    from studies.entropy_bound import check, qk_sigma

    g = torch.Generator().manual_seed(0)
    X = torch.randn(7, 5, generator=g, dtype=torch.float64)
    wq, wk = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64)
    direct, cached = check(X, wq, wk, 0.5), check(X, wq, wk, 0.5, qk_sigma(wq, wk))
    assert math.isclose(direct["s"], cached["s"], rel_tol=1e-10)
    assert direct["min_entropy"] >= direct["bound"]


def test_sigma_entropy_command_with_runs_draws_curves(tmp_path):
    runs = [_write_run(tmp_path, "post_ln", "lr2x", _records([2.0, 0.05, 0.02], [1.0, 4.0, 9.0], [5, 8, 9])),
            _write_run(tmp_path, "sigma_reparam_post_ln", "lr2x", _records([2.0, 1.5, 1.2], [1.0, 1.2, 1.5], [5, 4, 3]))]
    out = tmp_path / "out" / "sigma_entropy.csv"
    sigma_entropy.main(["--quick", "--out", str(out), "--runs", *map(str, runs)])
    verdicts = {c["claim"]: c["verdict"] for c in json.loads(out.with_name("sigma_entropy.claims.json").read_text())}
    assert verdicts == {"sigma_entropy_collapse": "holds", "sigma_spectral_growth": "holds", "sigma_entropy_bound": "holds"}
    assert out.with_suffix(".png").stat().st_size > 0
    import pandas as pd

    df = pd.read_csv(out)
    assert set(df["part"]) == {"training", "bound_check"}
