"""Training-claim verdicts (experiments/<id>/claims.py, through aggregate.claims) and the paper-style
figures (aggregate/panels.py).

The verdicts are read from fake run directories (status.json, eval.json, config.yaml,
metrics.jsonl) laid out as the workflow writes them, so the numbers of each detail sentence
come from the same files as in a real run.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from aggregate import claims, compare, figure, table
from catalog.experiment import run_ids
from catalog.runid import RunId
from experiments.registry import spec as load_table
from experiments.xiong_warmup.claims import NO_WU, PRE, WU


def write_run(root: Path, scale: str, rid: str, status: str = "ok", bleu: float | None = None,
              reason: str = "", warmup: int = 0, lr: float = 2e-3, valid=(), nll=(5.0, 4.0)) -> None:
    d = RunId.parse(rid).run_dir(root, scale)
    d.mkdir(parents=True, exist_ok=True)
    (d / "status.json").write_text(json.dumps({"status": status, "step": 150 if status != "ok" else 300,
                                               "reason": reason}))
    if status == "ok":
        (d / "eval.json").write_text(json.dumps({"bleu": bleu, "valid_loss": 4.5}))
    (d / "config.yaml").write_text(f"optim: {{lr: {lr}}}\nschedule: {{warmup_updates: {warmup}}}\n"
                                   "train: {max_updates: 300}\n")
    recs = [{"kind": "train", "step": 10 * (i + 1), "loss": v, "nll": v} for i, v in enumerate(nll)]
    recs += [{"kind": "valid", "step": 60 * e, "epoch": e, "valid_loss": v} for e, v in enumerate(valid, 1)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def xiong_runs(root, scale, bleu: dict, status: dict | None = None, valid: dict | None = None):
    """bleu/status/valid keyed by (scheme, variant); other runs of the table get BLEU 1.0."""
    for rid in run_ids(load_table("xiong_warmup"), scale):
        r = RunId.parse(rid)
        key = (r.scheme, r.variant)
        warmup = 1 if "nowu" in r.variant else 60
        write_run(root, scale, rid, (status or {}).get(key, "ok"), bleu.get(key, 1.0),
                  reason="no progress: train nll 5.7012 >= 3.9200 (divergence.progress_level=0.5 ...)",
                  warmup=0 if r.scheme == "pre_ln" else warmup, valid=(valid or {}).get(key, (5.0, 4.6)))


XIONG_NO_WU, XIONG_WU, XIONG_PRE = NO_WU, WU, PRE
NO, WU, PRE = ("post_ln", XIONG_NO_WU), ("post_ln", XIONG_WU), ("pre_ln", XIONG_PRE)


def xiong_verdicts(tmp_path, **kw):
    xiong_runs(tmp_path, "tiny", **kw)
    out = tmp_path / "tiny" / "tables" / "xiong_warmup.csv"
    assert table.main(["--table", "xiong_warmup", "--scale", "tiny", "--results", str(tmp_path), "--out", str(out)]) == 0
    v = {c["claim"]: c for c in claims.all_verdicts(out.parent, tmp_path / "tiny" / "studies", "tiny", tmp_path)}
    return v["xiong_warmup_needed"], v["xiong_preln_no_warmup"]


def test_xiong_claims_hold_with_numbers_from_the_runs(tmp_path):
    need, pre = xiong_verdicts(tmp_path, bleu={NO: 0.0, WU: 3.03, PRE: 3.5},
                               valid={WU: (5.0, 4.6, 4.35), PRE: (4.5, 4.3, 4.1)})
    assert need["verdict"] == "holds" and pre["verdict"] == "holds"
    assert "BLEU 0.00" in need["detail"] and "BLEU 3.03" in need["detail"] and "warm-up 60" in need["detail"]
    assert need["figures"]["post_ln_warmup"]["warmup_updates"] == 60
    # the "fewer epochs" half: Pre-LN reaches Post-LN's final validation loss (4.35) at epoch 2
    assert pre["figures"]["epochs_to_post_ln_final_valid_loss"] == {"pre_ln": 2, "post_ln": 3}
    assert "epoch 2" in pre["detail"]


def test_xiong_claims_fail_only_when_the_runs_learned(tmp_path):
    need, pre = xiong_verdicts(tmp_path, bleu={NO: 2.9, WU: 3.0, PRE: 1.0})
    assert need["verdict"] == "fails" and pre["verdict"] == "fails"


def test_xiong_control_that_did_not_learn_is_inconclusive(tmp_path):
    need, pre = xiong_verdicts(tmp_path, bleu={NO: 0.0, PRE: 2.0}, status={WU: "diverged"})
    for v in (need, pre):
        assert v["verdict"] == "inconclusive", v
        assert "control" in v["detail"] and "no progress: train nll 5.7012 >= 3.9200" in v["detail"]
    # BLEU 0 with status ok is not learning either
    need, _ = xiong_verdicts(tmp_path, bleu={NO: 0.0, WU: 0.0, PRE: 0.0})
    assert need["verdict"] == "inconclusive" and "BLEU 0.00" in need["detail"]


def table1_verdict(tmp_path, outcome: dict, bleu: dict | None = None):
    for rid in run_ids(load_table("admin_table1"), "tiny"):
        r = RunId.parse(rid)
        write_run(tmp_path, "tiny", rid, outcome[r.scheme], (bleu or {}).get(r.scheme, 2.0),
                  reason="no progress: train nll 5.70 >= 3.92 (x)")
    out = tmp_path / "tiny" / "tables" / "admin_table1.csv"
    df = pd.DataFrame(table.run_rows(load_table("admin_table1"), "tiny", str(tmp_path), None))  # no study rows
    return claims.decide("admin_table1_outcome", df.astype(str), "tiny", tmp_path), df, out


def test_admin_table1_outcome_verdicts(tmp_path):
    v, _, _ = table1_verdict(tmp_path, {"post_ln": "diverged", "post_ln+pre_ln": "diverged", "pre_ln": "ok"})
    assert v["verdict"] == "holds" and "Pre-LN/Pre-LN converged (BLEU 2.00)" in v["detail"]
    v, _, _ = table1_verdict(tmp_path, {"post_ln": "diverged", "post_ln+pre_ln": "ok", "pre_ln": "ok"})
    assert v["verdict"] == "fails" and v["detail"].startswith("Post-LN/Pre-LN trained")
    v, _, _ = table1_verdict(tmp_path, {"post_ln": "diverged", "post_ln+pre_ln": "diverged", "pre_ln": "diverged"})
    assert v["verdict"] == "inconclusive" and "Pre-LN/Pre-LN" in v["detail"] and "5.70" in v["detail"]
    # "converged" by the detector but BLEU 0: it did not learn to translate, as a diverged run
    v, _, _ = table1_verdict(tmp_path, {"post_ln": "ok", "post_ln+pre_ln": "diverged", "pre_ln": "ok"},
                             bleu={"post_ln": 0.0})
    assert v["verdict"] == "holds" and "Post-LN/Post-LN did not learn (BLEU 0.00" in v["detail"]
    assert v["figures"]["encoder=post_ln;decoder=post_ln"]["trained"] is False


def test_admin_deep_stable_control_per_depth():
    rows = []
    for depth, vals in {"6L-6L": (30.0, 31.0, 32.0), "18L-18L": (None, 0.0, 1.0)}.items():
        for scheme, b in zip(("post_ln", "pre_ln", "admin"), vals):
            rows.append({"metric": "BLEU", "dataset": "WMT'14 En-De", "dataset_key": "wmt14_en_de", "depth": depth, "scheme": scheme,
                         "value": "" if b is None else str(b), "outcome": "failed" if b is None else "ok"})
    v = claims.decide("admin_deep_stable", pd.DataFrame(rows))
    assert v["verdict"] == "inconclusive" and "Pre-LN did not learn at WMT'14 En-De 18L-18L" in v["detail"]
    rows[4]["value"] = "2.0"  # Pre-LN learns at 18L; Admin (1.0) is below it
    assert claims.decide("admin_deep_stable", pd.DataFrame(rows))["verdict"] == "fails"


def test_sigma_verdict_is_gated_on_its_control(tmp_path):
    rid = "toy/toy_markov/lm_tiny-4L/sigma_reparam/sigma_toy_lr3e-2/seed1"
    study = {"claim": "sigma_entropy_collapse", "verdict": "holds", "detail": "x",
             "figures": {"pre_ln_vs_sigma_reparam@sigma_toy_lr3e-2": {
                 "baseline_min_entropy": 0.003, "sigma_min_entropy": 3.2, "baseline_final_loss": 6.2,
                 "sigma_final_loss": 4.8, "baseline_diverged": False, "lr": 3e-2, "ok": True}}}
    def gate_sigma(study, _):  # the study's verdict through the claim's gate, over the run of its grid
        return claims.decide("sigma_entropy_collapse", pd.DataFrame(), "tiny", tmp_path, study)
    runs = None
    write_run(tmp_path, "tiny", rid)
    v = gate_sigma(study, runs)
    assert v["verdict"] == "holds" and "0.003" in v["detail"] and "3.200" in v["detail"] and "Adam lr 3e-2" in v["detail"]
    write_run(tmp_path, "tiny", rid, status="diverged", reason="stuck at chance: train nll 6.2 >= 5.9 (x)")
    v = gate_sigma(study, runs)
    assert v["verdict"] == "inconclusive" and "stuck at chance: train nll 6.2 >= 5.9 at update 150" in v["detail"]
    write_run(tmp_path, "tiny", rid, bleu=0.0)  # a translation control that finished without learning
    v = gate_sigma(study, runs)
    assert v["verdict"] == "inconclusive" and "BLEU 0.00 after 300 updates" in v["detail"]


def test_summary_has_one_sentence_per_claim_and_full_figures_in_csv(tmp_path):
    xiong_runs(tmp_path, "tiny", bleu={NO: 0.0, WU: 3.03, PRE: 3.5})
    out = tmp_path / "tiny" / "tables" / "xiong_warmup.csv"
    table.main(["--table", "xiong_warmup", "--scale", "tiny", "--results", str(tmp_path), "--out", str(out)])
    assert compare.main(["--scale", "tiny", "--results", str(tmp_path)]) == 0
    summary = (tmp_path / "tiny" / "compare" / "summary.md").read_text()
    line = next(x for x in summary.splitlines() if x.startswith("| xiong_warmup_needed |"))
    assert "**holds**" in line and "{" not in line and "BLEU 3.03" in line
    csv = pd.read_csv(tmp_path / "tiny" / "compare" / "claims.csv")
    figs = json.loads(csv.set_index("claim").loc["xiong_warmup_needed", "figures"])
    assert figs["post_ln_warmup"]["bleu"] == 3.03 and figs["post_ln_no_warmup"]["bleu"] == 0.0


def test_outcome_figure_and_panels(tmp_path):
    _, df, out = table1_verdict(tmp_path, {"post_ln": "diverged", "post_ln+pre_ln": "diverged", "pre_ln": "ok"})
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    png = tmp_path / "fig" / "admin_table1.png"
    assert figure.main(["--table", "admin_table1", "--scale", "tiny", "--results", str(tmp_path), "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    # a panels figure: one panel per picked layer, x ticks and labels from the spec
    from aggregate import panels

    rows = [{"metric": "attention_entropy", "scheme": s, "setting": f"lr {lr}", "layer": f"decoder.{i}.self_attn",
             "step": str(step), "value": str(2.0 - step * lr * i), "depth": ""}
            for s in ("pre_ln", "sigma_reparam") for lr in (1, 3) for i in range(3) for step in (0, 10, 20)]
    spec = type("S", (), {"id": "t", "title": "t", "dir": "experiments/t", "figure": {
        "kind": "panels", "color_by": "setting", "style_by": "scheme",
        "panels": [{"metric": "attention_entropy", "x": "step", "split": "layer", "pick": [0, -1]},
                   {"metric": "attention_entropy", "x": "step", "min_over": "layer", "title": "min"}]}})()
    fig = panels.render(spec, pd.DataFrame(rows), "tiny")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["attention_entropy: decoder.0.self_attn", "attention_entropy: decoder.2.self_attn", "min"]
    lines = fig.axes[2].get_lines()
    assert len(lines) == 4 and min(lines[-1].get_ydata()) == pytest.approx(2.0 - 20 * 3 * 2)
    colors = {tuple(ln.get_color()) for ln in fig.axes[0].get_lines()}
    assert len(colors) == 2  # one colour per setting, the schemes differ by line style
    with pytest.raises(ValueError, match="needs `metric` and `x`"):
        panels.render(type("S", (), {"id": "t", "title": "t", "dir": "experiments/t", "figure": {"panels": [{"metric": "m"}]}})(),
                      pd.DataFrame(rows), "tiny")


def test_tiny_calibration_names_the_claims_variants():
    """config/scales/tiny.yaml calibrates exactly variants that exist and that a claim's table runs."""
    from catalog.config import scale as load_scale
    from catalog.config import variants

    tuned = load_scale("tiny")["tasks"]["translation"]["variant_overrides"]
    assert set(tuned) <= set(variants()), set(tuned) - set(variants())
    used = {v for t in ("xiong_warmup", "admin_table1", "admin_table2") for b in load_table(t).runs for v in b["variants"]}
    assert set(tuned) <= used
    for name in (XIONG_NO_WU, XIONG_WU, XIONG_PRE):  # one calibration for the compared runs
        assert tuned[name] == tuned[XIONG_WU], name


def test_one_hypothesis_for_every_source_is_not_learning(tmp_path):
    """A decoder that ignores its (Post-LN) encoder writes one sentence for every input; its BLEU
    on the generated corpus is above zero, but it did not learn to translate."""
    _, df, _ = table1_verdict(tmp_path, {"post_ln": "diverged", "post_ln+pre_ln": "ok", "pre_ln": "ok"})
    for rid in run_ids(load_table("admin_table1"), "tiny"):
        r = RunId.parse(rid)
        lines = ["Ein Neu ."] * 5 if r.scheme == "post_ln+pre_ln" else [f"s {i}" for i in range(5)]
        (r.run_dir(tmp_path, "tiny") / "hypotheses.txt").write_text("\n".join(lines) + "\n")
    v = claims.decide("admin_table1_outcome", df.astype(str), "tiny", tmp_path)
    assert v["verdict"] == "holds" and "one hypothesis for every source" in v["detail"]
    assert v["figures"]["encoder=post_ln;decoder=pre_ln"]["trained"] is False


def _asr_table(sigma_clean, sigma_other, post=(6.0, 18.0), pre=(7.0, 19.0)):
    rows = []
    for scheme, var, (dc, do) in [("post_ln", "asr_adagrad_wu64k", post), ("pre_ln", "asr_adagrad_wu64k", pre),
                                  ("sigma_reparam_post_ln", "asr_sgd_nowu", (sigma_clean, sigma_other))]:
        rows += [{"metric": m, "variant": var, "scheme": scheme, "value": str(v), "outcome": "ok"}
                 for m, v in (("WER dev-clean", dc), ("WER dev-other", do))]
    return pd.DataFrame(rows)


def test_speech_half_of_sigma_deep_no_warmup():
    def sigma_deep_no_warmup(table):
        return claims.decide("sigma_deep_no_warmup", table)

    assert sigma_deep_no_warmup(_asr_table(6.3, 19.0))["verdict"] == "holds"  # within 20% of Post-LN
    v = sigma_deep_no_warmup(_asr_table(16.1, 62.6))
    assert v["verdict"] == "fails" and "16.1 vs post_ln 6.0" in v["detail"]
    none_learned = sigma_deep_no_warmup(_asr_table(6.3, 19.0, post=(100.0, 100.0), pre=(100.0, 100.0)))
    assert none_learned["verdict"] == "inconclusive"
