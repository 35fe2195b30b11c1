"""Table specs (config/tables/<id>.yaml) and the grid of runs each one needs.

The workflow (workflow/rules/common.smk) and the aggregation entry points both read the
grids from here, so the runs a table is built from are the runs the workflow trains.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

from tasks.resolve import CONFIG_DIR, load_scale, load_yaml
from tasks.runid import RunId, RunIdError, parse_arch, parse_scheme

TABLE_DIR = CONFIG_DIR / "tables"
# Studies the workflow knows how to run (`python -m studies.<name> --scale S --out CSV`).
STUDIES = ("xiong_gradnorm", "admin_table1_vanishing", "admin_output_change", "admin_dependency",
           "hessian_spectrum", "admin_relative_norms", "sigma_entropy")
BLOCK_KEYS = {"task", "dataset", "archs", "schemes", "variants", "seeds"}
OPTIONAL_BLOCK_KEYS = {"scales"}  # a block that applies at some scales only (e.g. a tiny stand-in model)
SCALE_NAMES = ("tiny", "small", "paper")
TABLE_KEYS = {"id", "title", "paper", "target_needs", "reference", "tolerance", "claims", "studies",
              "scheme_label", "setting_labels", "runs", "study_runs", "study_data", "study_rows", "metrics", "figure",
              "compare_keys", "notes"}


class SpecError(ValueError):
    """A table spec that does not match the expected layout; the message names file and key."""


@dataclass(frozen=True)
class TableSpec:
    id: str
    title: str
    paper: str
    target_needs: str = ""
    reference: tuple = ()
    tolerance: dict = field(default_factory=dict)
    claims: tuple = ()
    studies: tuple = ()
    scheme_label: str = "plain"
    setting_labels: dict = field(default_factory=dict)
    runs: tuple = ()
    study_runs: tuple = ()
    study_data: str = ""  # the dataset whose prepared data the table's studies measure on
    study_rows: tuple = ()
    metrics: tuple = ()
    compare_keys: tuple = ("dataset", "depth", "scheme", "setting", "metric")
    figure: dict = field(default_factory=dict)
    notes: str = ""  # what the scales change for this table and why

    @property
    def study_task(self) -> str:
        """The task the table's study rows belong to: that of study_data, else of its study runs."""
        from aggregate.datasets import task_of

        if self.study_data:
            return task_of(self.study_data)
        return self.study_runs[0]["task"] if self.study_runs else ""


def table_ids() -> list[str]:
    return sorted(p.stem for p in TABLE_DIR.glob("*.yaml"))


def load_table(table_id: str) -> TableSpec:
    path = TABLE_DIR / f"{table_id}.yaml"
    if not path.is_file():
        raise SpecError(f"unknown table {table_id!r}; expected one of {table_ids()} (config/tables/)")
    d = load_yaml(path)
    unknown = set(d) - TABLE_KEYS
    if unknown:
        raise SpecError(f"{path}: unknown keys {sorted(unknown)}; expected some of {sorted(TABLE_KEYS)}")
    if d.get("id") != table_id:
        raise SpecError(f"{path}: id {d.get('id')!r} does not match the file name {table_id!r}")
    for key in ("runs", "study_runs"):
        for i, block in enumerate(d.get(key) or []):
            _check_block(block, f"{path}: {key}[{i}]")
    if d.get("study_data"):
        from aggregate.datasets import describe

        try:
            describe(d["study_data"])
        except ValueError as e:
            raise SpecError(f"{path}: study_data: {e}") from None
    for name in d.get("studies") or []:
        if name not in STUDIES:
            raise SpecError(f"{path}: unknown study {name!r}; expected one of {list(STUDIES)}")
    if d.get("study_rows"):
        from aggregate.studyrows import check_entry  # imports pandas: only for specs with study rows
    for i, entry in enumerate(d.get("study_rows") or []):
        check_entry(entry, f"{path}: study_rows[{i}]")
        if entry["study"] not in (d.get("studies") or []):
            raise SpecError(f"{path}: study_rows[{i}] reads study {entry['study']!r}, not listed in `studies`")
    tuples = {k: tuple(d.get(k) or ()) for k in ("reference", "claims", "studies", "runs", "study_runs",
                                                 "study_rows", "metrics")}
    if d.get("compare_keys"):
        tuples["compare_keys"] = tuple(d["compare_keys"])
    return TableSpec(**{**d, **tuples, "tolerance": d.get("tolerance") or {},
                        "setting_labels": d.get("setting_labels") or {}, "figure": d.get("figure") or {}})


def _check_block(block: dict, where: str) -> None:
    if not isinstance(block, dict) or not BLOCK_KEYS <= set(block) <= BLOCK_KEYS | OPTIONAL_BLOCK_KEYS:
        got = sorted(block) if isinstance(block, dict) else type(block).__name__
        raise SpecError(f"{where}: expected the keys {sorted(BLOCK_KEYS)} (and optionally "
                        f"{sorted(OPTIONAL_BLOCK_KEYS)}), got {got}")
    bad = [s for s in block.get("scales", SCALE_NAMES) if s not in SCALE_NAMES]
    if bad:
        raise SpecError(f"{where}: scales {bad}; expected some of {list(SCALE_NAMES)}")
    try:
        for arch in block["archs"]:
            parse_arch(arch)
        for scheme in block["schemes"]:
            parse_scheme(scheme)
    except RunIdError as e:
        raise SpecError(f"{where}: {e}") from None


def block_seeds(block: dict, scale: str, seeds_override: list | None) -> list[int]:
    if seeds_override:
        return [int(s) for s in seeds_override]
    max_seeds = load_scale(scale).get("max_seeds")
    seeds = [int(s) for s in block["seeds"]]
    return seeds[:max_seeds] if max_seeds else seeds


def block_run_ids(block: dict, scale: str, seeds_override: list | None = None) -> list[str]:
    if scale not in block.get("scales", SCALE_NAMES):
        return []
    seeds = block_seeds(block, scale, seeds_override)
    return [str(RunId(block["task"], block["dataset"], a, s, v, n))
            for a, s, v, n in product(block["archs"], block["schemes"], block["variants"], seeds)]


def run_ids(spec: TableSpec, scale: str, seeds_override: list | None = None, key: str = "runs") -> list[str]:
    """Run ids of a table's grid (`runs`) or of the runs its studies read (`study_runs`)."""
    out: list[str] = []
    for block in getattr(spec, key):
        for rid in block_run_ids(block, scale, seeds_override):
            if rid not in out:
                out.append(rid)
    return out


def entry_points() -> dict[str, str]:
    """What each entry point the workflow calls is, for "not built yet" messages."""
    from tasks.registry import records

    out = {"tasks.train": "the training engine", "tasks.admin_profile": "Admin profiling (omega.json)"}
    for name, rec in records().items():
        out[rec.make_tiny] = f"the tiny-data generator of the {name} task"
        out[rec.prepare] = f"the data preparation of the {name} task"
        out[rec.task_class.split(":")[0]] = f"the {name} task"
    return out


def missing_entry_points(modules: list[str]) -> list[str]:
    """The modules of `modules` that cannot be imported yet (not written)."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


def repo_path(*parts: str) -> Path:
    return CONFIG_DIR.parent.joinpath(*parts)
