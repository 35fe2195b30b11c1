"""Every registered task imports lazily and implements the Task interface."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.base import Task
from tasks.registry import TASKS, task_class


@pytest.mark.parametrize("name", sorted(TASKS))
def test_registered_task_is_a_task(name):
    module = TASKS[name].split(":")[0]
    assert importlib.util.find_spec(module) is not None, f"task {name!r} is registered but {module} does not exist"
    cls = task_class(name)
    assert issubclass(cls, Task)


def test_unknown_task_is_named():
    with pytest.raises(KeyError, match="unknown task 'chess'"):
        task_class("chess")


def test_registry_import_does_not_load_tasks():
    code = "import sys, tasks.registry; print(any(m.startswith(('tasks.toy', 'tasks.translation')) for m in sys.modules))"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
