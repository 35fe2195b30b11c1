"""Adding a task is one folder, one registry line and config files: proven end to end.

In a copy of the tree, a throwaway task (tests/data/new_task/: two Gaussian blobs, an MLP,
accuracy) becomes tasks/dummy/ with one line in tasks/registry.py and its config entries, and
an experiment over it (experiments/dummy_table/ and its line in experiments/registry.py); then
`snakemake dummy_table` at tiny scale generates, prepares, resolves, trains and tabulates it.
The test fails if anything else in the tree had to change.
"""
import shutil

import pandas as pd
import pytest

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ALLOWED = ("tasks/dummy/", "config/", "tasks/registry.py", "experiments/dummy_table/", "experiments/registry.py")

CONFIG = {
    "config/datasets.yaml": """dummy_points:
  label: "two blobs"
  task: dummy
  kind: dir
  layout: ["points.csv"]
  required: ["points.csv"]
  generated_raw: .
  published: "generated"
""",
    "config/recipes.yaml": """dummy_recipe:
  model: {size: mlp_tiny}
  optim: {name: adam, lr: 1.0e-2}
  schedule: {name: constant, warmup_updates: 0}
  train: {max_updates: 40, log_every: 10, precision: fp32}
""",
    "config/variants.yaml": """dummy_default:
  recipe: dummy_recipe
  setting: Adam 1e-2
""",
    "experiments/dummy_table/experiment.yaml": """id: dummy_table
title: "a throwaway task"
paper: none2020_test
runs:
  - {task: dummy, dataset: dummy_points, archs: [mlp_tiny-2L], schemes: [post_ln], variants: [dummy_default], seeds: [1]}
metrics:
  - {name: accuracy, from: eval, key: accuracy}
figure: {kind: bars}
""",
}
SCALE_BLOCK = """  dummy:
    data: generated
    generated_size: tiny
    steps_factor: 1.0
    floors: {}
    overrides: {}
"""


@pytest.mark.workflow
def test_a_new_task_is_one_folder(tree_copy, tmp_path):
    tree = tree_copy.root

    shutil.copytree(REPO / "tests" / "data" / "new_task", tree / "tasks" / "dummy")
    (tree / "tasks" / "dummy" / "__init__.py").write_text("")
    reg = tree / "tasks" / "registry.py"
    reg.write_text(reg.read_text().replace("TASKS: dict[str, str] = {\n",
                                           'TASKS: dict[str, str] = {\n    "dummy": "tasks.dummy.record",\n', 1))
    exps = tree / "experiments" / "registry.py"
    exps.write_text(exps.read_text().replace("EXPERIMENTS: dict[str, str] = {  # in the order of the papers' claims\n",
                                             "EXPERIMENTS: dict[str, str] = {  # in the order of the papers' claims\n"
                                             '    "dummy_table": "experiments.dummy_table",\n', 1))
    (tree / "experiments" / "dummy_table").mkdir()
    (tree / "experiments" / "dummy_table" / "__init__.py").write_text("")
    for path, text in CONFIG.items():
        p = tree / path
        p.write_text((p.read_text() if p.exists() else "") + text)
    for scale in ("tiny", "small", "paper"):
        p = tree / "config" / "scales" / f"{scale}.yaml"
        p.write_text(p.read_text().replace("\ntasks:\n", "\ntasks:\n" + SCALE_BLOCK, 1))

    changed = tree_copy.changed()
    assert all(f.startswith(ALLOWED) for f in changed), f"core files changed: {changed}"
    added = [ln for ln in reg.read_text().splitlines() if ln not in (REPO / "tasks/registry.py").read_text().splitlines()]
    assert len(added) == 1, added

    proc = tree_copy.snakemake("--profile", "workflow/profiles/default", "--cores", "2", "dummy_table",
                               "--config", f"results={tmp_path / 'results'}")
    assert proc.returncode == 0, proc.stdout[-5000:]
    table = pd.read_csv(tmp_path / "results" / "tiny" / "tables" / "dummy_table.csv")
    row = table.set_index("metric").loc["accuracy"]
    assert row["task"] == "dummy" and row["outcome"] == "ok" and float(row["value"]) > 0.8
