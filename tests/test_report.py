"""The report: training curves, the per-table page read like the paper, one rule-graph node per rule."""
import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from aggregate import curves, report, report_page
from catalog.runid import RunId

TABLE = "xiong_warmup"


def _fake_runs(results: Path, scale: str = "tiny") -> list[str]:
    rids = curves.table_run_ids(TABLE, scale)
    for k, rid in enumerate(rids):
        d = RunId.parse(rid).run_dir(results, scale)
        d.mkdir(parents=True)
        recs = [{"kind": "train", "step": s, "loss": 5.0 - s / 10 - k, "lr": 1e-4 * s} for s in (1, 2, 3)]
        recs += [{"kind": "valid", "step": 3, "valid_loss": 4.0},
                 {"kind": "probe", "step": 2, "entropy": {"enc.0": [1.0, 2.0], "enc.1": [3.0, "nan"]}}]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return rids


def test_curves_read_loss_lr_and_mean_entropy():
    rows = [{"kind": "train", "step": 1, "loss": 2.0, "lr": 0.1}, {"kind": "valid", "step": 1, "valid_loss": 3.0},
            {"kind": "probe", "step": 1, "entropy": {"a": [1.0, 2.0], "b": [3.0, "nan"]}},
            {"kind": "train", "step": 2, "loss": "nan", "lr": 0.2}]
    assert curves.series(rows, "train", lambda r: r.get("loss")) == ([1], [2.0])  # non-finite dropped
    assert curves.series(rows, "train", lambda r: r.get("lr")) == ([1, 2], [0.1, 0.2])
    assert curves.mean_entropy(rows[2]["entropy"]) == 2.0
    assert curves.mean_entropy(None) is None


def test_curves_figure_draws_every_run(tmp_path):
    rids = _fake_runs(tmp_path)
    fig = curves.render(TABLE, "tiny", str(tmp_path))
    loss_ax, valid_ax, lr_ax, ent_ax = fig.axes[:4]
    assert len(loss_ax.lines) == len(rids) and len(lr_ax.lines) == len(rids)
    assert len(ent_ax.lines) == len(rids) and list(ent_ax.lines[0].get_ydata()) == [2.0]
    assert curves.main(["--table", TABLE, "--scale", "tiny", "--results", str(tmp_path),
                        "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000 and (tmp_path / "c.pdf").is_file()


def test_curves_of_an_initialization_study_say_there_are_no_runs(tmp_path):
    fig = curves.render("xiong_gradnorm", "tiny", str(tmp_path))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("initialization study" in t for t in texts)


def test_page_puts_paper_and_regenerated_side_by_side_with_claims(tmp_path):
    base = tmp_path / "paper"
    (base / "compare").mkdir(parents=True)
    (base / "tables").mkdir()
    (base / "figures").mkdir()
    pd.DataFrame([{"table": TABLE, "dataset": "IWSLT'14 De-En", "depth": "6L-6L", "scheme": "post_ln",
                   "setting": "Adam; warm-up 4000", "metric": "BLEU", "reference": "34", "reference_std": "",
                   "reference_outcome": "ok", "reference_source": "paper text", "regenerated": "33.1",
                   "regenerated_std": "0.2", "regenerated_outcome": "ok", "n_seeds": "2", "delta": "-0.9",
                   "tolerance": "1.5", "verdict": "holds", "dataset_key": "iwslt14_de_en",
                   "variant": "xiong_adam_wu4000_lr5e-4"}]).to_csv(base / "compare" / f"{TABLE}.csv", index=False)
    pd.DataFrame([{"dataset": "IWSLT'14 De-En", "depth": "6L-6L", "scheme": "post_ln",
                   "setting": "Adam; warm-up 4000", "metric": "BLEU", "value": "33.1",
                   "metric_definition": "tokenized BLEU-4", "sacrebleu": "31.25",
                   "sacrebleu_signature": "nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:2.6.0",
                   "dataset_key": "iwslt14_de_en", "variant": "xiong_adam_wu4000_lr5e-4"}]).to_csv(
        base / "tables" / f"{TABLE}.csv", index=False)
    pd.DataFrame([{"claim": "xiong_warmup_needed", "verdict": "fails", "detail": "8.4 vs 8.5 BLEU"}]).to_csv(
        base / "compare" / "claims.csv", index=False)
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    fig.savefig(base / "figures" / f"{TABLE}.png")
    text = report_page.page(TABLE, "paper", str(tmp_path))
    assert "34" in text and "33.1 ± 0.2" in text and "paper text" in text and "holds" in text
    assert "tok:13a" in text and "tokenized BLEU-4" in text
    assert "<th>sacrebleu</th>" in text and "<td>31.25</td>" in text  # beside the tokenized BLEU of the cell
    assert text.count("data:image/png;base64,") == 1  # the figure; the curves are reported missing
    assert "training curves: not made" in text
    assert "xiong_warmup_needed" in text and "8.4 vs 8.5 BLEU" in text
    assert "xiong_preln_no_warmup" in text and "not run" in text  # a claim the summary has not decided
    assert "Xiong et al. 2020" in text


class _Job:
    """A stand-in for a Snakemake job: hashable, with .rule.name."""

    def __init__(self, rule):
        self.rule = SimpleNamespace(name=rule)


def _job(rule):
    return _Job(rule)


def test_rule_graph_has_one_node_per_rule_even_across_levels():
    cfg, prof, t1, t2, tab1, tab2 = (_job(r) for r in ("run_config", "admin_profile", "train", "train", "table",
                                                        "table"))
    deps = {cfg: set(), prof: {cfg}, t1: {cfg}, t2: {cfg, prof}, tab1: {t1}, tab2: {t2}}
    levels = [[cfg], [prof, t1], [t2, tab1], [tab2]]  # train and table each on two levels
    dag = SimpleNamespace(jobs=list(deps), dependencies=deps, toposorted=lambda: levels)
    spec, _, ymax = report.rule_graph(dag)
    names = [n["rule"] for n in spec["nodes"]]
    assert sorted(names) == ["admin_profile", "run_config", "table", "train"]
    pairs = {(l["sourcerule"], l["targetrule"]) for l in spec["links"] + spec["links_direct"]}
    assert pairs == {("run_config", "admin_profile"), ("run_config", "train"), ("admin_profile", "train"),
                     ("train", "table")}
    assert names.index("train") > names.index("admin_profile")  # placed at its deepest level
    assert ymax == 50 * (len(names) - 1)


def test_report_wrapper_needs_an_output():
    assert report.main([]) == 2


@pytest.mark.workflow
def test_report_of_the_whole_workflow_has_one_node_per_rule(tmp_path):
    """The real DAG (tiny scale): every output stands in as an empty file, then the wrapper builds
    the report; its rule graph lists each rule once (Snakemake's own lists train, table, ... twice)."""
    import re
    import subprocess
    import sys
    from collections import Counter

    repo = Path(__file__).resolve().parents[1]
    snakefile = tmp_path / "Snakefile"  # the workflow plus the report rules, wherever the lead includes them
    text = (repo / "Snakefile").read_text()
    extra = "" if "report.smk" in text else f'\ninclude: "{repo}/workflow/rules/report.smk"\n'
    snakefile.write_text(f'include: "{repo}/Snakefile"\n{extra}')
    results = tmp_path / "results"
    base = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(repo)]
    cfg = ["--config", "scale=tiny", f"results={results}"]
    summary = subprocess.run(base + ["--summary", "report_pages"] + cfg, capture_output=True, text=True, timeout=600)
    assert summary.returncode == 0, summary.stderr[-2000:]
    for line in summary.stdout.splitlines()[1:]:
        out = Path(line.split("\t")[0])
        if "/raw/" in str(out) or "/data/" in str(out):
            out.mkdir(parents=True, exist_ok=True)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.touch()
    touch = subprocess.run(base + ["--touch", "--nolock", "--cores", "1", "report_pages"] + cfg, capture_output=True, text=True,
                           timeout=600)
    assert touch.returncode == 0, touch.stderr[-2000:]
    html = tmp_path / "report.html"
    proc = subprocess.run([sys.executable, "-m", "aggregate.report", "--out", str(html), "--snakefile", str(snakefile),
                           "--directory", str(repo)] + cfg, capture_output=True, text=True, timeout=600, cwd=repo)
    assert proc.returncode == 0, proc.stderr[-2000:]
    nodes = Counter(re.findall(r'\{"rule": ?"([a-z_0-9]+)", ?"fx"', html.read_text()))
    assert {"train", "table", "figure", "training_curves", "report_page"} <= set(nodes)
    assert max(nodes.values()) == 1, nodes
