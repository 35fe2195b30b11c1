"""Adding an experiment is one folder and one registry line: proven end to end.

In a copy of the tree, a throwaway experiment (tests/data/new_experiment/: a grid of two toy-task
runs, a reference CSV with one number, one claim) becomes experiments/toy_check/ with one line in
experiments/registry.py; then `snakemake toy_check` at tiny scale trains its runs and writes its
table, figure, compare against the reference and the verdict of its claim. The test fails if any
other file of the tree had to change.
"""
import json
import shutil

import pandas as pd
import pytest

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

LINE = '    "toy_check": "experiments.toy_check",\n'
ANCHOR = "EXPERIMENTS: dict[str, str] = {  # in the order of the papers' claims\n"


@pytest.mark.workflow
def test_a_new_experiment_is_one_folder(tree_copy, tmp_path):
    tree = tree_copy.root
    folder = tree / "experiments" / "toy_check"
    shutil.copytree(REPO / "tests" / "data" / "new_experiment", folder)
    (folder / "__init__.py").write_text("")
    reg = tree / "experiments" / "registry.py"
    assert ANCHOR in reg.read_text()
    reg.write_text(reg.read_text().replace(ANCHOR, ANCHOR + LINE, 1))

    changed = tree_copy.changed()
    assert changed and all(f.startswith("experiments/toy_check/") or f == "experiments/registry.py"
                           for f in changed), changed
    assert len(reg.read_text().splitlines()) == len((REPO / "experiments/registry.py").read_text().splitlines()) + 1

    results = tmp_path / "results"
    proc = tree_copy.snakemake("--profile", "workflow/profiles/default", "--cores", "2", "toy_check",
                               "--config", f"results={results}")
    assert proc.returncode == 0, proc.stdout[-5000:]
    base = results / "tiny"
    table = pd.read_csv(base / "tables" / "toy_check.csv", keep_default_na=False)
    cells = table.set_index(["scheme", "metric"])
    pre = float(cells.loc[("pre_ln", "valid_loss"), "value"])
    assert set(table["scheme"]) == {"pre_ln", "post_ln"} and (table["outcome"] == "ok").all()
    assert (base / "figures" / "toy_check.png").read_bytes()[:4] == b"\x89PNG"
    # the reference row meets its regenerated cell on the keys (dataset_key, depth, scheme, variant, metric)
    compare = pd.read_csv(base / "compare" / "toy_check.csv", keep_default_na=False)
    joined = compare[compare["reference"] != ""]
    assert len(joined) == 1 and float(joined.iloc[0]["regenerated"]) == pytest.approx(pre)
    assert joined.iloc[0]["verdict"] == "n/a (tiny scale)"
    # the claim is decided from the runs of the grid: its figures are the table's numbers
    claims = pd.read_csv(base / "compare" / "toy_check.claims.csv", keep_default_na=False).set_index("claim")
    assert list(claims.index) == ["toy_check_pre_not_worse"]
    assert claims.loc["toy_check_pre_not_worse", "verdict"] in ("holds", "fails")
    figures = json.loads(claims.loc["toy_check_pre_not_worse", "figures"])
    assert figures["pre_ln"] == pytest.approx(pre) and figures["updates"] == 100
