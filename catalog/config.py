"""Every file under config/, loaded and validated once per process into typed records.

Three words name the layers of a run's recipe:
  recipe   a paper's training recipe as a partial run config (config/recipes.yaml);
  variant  a named recipe plus overrides (config/variants.yaml): the `variant` part of a run id;
  setting  a variant's display label, printed in the tables' `setting` column (never a key).
A scale (config/scales/<scale>.yaml) then rescales a variant's step counts and sizes per task.
Datasets (config/datasets.yaml) are the raw datasets, by key; `label` is for display only.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from catalog.words import SCALES
from common.io import YamlError, deep_merge
from common.io import load_yaml as _load_yaml

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "config"


class CatalogError(ValueError):
    """A config file that is missing, malformed or names something unknown; the message says
    which file, which key and what was expected."""


def load_yaml(path: str | Path) -> dict:
    """A YAML mapping (a fresh copy); a missing or malformed file is a CatalogError."""
    try:
        return _load_yaml(path)
    except YamlError as e:
        raise CatalogError(str(e)) from None


# ----------------------------------------------------------------------------- scales
def scale(name: str) -> dict:
    """config/scales/<name>.yaml as a mapping (a fresh copy: callers may modify it)."""
    if name not in SCALES:
        raise CatalogError(f"unknown scale {name!r}; expected one of {list(SCALES)}")
    return load_yaml(CONFIG_DIR / "scales" / f"{name}.yaml")


def task_scale(scale_cfg: dict, task: str) -> dict:
    """The scale file's settings for `task` (tasks.<task>), or a CatalogError naming the key."""
    ts = (scale_cfg.get("tasks") or {}).get(task)
    if ts is None:
        raise CatalogError(f"config/scales/{scale_cfg.get('scale')}.yaml has no settings for task {task!r}; "
                           f"expected a key tasks.{task}")
    return ts


# ----------------------------------------------------------------------------- recipes and variants
@dataclass(frozen=True)
class Variant:
    name: str
    recipe: str
    setting: str  # display label only
    overrides: dict = field(default_factory=dict)


VARIANT_KEYS = {"recipe", "setting", "overrides"}


def recipes() -> dict[str, dict]:
    return load_yaml(CONFIG_DIR / "recipes.yaml")


@functools.lru_cache(maxsize=None)
def _variants() -> dict[str, Variant]:
    path, known = CONFIG_DIR / "variants.yaml", recipes()
    out = {}
    for name, v in load_yaml(path).items():
        if not isinstance(v, dict) or not {"recipe"} <= set(v) <= VARIANT_KEYS:
            raise CatalogError(f"{path}: variant {name!r} needs `recipe` and may have {sorted(VARIANT_KEYS)}, "
                               f"got {v!r}")
        if v["recipe"] not in known:
            raise CatalogError(f"{path}: variant {name!r} names recipe {v['recipe']!r}, which is not in "
                               f"config/recipes.yaml (known: {sorted(known)})")
        out[name] = Variant(name, v["recipe"], str(v.get("setting") or name), v.get("overrides") or {})
    return out


def variants() -> dict[str, Variant]:
    return dict(_variants())


def variant(name: str) -> Variant:
    found = _variants()
    if name not in found:
        raise CatalogError(f"unknown variant {name!r}; expected one of {sorted(found)} (config/variants.yaml)")
    return found[name]


def variant_config(name: str) -> dict:
    """Recipe <- variant overrides, as a partial run-config dict."""
    v = variant(name)
    return deep_merge(recipes()[v.recipe], v.overrides)


def setting_label(name: str) -> str:
    """The display label of a variant (its name when it is not a variant)."""
    return _variants()[name].setting if name in _variants() else name


# ----------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class Dataset:
    key: str  # the config key (datasets.<key>) and the `dataset` part of run ids
    label: str  # display only
    task: str
    kind: str  # "file" (an archive) or "dir"
    layout: tuple  # what must be there, in words
    published: str
    required: tuple = ()  # globs under a directory, searched recursively
    generated_raw: str = "."  # where make_tiny puts the same thing inside its output dir
    file_name: str = ""  # the name of the original download (kind file)
    check: str = ""  # "module:function" (path -> problems) for layouts with alternatives
    stand_in: tuple = ()  # files that pass the layout check when `required` is empty (dry runs)


DATASET_KEYS = {"label", "task", "kind", "layout", "published", "required", "generated_raw", "file_name", "check",
                "stand_in"}


@functools.lru_cache(maxsize=None)
def _datasets() -> dict[str, Dataset]:
    path, out = CONFIG_DIR / "datasets.yaml", {}
    for key, d in load_yaml(path).items():
        need = {"label", "task", "kind", "layout", "published"}
        if not isinstance(d, dict) or not need <= set(d) <= DATASET_KEYS:
            got = sorted(d) if isinstance(d, dict) else d
            raise CatalogError(f"{path}: dataset {key!r} needs {sorted(need)} and may have "
                               f"{sorted(DATASET_KEYS - need)}, got {got}")
        if d["kind"] not in ("file", "dir"):
            raise CatalogError(f"{path}: dataset {key!r}: kind {d['kind']!r}; expected file or dir")
        out[key] = Dataset(key=key, **{**d, "layout": tuple(d["layout"]), "required": tuple(d.get("required") or ()),
                                      "stand_in": tuple(d.get("stand_in") or ())})
    return out


def datasets() -> dict[str, Dataset]:
    return dict(_datasets())


def dataset(key: str) -> Dataset:
    found = _datasets()
    if key not in found:
        raise CatalogError(f"unknown dataset {key!r}; expected one of {sorted(found)} (config/datasets.yaml)")
    return found[key]
