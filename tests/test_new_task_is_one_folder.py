"""Adding a task is one folder, one registry line and config files: proven end to end.

In a copy of the tree, a throwaway task (tests/data/new_task/: two Gaussian blobs, an MLP,
accuracy) becomes tasks/dummy/ with one line in tasks/registry.py and its config entries; then
`snakemake dummy_table` at tiny scale generates, prepares, resolves, trains and tabulates it.
The test fails if anything else in the tree had to change.
"""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
ALLOWED = ("tasks/dummy/", "config/", "tasks/registry.py")

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
    "config/tables/dummy_table.yaml": """id: dummy_table
title: "a throwaway task"
paper: none
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


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split()
    return [f for f in out if (REPO / f).is_file()]


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.workflow
def test_a_new_task_is_one_folder(tmp_path):
    tree = tmp_path / "repo"
    for f in tracked_files():
        (tree / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, tree / f)
    before = digest(tree)

    shutil.copytree(REPO / "tests" / "data" / "new_task", tree / "tasks" / "dummy")
    (tree / "tasks" / "dummy" / "__init__.py").write_text("")
    reg = tree / "tasks" / "registry.py"
    reg.write_text(reg.read_text().replace("TASKS: dict[str, str] = {\n",
                                           'TASKS: dict[str, str] = {\n    "dummy": "tasks.dummy.record",\n', 1))
    for path, text in CONFIG.items():
        p = tree / path
        p.write_text((p.read_text() if p.exists() else "") + text)
    for scale in ("tiny", "small", "paper"):
        p = tree / "config" / "scales" / f"{scale}.yaml"
        p.write_text(p.read_text().replace("\ntasks:\n", "\ntasks:\n" + SCALE_BLOCK, 1))

    after = digest(tree)
    changed = sorted(f for f in after if before.get(f) != after[f])
    assert all(f.startswith(ALLOWED) for f in changed), f"core files changed: {changed}"
    added = [ln for ln in reg.read_text().splitlines() if ln not in (REPO / "tasks/registry.py").read_text().splitlines()]
    assert len(added) == 1, added

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--profile", "workflow/profiles/default",
                           "--cores", "2", "dummy_table", "--config", f"results={tmp_path / 'results'}"],
                          cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-5000:]
    table = pd.read_csv(tmp_path / "results" / "tiny" / "tables" / "dummy_table.csv")
    row = table.set_index("metric").loc["accuracy"]
    assert row["task"] == "dummy" and row["outcome"] == "ok" and float(row["value"]) > 0.8
