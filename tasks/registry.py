"""The task registry: a plain dict from task name to where its Task class lives.

Values are "module:Class" strings so that naming a task does not import its heavy
dependencies (sacrebleu, data loaders) at startup; `task_class(name)` imports on demand.
Adding a task is one entry here.
"""
from __future__ import annotations

import importlib

TASKS: dict[str, str] = {
    "toy": "tasks.toy:ToyTask",
    "translation": "tasks.translation.task:TranslationTask",
}


def task_class(name: str):
    """Import and return the Task class registered under `name`."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    module_name, class_name = TASKS[name].split(":")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ImportError(f"task {name!r}: module {module_name} has no class {class_name}") from None


def build_task(cfg):
    """The Task object for a RunConfig (`cfg.task` names it)."""
    return task_class(cfg.task)(cfg)
