"""Every experiment in the registry: it resolves at every scale, its reference rows join its grid
on keys, its claims are wired and spelled once; and display labels are display only (renaming a
dataset's label leaves every table, compare and verdict unchanged)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from aggregate import claims as claims_mod
from aggregate import compare, table
from aggregate.reference import reference_rows
from catalog import config as catalog
from catalog.experiment import run_ids
from catalog.runid import RunId
from catalog.words import SCALES
from experiments.claim import Claim
from experiments.registry import EXPERIMENTS, all_claims, experiment, experiments
from tasks.resolve import resolve

REPO = Path(__file__).resolve().parents[1]
IDS = list(EXPERIMENTS)


def test_every_registry_entry_is_a_folder_of_that_name():
    folders = {p.parent.name for p in (REPO / "experiments").glob("*/experiment.yaml")}
    assert folders == set(IDS), f"folders without a registry entry or entries without a folder: {folders ^ set(IDS)}"
    for i in IDS:
        assert EXPERIMENTS[i] == f"experiments.{i}" and experiment(i).spec.dir == REPO / "experiments" / i


@pytest.mark.parametrize("scale", SCALES)
def test_every_experiment_resolves_at_every_scale(scale):
    seen = set()
    for exp in experiments().values():
        for key in ("runs", "study_runs"):
            for rid in run_ids(exp.spec, scale, key=key):
                if rid not in seen:
                    seen.add(rid)
                    cfg = resolve(scale, rid)
                    assert cfg["task"] == RunId.parse(rid).task, rid
    assert seen, scale


def grid_keys(spec) -> set[tuple]:
    """(dataset_key, depth, scheme, variant) of every cell the grid makes at paper scale."""
    from experiments.claim import scheme_label

    return {(r.dataset, r.arch.split("-", 1)[1], scheme_label(r.scheme, spec.scheme_label), r.variant)
            for r in map(RunId.parse, run_ids(spec, "paper"))}


@pytest.mark.parametrize("exp_id", IDS)
def test_reference_rows_join_the_grid_on_keys(exp_id):
    spec = experiment(exp_id).spec
    ref = reference_rows(spec)
    if ref.empty:
        return
    keys = list(spec.compare_keys)
    assert not ref.duplicated(keys).any(), ref[ref.duplicated(keys, keep=False)][keys]
    metrics = {m["name"] for m in spec.metrics}
    cells = grid_keys(spec)
    for r in ref.to_dict("records"):
        assert r["dataset_key"] in catalog.datasets(), r
        if r["metric"] not in metrics or "not one cell" in r["source"]:
            continue  # a number no table cell measures (a benchmark's step time, a range over variants)
        if r["variant"]:  # a cell a run of the grid measures: it is in the grid
            assert (r["dataset_key"], r["depth"], r["scheme"], r["variant"]) in cells, r
        else:  # a cell a study measures
            assert spec.studies, r


@pytest.mark.parametrize("exp_id", IDS)
def test_every_claim_is_wired(exp_id):
    exp = experiment(exp_id)
    for c in exp.claims:
        assert isinstance(c, Claim) and c.text and c.measured and c.source and c.paper, c.id
        if c.study:
            assert c.study in exp.spec.studies, f"{c.id}: study {c.study} is not one of {exp_id}'s studies"
        else:
            assert callable(c.decide), f"{c.id}: neither a study nor a decide function"


def test_claims_read_runs_only_through_their_evidence():
    """A claims.py reads no file itself: the runs of its grid come through Evidence."""
    for path in (REPO / "experiments").glob("*/claims.py"):
        text = path.read_text()
        for pattern in (r"\bopen\(", r"read_text\(", r"RunRecord\.read", r"\bjson\.load", r"results/"):
            assert not re.search(pattern, text), f"{path.relative_to(REPO)} reads files itself ({pattern})"


def test_a_claim_id_is_spelled_once():
    """Outside its experiment's folder, a claim id appears in code only in the study that writes
    its verdict (tests and docs aside); ids that are also study names are checked by the study."""
    studies = {s for e in experiments().values() for s in e.spec.studies}
    code = [p for top in ("aggregate", "catalog", "tasks", "studies", "experiments", "bench", "common", "models",
                          "workflow", "config") for p in (REPO / top).rglob("*")
            if p.suffix in (".py", ".smk", ".yaml") and "__pycache__" not in p.parts] + [REPO / "Snakefile"]
    texts = {p: p.read_text() for p in code}
    ids = [(e, c) for e, c in all_claims()]
    assert len({c.id for _, c in ids}) == len(ids)
    for exp, c in ids:
        if c.id in studies:
            continue
        allowed = {exp.spec.dir} | ({REPO / "studies"} if c.study else set())
        where = [p for p, t in texts.items() if re.search(rf"\b{re.escape(c.id)}\b", t)
                 and not any(a in p.parents for a in allowed)]
        assert not where, f"claim {c.id} is spelled outside {exp.id}/: {[str(p.relative_to(REPO)) for p in where]}"


# ----------------------------------------------------------------------------- labels are display only
def fake_grid(root: Path, scale: str, exp_ids: list[str]) -> None:
    """Every run of the experiments' grids ends ok with a distinct value for every eval metric."""
    for i, exp_id in enumerate(exp_ids):
        spec = experiment(exp_id).spec
        for j, rid in enumerate(run_ids(spec, scale)):
            d = RunId.parse(rid).run_dir(root, scale)
            d.mkdir(parents=True, exist_ok=True)
            ev = json.loads((d / "eval.json").read_text()) if (d / "eval.json").is_file() else {}
            for m in spec.metrics:
                if m.get("from") == "eval":
                    ev[m["key"]] = 5.0 + i + 0.25 * j
            diverged = j % 5 == 4
            (d / "status.json").write_text(json.dumps({"status": "diverged" if diverged else "ok", "step": 7,
                                                       "reason": "non-finite loss" if diverged else ""}))
            (d / "eval.json").write_text(json.dumps(ev))


def everything(root: Path, scale: str, exp_ids: list[str]) -> tuple[dict, dict, list]:
    tables, compares = {}, {}
    for t in exp_ids:
        out = root / scale / "tables" / f"{t}.csv"
        table.write_csv(table.build_table(t, scale, str(root)), out)
        tables[t] = pd.read_csv(out, dtype=str, keep_default_na=False)
        compares[t] = compare.compare_table(t, scale, str(root))
    verdicts = [v for v in claims_mod.all_verdicts(root / scale / "tables", root / scale / "studies", scale, root)
                if v["verdict"] != "not_run"]
    return tables, compares, verdicts


def test_renaming_a_dataset_label_changes_no_table_compare_or_verdict(tmp_path, monkeypatch):
    exp_ids = [i for i in IDS if not experiment(i).spec.studies and run_ids(experiment(i).spec, "paper")]
    assert {"xiong_warmup", "admin_table2", "sigma_vit"} <= set(exp_ids)
    fake_grid(tmp_path, "paper", exp_ids)
    before = everything(tmp_path, "paper", exp_ids)

    config = tmp_path / "config"
    import shutil

    shutil.copytree(catalog.CONFIG_DIR, config)
    data = (config / "datasets.yaml").read_text()
    renamed = {}
    for key, ds in catalog.datasets().items():
        renamed[ds.label] = f"renamed {key}"
        data = data.replace(f"label: {json.dumps(ds.label)}", f"label: \"renamed {key}\"").replace(
            f"label: \"{ds.label}\"", f"label: \"renamed {key}\"")
    (config / "datasets.yaml").write_text(data)
    monkeypatch.setattr(catalog, "CONFIG_DIR", config)
    catalog._datasets.cache_clear()
    try:
        assert catalog.dataset("wmt14_en_de").label == "renamed wmt14_en_de"
        after = everything(tmp_path, "paper", exp_ids)
    finally:
        catalog._datasets.cache_clear()

    def unlabel(text: str) -> str:
        for old, new in renamed.items():
            text = text.replace(new, old)
        return text

    for t in exp_ids:
        a, b = before[0][t], after[0][t]
        assert (b["dataset"].str.startswith("renamed ") | (b["dataset"] == "")).all(), t
        pd.testing.assert_frame_equal(a.drop(columns="dataset"), b.drop(columns="dataset"))
        ca, cb = before[1][t], after[1][t]
        refs = ca[ca["reference_source"] != ""]
        met = ~refs["regenerated_outcome"].str.startswith("not run")
        assert refs.empty or met.any(), t  # the reference met its regenerated cells
        cols = [c for c in ca.columns if c != "dataset"]
        pd.testing.assert_frame_equal(ca[cols].reset_index(drop=True), cb[cols].reset_index(drop=True))
    va, vb = before[2], after[2]
    assert [v["claim"] for v in va] == [v["claim"] for v in vb] and va
    for x, y in zip(va, vb):
        assert x["verdict"] == y["verdict"], x["claim"]
        assert x["detail"] == unlabel(y["detail"]), x["claim"]
        assert json.dumps(x["figures"], sort_keys=True, default=str) == unlabel(
            json.dumps(y["figures"], sort_keys=True, default=str)), x["claim"]


@pytest.mark.parametrize("exp_id", IDS)
def test_notes_state_no_measured_number(exp_id):
    """Notes say what each scale runs and why; a number a run produced belongs to its table."""
    notes = experiment(exp_id).spec.notes
    assert not re.search(r"\bmeasured\b", notes, re.I), notes
    found = re.findall(r"\b(?:BLEU|top-1|WER|perplexity|ppl|entropy|loss)\s+(?:of\s+)?\d", notes, re.I)
    assert not found, (exp_id, found)
