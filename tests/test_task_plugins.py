"""Every task is a plug-in: its record says everything the resolver, workflow and aggregation need."""
import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from catalog.config import datasets
from tasks.base import Task
from tasks.config import CORE, RunConfig
from tasks.registry import TASKS, record, section_classes, task_class

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_record_is_complete(name):
    rec = record(name)
    assert issubclass(task_class(name), Task)
    for module in (rec.make_tiny, rec.prepare, rec.task_class.split(":")[0]):
        assert importlib.util.find_spec(module) is not None, f"{name}: {module} does not exist"
    for section, cls in section_classes(name).items():
        assert dataclasses.is_dataclass(cls) and section not in CORE
    assert rec.metrics and len({m.name for m in rec.metrics}) == len(rec.metrics)
    fields = rec.depth_fields.values() if isinstance(rec.depth_fields, dict) else [rec.depth_fields]
    assert all(1 <= len(f) <= 2 for f in fields)
    cfg = RunConfig.from_dict({"task": name})  # every own section has defaults
    assert set(cfg.sections) == set(rec.sections)


@pytest.mark.parametrize("scale", ["tiny", "small", "paper"])
def test_every_task_has_settings_at_every_scale(scale):
    tasks = yaml.safe_load((REPO / "config" / "scales" / f"{scale}.yaml").read_text())["tasks"]
    assert set(TASKS) <= set(tasks), f"config/scales/{scale}.yaml lacks tasks {sorted(set(TASKS) - set(tasks))}"


def test_every_dataset_belongs_to_a_registered_task():
    for name, info in datasets().items():
        assert info.task in TASKS, f"config/datasets.yaml: {name} names unknown task {info.task!r}"


def test_registry_import_does_not_load_tasks_or_torch():
    code = ("import sys, tasks.registry; "
            "print(any(m.startswith(('tasks.toy', 'tasks.translation', 'torch')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_core_module_branches_on_a_task_or_scheme_name():
    """Outside a task's folder, an experiment's folder and config/, nothing tests a task's or a
    scheme's name (a claim compares the schemes its paper names, in its experiment's claims.py)."""
    import re

    core = [p for d in ("aggregate", "catalog", "studies", "workflow", "tasks/engine") for p in (REPO / d).rglob("*")
            if p.suffix in (".py", ".smk")] + [REPO / "Snakefile"] + list((REPO / "tasks").glob("*.py"))
    pattern = re.compile(r"""(==|!=|\bin)\s*\(?["'](translation|toy|vit|asr|lm|admin|post_ln|pre_ln)["']""")
    allowed = {"studies/entropy_bound.py"}  # checks that a checkpoint is of the model family it reads
    hits = [f"{p.relative_to(REPO)}:{n}" for p in core for n, line in enumerate(p.read_text().splitlines(), 1)
            if pattern.search(line) and str(p.relative_to(REPO)) not in allowed]
    assert not hits, f"name tests outside the registry: {hits}"


def test_unknown_task_is_named():
    with pytest.raises(KeyError, match="unknown task 'chess'"):
        task_class("chess")
