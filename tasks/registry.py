"""The task registry: one record per task, read by the resolver, the workflow and aggregation.

A task lives in one folder `tasks/<name>/`; its `record.py` holds a `TaskRecord` (strings and
small frozen values only, so that reading the registry imports no torch and no data loader).
`TASKS` maps a task name to the module path of that record; adding a task is its folder, one
entry here, its config files (`config/scales/*.yaml` `tasks.<name>`, datasets, recipes).

Nothing outside a task's folder and `config/` branches on a task's name: what differs between
tasks is read from the record (entry points, config sections, arch -> model size, metrics) or
from the scale file (sizes, step counts, resources per rule).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

TASKS: dict[str, str] = {
    "toy": "tasks.toy.record",
    "translation": "tasks.translation.record",
    "vit": "tasks.vit.record",
    "asr": "tasks.asr.record",
    "lm": "tasks.lm.record",
}


@dataclass(frozen=True)
class Metric:
    """One score a task writes to eval.json, as tables print and compare it."""
    name: str  # the `metric` column of the tidy tables, e.g. "BLEU", "top1"
    key: str  # dotted path into eval.json, e.g. "bleu", "dev_clean.wer"
    unit: str  # "BLEU", "%", "ppl", "nats"
    higher_is_better: bool
    seeds: str = "mean_std"  # mean and sample std over the seeds that trained (status ok)


@dataclass(frozen=True)
class TaskRecord:
    name: str
    task_class: str  # "module:Class" of the tasks.base.Task subclass
    family: str  # model family: a key of models.sizes.SIZES (or the task's own, see `sizes`)
    make_tiny: str  # module: python -m M --dataset D --size S --out DIR (raw data in the real format)
    prepare: str  # module: python -m M --dataset D --raw PATH --out DIR --workers N
    # Size fields that the arch's depths go into, in order: ("layers",) for one stack,
    # ("encoder_layers", "decoder_layers") for two; a dict family -> fields when the task
    # trains several model families (the recipe's model.family picks one).
    depth_fields: tuple | dict
    metrics: tuple[Metric, ...] = ()
    sections: dict = field(default_factory=dict)  # own closed config sections: name -> "module:Dataclass"
    sizes: str = ""  # "module:function" (family, size, overrides) -> size object, when not models.resolve_size
    description: str = ""

    def metric(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"task {self.name!r} has no metric {name!r}; expected one of "
                       f"{[m.name for m in self.metrics]}")


def record(name: str) -> TaskRecord:
    """The record of task `name` (a KeyError naming the known tasks otherwise)."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    module = importlib.import_module(TASKS[name])
    rec = getattr(module, "RECORD", None)
    if not isinstance(rec, TaskRecord) or rec.name != name:
        raise ImportError(f"{TASKS[name]} must define RECORD = TaskRecord(name={name!r}, ...)")
    return rec


def records() -> dict[str, TaskRecord]:
    return {name: record(name) for name in TASKS}


def load_object(spec: str, what: str):
    """Import "module:attr"; an ImportError naming `what` when it is missing."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise ImportError(f"{what}: cannot import {module_name} ({e})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"{what}: module {module_name} has no {attr}") from None


def task_class(name: str):
    """Import and return the Task class of task `name`."""
    return load_object(record(name).task_class, f"task {name!r}")


def section_classes(name: str) -> dict:
    """The task's own config sections: section name -> frozen dataclass."""
    return {sec: load_object(spec, f"task {name!r} config section {sec!r}")
            for sec, spec in record(name).sections.items()}


def build_task(cfg):
    """The Task object for a RunConfig (`cfg.task` names it)."""
    return task_class(cfg.task)(cfg)


def resolve_size(task: str, family: str, size: str, overrides: dict):
    """The model size (family defaults + overrides); ValueError naming the bad field."""
    rec = record(task)
    if rec.sizes:
        return load_object(rec.sizes, f"task {task!r} sizes")(family, size, overrides)
    from models.sizes import resolve_size as models_resolve_size

    return models_resolve_size(family, size, **overrides)


def task_resources(scale_cfg: dict, task: str | None, rule: str, variant: str | None = None) -> dict:
    """Resources of `rule` (GPUs, CPUs, memory, runtime): the scale's defaults, its per-rule
    entry, the task's own entry (`tasks.<task>.resources.<rule>` in the scale file), then the
    run's variant's entry (`tasks.<task>.variant_resources.<variant>.<rule>`, e.g. the GPUs of a
    paper recipe that trained on several)."""
    table = scale_cfg.get("resources") or {}
    res = {**(table.get("default") or {}), **(table.get(rule) or {})}
    if task is not None:
        ts = (scale_cfg.get("tasks") or {}).get(task) or {}
        own = ts.get("resources") or {}
        res.update(own.get("default") or {})
        res.update(own.get(rule) or {})
        if variant is not None:
            res.update(((ts.get("variant_resources") or {}).get(variant) or {}).get(rule) or {})
    return res


def run_gpus(scale_cfg: dict, task: str, variant: str) -> int:
    """The processes a run trains on: its train rule's GPUs (torchrun starts one per GPU), 1 on CPU."""
    return max(1, int(task_resources(scale_cfg, task, "train", variant).get("gpu") or 0))


def retry_resource(scale_cfg: dict, key: str, base: int, attempt: int) -> int:
    """`base` (mem_mb or runtime) x the attempt number, capped at the scale's `resources.max_<key>`
    (e.g. the partition's time limit), so a retry never asks for more than the cluster gives."""
    cap = (scale_cfg.get("resources") or {}).get(f"max_{key}")
    grown = int(base) * int(attempt)
    return min(grown, int(cap)) if cap else grown
