"""aggregate: tables from fake run directories, compare verdicts, strict mode, reference copies."""
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from aggregate import compare, figure, table
from aggregate.claims import all_verdicts, decide
from catalog.experiment import run_ids
from experiments.registry import all_claims, experiments
from experiments.registry import spec as load_table



def fake_runs(root, table_id, scale, bleu, status=lambda rid: "ok", seeds=None):
    """Write status.json / eval.json for every run of a table; bleu(rid) gives eval's value."""
    for rid in run_ids(load_table(table_id), scale, seeds):
        d = Path(root) / scale / "runs" / rid
        d.mkdir(parents=True, exist_ok=True)
        (d / "status.json").write_text(json.dumps({"status": status(rid), "step": 3, "reason": ""}))
        (d / "eval.json").write_text(json.dumps({"bleu": bleu(rid)}))


def cell(df, **where):
    sel = df
    for k, v in where.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, where
    return sel.iloc[0]


def test_mean_and_sample_std_over_seeds(tmp_path):
    values = {1111: 30.0, 2222: 32.0, 3333: 34.0}
    fake_runs(tmp_path, "admin_table2", "small", lambda rid: values[int(rid.rsplit("seed", 1)[1])],
              seeds=[1111, 2222, 3333])
    df = table.build_table("admin_table2", "small", str(tmp_path), seeds=[1111, 2222, 3333])
    c = cell(df, dataset="IWSLT'14 De-En", scheme="admin", metric="BLEU")
    assert c["value"] == pytest.approx(32.0) and c["std"] == pytest.approx(2.0)
    assert c["n_seeds"] == 3 and c["outcome"] == "ok" and c["depth"] == "6L-6L"
    assert list(df.columns[:12]) == table.TIDY


def test_failed_when_every_seed_diverged_and_partial_divergence(tmp_path):
    def status(rid):
        if "wmt14_en_de" in rid and "/post_ln/" in rid and "18L" in rid:
            return "diverged"
        return "diverged" if rid.endswith("seed2222") and "iwslt" in rid and "/pre_ln/" in rid else "ok"
    fake_runs(tmp_path, "admin_table2", "small", lambda rid: 20.0, status, seeds=[1111, 2222])
    df = table.build_table("admin_table2", "small", str(tmp_path), seeds=[1111, 2222])
    dead = cell(df, dataset="WMT'14 En-De", depth="18L-18L", scheme="post_ln")
    assert dead["outcome"] == "failed" and (dead["value"] is None or math.isnan(dead["value"]))
    part = cell(df, dataset="IWSLT'14 De-En", scheme="pre_ln")
    assert part["n_seeds"] == 1 and part["outcome"] == "ok (1 of 2 seeds diverged)"


def test_missing_metric_is_marked_not_computed(tmp_path):
    fake_runs(tmp_path, "xiong_warmup", "small", lambda rid: 25.0)
    df = table.build_table("xiong_warmup", "small", str(tmp_path))
    loss = df[df["metric"] == "valid_loss"]
    assert len(loss) == 6 and loss["outcome"].str.startswith("not computed").all()
    assert loss["value"].isna().all()


def test_outcome_metric_and_claim(tmp_path):
    fake_runs(tmp_path, "admin_table1", "tiny", lambda rid: 1.0,
              lambda rid: "ok" if "/pre_ln/" in rid else "diverged")
    (tmp_path / "tiny" / "studies").mkdir(parents=True)
    lines = ["stack,layer,rel_grad_norm,encoder_scheme,decoder_scheme,seed,depth,data"]
    for enc, dec, curve in [("post_ln", "post_ln", [0.1, 0.2, 0.5, 0.7, 0.9, 1.0]),
                            ("pre_ln", "pre_ln", [1.0, 0.9, 0.95, 0.9, 0.92, 0.9])]:
        lines += [f"decoder,{i + 1},{v},{enc},{dec},1,6,synthetic" for i, v in enumerate(curve)]
    (tmp_path / "tiny" / "studies" / "admin_table1_vanishing.csv").write_text("\n".join(lines) + "\n")
    df = table.build_table("admin_table1", "tiny", str(tmp_path))
    training = df[df["metric"] == "training"].set_index("scheme")["value"].to_dict()
    assert training == {"encoder=post_ln;decoder=post_ln": "diverged",
                        "encoder=post_ln;decoder=pre_ln": "diverged", "encoder=pre_ln;decoder=pre_ln": "converged"}
    assert decide("admin_table1_outcome", df.astype(str))["verdict"] == "holds"
    vanishing = df[df["metric"] == "decoder_gradient_vanishing"].set_index("scheme")["value"].to_dict()
    # first third / last third of the decoder curve: 0.15/0.95 -> yes; 0.95/0.91 -> no
    assert vanishing == {"encoder=post_ln;decoder=post_ln": "yes", "encoder=pre_ln;decoder=pre_ln": "no"}
    ratio = cell(df, metric="decoder_first_over_last_third", scheme="encoder=post_ln;decoder=post_ln")
    assert float(ratio["value"]) == pytest.approx(0.15 / 0.95)


def write_table(root, scale, table_id, rows):
    path = Path(root) / scale / "tables" / f"{table_id}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=[*table.TIDY, "dataset_key", "variant"]).to_csv(path, index=False)


def iwslt_row(scheme, value, outcome="ok"):
    return {"paper": "liu2020_admin", "table": "admin_table2", "task": "translation", "dataset": "IWSLT'14 De-En",
            "depth": "6L-6L", "scheme": scheme, "setting": "paper recipe", "metric": "BLEU",
            "value": value, "std": "", "outcome": outcome, "n_seeds": 1, "dataset_key": "iwslt14_de_en",
            "variant": "admin_iwslt"}


def test_compare_tolerance_verdicts_at_paper_scale_only(tmp_path):
    rows = [iwslt_row("post_ln", 35.64 + 0.4), iwslt_row("pre_ln", 35.50 - 0.6), iwslt_row("admin", "", "failed")]
    for scale in ("paper", "tiny"):
        write_table(tmp_path, scale, "admin_table2", rows)
    got = compare.compare_table("admin_table2", "paper", str(tmp_path)).set_index(
        ["dataset", "depth", "scheme"]).sort_index()
    iw = got.loc["IWSLT'14 De-En", "6L-6L"]
    assert iw.loc["post_ln", "verdict"] == "holds" and iw.loc["post_ln", "delta"] == pytest.approx(0.4)
    assert iw.loc["pre_ln", "verdict"] == "fails" and iw.loc["admin", "verdict"] == "fails"
    assert got.loc[("WMT'14 En-De", "12L-12L", "post_ln"), "verdict"] == "not_run"
    tiny = compare.compare_table("admin_table2", "tiny", str(tmp_path))
    assert set(tiny["verdict"]) == {"n/a (tiny scale)", "not_run"}


def test_failed_reference_cell_matches_a_failed_run():
    ref = {"value": "", "outcome": "failed"}
    assert compare.cell_verdict(ref, {"value": "", "outcome": "failed"}, 0.5, "paper")[1] == "holds"
    assert compare.cell_verdict(ref, {"value": "27.0", "outcome": "ok"}, 0.5, "paper")[1] == "fails"


def test_strict_mode_exit_code(tmp_path):
    write_table(tmp_path, "paper", "admin_table2", [iwslt_row("post_ln", 10.0)])
    args = ["--scale", "paper", "--results", str(tmp_path)]
    assert compare.main(args + ["--table", "admin_table2"]) == 0
    assert compare.main(args + ["--table", "admin_table2", "--strict"]) == 1
    assert compare.main(args) == 0
    assert compare.main(args + ["--strict"]) == 1
    summary = (tmp_path / "paper" / "compare" / "summary.md").read_text()
    assert "| admin_table2 |" in summary and "| hessian_postln_sharper | **not run** |" in summary


def test_claims_from_studies_and_not_run(tmp_path):
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "hessian_spectrum.claims.json").write_text(json.dumps(
        [{"claim": "hessian_postln_sharper", "verdict": "holds", "figures": {"top_post": 9.0}, "detail": "x"}]))
    verdicts = {v["claim"]: v for v in all_verdicts(tmp_path / "tables", studies)}
    assert verdicts["hessian_postln_sharper"]["verdict"] == "holds"
    assert verdicts["hessian_postln_sharper"]["figures"] == {"top_post": 9.0}
    assert verdicts["sigma_no_ln_vit"]["verdict"] == "not_run"
    assert set(verdicts) == {c.id for _, c in all_claims()}
    (studies / "bad.claims.json").write_text(json.dumps([{"claim": "x", "verdict": "maybe"}]))
    with pytest.raises(ValueError, match="verdict"):
        all_verdicts(tmp_path / "tables", studies)


def test_figure_png_and_pdf(tmp_path):
    fake_runs(tmp_path, "admin_table2", "tiny", lambda rid: 12.0, lambda rid: "diverged" if "60L" in rid else "ok")
    out = tmp_path / "tiny" / "tables" / "admin_table2.csv"
    assert table.main(["--table", "admin_table2", "--scale", "tiny", "--results", str(tmp_path), "--out", str(out)]) == 0
    png = tmp_path / "fig" / "admin_table2.png"
    assert figure.main(["--table", "admin_table2", "--scale", "tiny", "--results", str(tmp_path), "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and png.with_suffix(".pdf").read_bytes()[:4] == b"%PDF"


def test_reference_csvs_are_tidy_with_their_provenance():
    """Every reference row says where its number was read (paper table / text / secondary source)."""
    from aggregate.reference import REFERENCE_SOURCES, reference_rows

    for exp in experiments().values():
        if not exp.spec.reference.is_file():
            continue
        df = pd.read_csv(exp.spec.reference, dtype=str, keep_default_na=False)
        assert {"paper", "table", "metric", "value", "outcome", "source"} <= set(df.columns), exp.id
        assert (df["source"] != "").all() and set(df["table"]) == {exp.id}, exp.id
        assert set(reference_rows(exp.spec)["reference_source"]) <= set(REFERENCE_SOURCES), exp.id


def test_warmup_claims_need_a_run_that_learned():
    def xiong_warmup_needed(table):
        return decide("xiong_warmup_needed", table)

    def xiong_preln_no_warmup(table):
        return decide("xiong_preln_no_warmup", table)

    def df(no, wu, pre):
        rows = [("post_ln", "xiong_adam_nowu_lr5e-4", no), ("post_ln", "xiong_adam_wu4000_lr5e-4", wu),
                ("pre_ln", "xiong_preln_nowu_step8", pre)]
        return pd.DataFrame([{"metric": "BLEU", "scheme": s, "variant": v, "value": str(b), "outcome": "ok"}
                             for s, v, b in rows])
    assert xiong_warmup_needed(df(8.45, 34.0, 34.5))["verdict"] == "holds"
    assert xiong_preln_no_warmup(df(8.45, 34.0, 34.5))["verdict"] == "holds"
    assert xiong_warmup_needed(df(30.0, 34.0, 20.0))["verdict"] == "fails"
    assert xiong_preln_no_warmup(df(30.0, 34.0, 20.0))["verdict"] == "fails"
    # the control (Post-LN with warm-up) learned nothing: the experiment cannot speak
    assert xiong_warmup_needed(df(0.0, 0.0, 0.0))["verdict"] == "inconclusive"
    assert xiong_preln_no_warmup(df(0.0, 0.0, 0.0))["verdict"] == "inconclusive"


def test_study_rows_average_over_seeds_and_name_missing_columns():
    from aggregate.studyrows import StudyRowsError, rows_from_study

    df = pd.DataFrame({"scheme": ["post_ln"] * 4, "depth": [6, 6, 12, 12], "seed": [1, 2, 1, 2],
                       "change": [1.0, 3.0, 5.0, 7.0], "data": ["synthetic"] * 4})
    entry = {"study": "s", "value": "change", "metric": "output_change", "scheme": "{scheme}",
             "depth": "{depth}L-{depth}L", "setting": "init", "dataset": "{data}", "extra": {"layers": "{depth}"}}
    rows = {r["depth"]: r for r in rows_from_study(df, entry, "s.csv")}
    assert rows["6L-6L"]["value"] == pytest.approx(2.0) and rows["12L-12L"]["n_seeds"] == 2
    assert rows["12L-12L"]["std"] == pytest.approx(2 ** 0.5) and rows["6L-6L"]["layers"] == "6"
    with pytest.raises(StudyRowsError, match="no column \\['stack'\\]"):
        rows_from_study(df, {**entry, "metric": "change_{stack}"}, "s.csv")
    with pytest.raises(StudyRowsError, match="no value column 'beta'"):
        rows_from_study(df, {**entry, "value": "beta"}, "s.csv")


def test_dataset_layout_checks(tmp_path):
    from tasks.datasets import check_configured, raw_argument, raw_source
    from bench.workflow_dag import make_stand_in_datasets

    data = make_stand_in_datasets(tmp_path)
    check_configured(data)  # complete stand-in layouts pass
    assert raw_argument("iwslt14_de_en", data["iwslt14_de_en"], False) == str(Path(data["iwslt14_de_en"]).parent)
    (Path(data["wmt14_en_fr"]) / "dev" / "newstest2013.fr").unlink()
    with pytest.raises(ValueError, match=r"dev/newstest2013.fr\* not found.*statmt.org/wmt14"):
        check_configured({"wmt14_en_fr": data["wmt14_en_fr"]})
    small = {"scale": "small", "tasks": {"translation": {"data": "configured"}}}
    assert raw_source("iwslt14_de_en", small, {"iwslt14_de_en": None}) == "generated"
    paper = {"scale": "paper", "tasks": {"translation": {"data": "real"}}}
    with pytest.raises(ValueError, match="required at scale paper"):
        raw_source("iwslt14_de_en", paper, {"iwslt14_de_en": None})
