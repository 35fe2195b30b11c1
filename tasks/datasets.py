"""Where each raw dataset comes from at each scale, and checks of the configured paths.

config/datasets.yaml describes every dataset key of config.yaml's `datasets:` (expected
layout, where it is published); config/scales/<scale>.yaml says per task whether data is
generated (tiny), real when configured and generated otherwise (small), or real (paper).
A bad or missing dataset stops the workflow before any job runs, with one message naming the
key, the expected layout and where to get the data.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

from catalog import config
from catalog.config import Dataset


def task_of(name: str) -> str:
    return config.dataset(name).task


def _help(name: str, info: Dataset) -> str:
    return (f"config key datasets.{name} ({info.label}): expected {'; '.join(info.layout)}. "
            f"Published at {info.published}.")


def layout_problems(name: str, path: str) -> list[str]:
    """What is wrong with `path` as dataset `name` (empty list: nothing)."""
    info = config.dataset(name)
    p = Path(path)
    if not p.exists():
        return [f"{path} does not exist"]
    if info.kind == "file":
        if not p.is_file():
            return [f"{path} is not a file"]
        if info.file_name and p.name != info.file_name:
            return [f"{path} is not named {info.file_name} (the name of the original download)"]
        if not tarfile.is_tarfile(p):
            return [f"{path} is not a (gzipped) tar archive"]
        return []
    if not p.is_dir():
        return [f"{path} is not a directory"]
    if info.check:  # a layout with alternatives: the task's own quick check (path -> problems)
        from tasks.registry import load_object

        return load_object(info.check, f"datasets.{name}.check")(path)
    # searched recursively (config/datasets.yaml): RAW/<release folder>/<file> is accepted as prepare does
    return [f"{pattern} not found under {path}" for pattern in info.required
            if not any(True for _ in p.glob(pattern)) and not any(True for _ in p.glob(f"**/{pattern}"))]


def check_configured(datasets: dict) -> None:
    """Every dataset key that is set must point at data in the expected layout."""
    known = config.datasets()
    unknown = sorted(set(datasets or {}) - set(known))
    if unknown:
        raise ValueError(f"config key datasets.{unknown[0]}: unknown dataset; expected one of "
                         f"{sorted(known)} (config/datasets.yaml)")
    for name, path in sorted((datasets or {}).items()):
        if path is None:
            continue
        problems = layout_problems(name, path)
        if problems:
            raise ValueError(f"{'; '.join(problems)}. {_help(name, config.dataset(name))}")


def raw_source(name: str, scale_cfg: dict, datasets: dict) -> str:
    """'generated', or the configured path of the real dataset."""
    task = task_of(name)
    task_scale = (scale_cfg.get("tasks") or {}).get(task)
    if task_scale is None:
        raise ValueError(f"scale {scale_cfg.get('scale')!r} has no settings for task {task!r} "
                         f"(dataset {name}); expected tasks.{task} in config/scales/{scale_cfg.get('scale')}.yaml")
    mode, path = task_scale["data"], (datasets or {}).get(name)
    if mode == "generated" or (mode == "configured" and path is None):
        return "generated"
    if path is None:
        raise ValueError(f"dataset {name} is required at scale {scale_cfg['scale']} but not configured. "
                         + _help(name, config.dataset(name)) + f" Set it with --config datasets='{{{name}: PATH}}' "
                         "or in config/config.yaml.")
    return path


def raw_argument(name: str, raw: str, generated: bool) -> str:
    """The --raw argument of `prepare`: the archive/dir inside make_tiny's output, or the real path."""
    if not generated:  # a configured archive is read from the directory holding it
        return str(Path(raw).parent) if config.dataset(name).kind == "file" else raw
    inner = config.dataset(name).generated_raw
    return raw if inner in (".", "") else str(Path(raw) / inner)


def generated_size(name: str, scale_cfg: dict) -> str:
    size = scale_cfg["tasks"][task_of(name)].get("generated_size")
    if not size:
        raise ValueError(f"scale {scale_cfg['scale']} never generates data (dataset {name}); "
                         + _help(name, config.dataset(name)))
    return size
