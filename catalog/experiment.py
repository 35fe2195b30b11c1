"""The spec of an experiment (experiments/<id>/experiment.yaml) and the grid of runs it reads.

An experiment is one paper table or figure. Its spec says which runs it trains (`runs`), which
runs its studies read (`study_runs`), which studies it runs and how their measurements become
table cells (`study_rows`), its metrics, figure and per-metric tolerance. Its folder also holds
the paper's numbers (`reference.csv`) and its claims (`claims.py`, read by experiments.registry).
The workflow and the aggregation both take the grid from here, so the runs a table is built
from are the runs the workflow trains.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

from catalog import config
from catalog.config import CatalogError, load_yaml
from catalog.runid import RunId, RunIdError, parse_arch, parse_scheme
from catalog.words import SCALES

STUDIES_DIR = config.REPO / "studies"
BLOCK_KEYS = {"task", "dataset", "archs", "schemes", "variants", "seeds"}
OPTIONAL_BLOCK_KEYS = {"scales"}  # a block that applies at some scales only (e.g. a tiny stand-in model)
SPEC_KEYS = {"id", "title", "paper", "target_needs", "tolerance", "studies", "scheme_label", "setting_labels",
             "runs", "study_runs", "study_data", "study_rows", "metrics", "figure", "compare_keys", "notes"}
# How a regenerated cell meets the paper's: keys, never display labels (dataset_key is the
# config key of the dataset, variant the run's variant, empty for a cell a study measured).
COMPARE_KEYS = ("dataset_key", "depth", "scheme", "variant", "metric")
STUDY_ROW_KEYS = {"study", "where", "value", "metric", "scheme", "depth", "setting", "dataset", "variant", "extra", "reduce",
                  "below"}


@dataclass(frozen=True)
class ExperimentSpec:
    id: str
    title: str
    paper: str
    dir: Path  # the experiment's folder
    target_needs: str = ""
    tolerance: dict = field(default_factory=dict)
    studies: tuple = ()
    scheme_label: str = "plain"  # "enc_dec": print schemes as encoder=...;decoder=...
    setting_labels: dict = field(default_factory=dict)  # variant -> the label this table prints
    runs: tuple = ()
    study_runs: tuple = ()
    study_data: str = ""  # the dataset key whose prepared data the experiment's studies measure on
    study_rows: tuple = ()
    metrics: tuple = ()
    compare_keys: tuple = COMPARE_KEYS
    figure: dict = field(default_factory=dict)
    notes: str = ""  # what each scale changes and why; never a measured number

    @property
    def reference(self) -> Path:
        """The paper's numbers (tidy columns + dataset_key, variant, reference_source, source)."""
        return self.dir / "reference.csv"

    @property
    def study_task(self) -> str:
        """The task the study rows belong to: that of study_data, else of its study runs."""
        if self.study_data:
            return config.dataset(self.study_data).task
        return self.study_runs[0]["task"] if self.study_runs else ""

    def setting(self, variant: str) -> str:
        return self.setting_labels.get(variant) or config.setting_label(variant)


def load_spec(folder: Path) -> ExperimentSpec:
    """Read and check experiments/<id>/experiment.yaml; a CatalogError names file and key."""
    path = Path(folder) / "experiment.yaml"
    d = load_yaml(path)
    unknown = set(d) - SPEC_KEYS
    if unknown:
        raise CatalogError(f"{path}: unknown keys {sorted(unknown)}; expected some of {sorted(SPEC_KEYS)}")
    if d.get("id") != Path(folder).name:
        raise CatalogError(f"{path}: id {d.get('id')!r} does not match the folder name {Path(folder).name!r}")
    for key in ("runs", "study_runs"):
        for i, block in enumerate(d.get(key) or []):
            check_block(block, f"{path}: {key}[{i}]")
    if d.get("study_data"):
        try:
            config.dataset(d["study_data"])
        except CatalogError as e:
            raise CatalogError(f"{path}: study_data: {e}") from None
    for name in d.get("studies") or []:
        if not (STUDIES_DIR / f"{name}.py").is_file():
            raise CatalogError(f"{path}: unknown study {name!r}; expected a module studies/{name}.py")
    for i, entry in enumerate(d.get("study_rows") or []):
        check_study_row(entry, f"{path}: study_rows[{i}]")
        if entry["study"] not in (d.get("studies") or []):
            raise CatalogError(f"{path}: study_rows[{i}] reads study {entry['study']!r}, not listed in `studies`")
    bad = set(d.get("compare_keys") or ()) - set(COMPARE_KEYS)
    if bad:
        raise CatalogError(f"{path}: compare_keys {sorted(bad)}; expected some of {list(COMPARE_KEYS)}")
    tuples = {k: tuple(d.get(k) or ()) for k in ("studies", "runs", "study_runs", "study_rows", "metrics")}
    if d.get("compare_keys"):
        tuples["compare_keys"] = tuple(d["compare_keys"])
    return ExperimentSpec(**{**d, **tuples, "dir": Path(folder), "tolerance": d.get("tolerance") or {},
                             "setting_labels": d.get("setting_labels") or {}, "figure": d.get("figure") or {},
                             "notes": " ".join(str(d.get("notes") or "").split())})


def check_block(block: dict, where: str) -> None:
    if not isinstance(block, dict) or not BLOCK_KEYS <= set(block) <= BLOCK_KEYS | OPTIONAL_BLOCK_KEYS:
        got = sorted(block) if isinstance(block, dict) else type(block).__name__
        raise CatalogError(f"{where}: expected the keys {sorted(BLOCK_KEYS)} (and optionally "
                           f"{sorted(OPTIONAL_BLOCK_KEYS)}), got {got}")
    bad = [s for s in block.get("scales", SCALES) if s not in SCALES]
    if bad:
        raise CatalogError(f"{where}: scales {bad}; expected some of {list(SCALES)}")
    try:
        ds = config.dataset(block["dataset"])
        for name in block["variants"]:
            config.variant(name)
        for arch in block["archs"]:
            parse_arch(arch)
        for scheme in block["schemes"]:
            parse_scheme(scheme)
    except (RunIdError, CatalogError) as e:
        raise CatalogError(f"{where}: {e}") from None
    if ds.task != block["task"]:
        raise CatalogError(f"{where}: dataset {ds.key!r} belongs to task {ds.task!r}, not {block['task']!r} "
                           "(config/datasets.yaml)")


def check_study_row(entry: dict, where: str) -> None:
    unknown = set(entry) - STUDY_ROW_KEYS
    missing = {"study", "value", "metric"} - set(entry)
    if unknown or missing:
        raise CatalogError(f"{where}: study_rows entry has unknown keys {sorted(unknown)} / lacks "
                           f"{sorted(missing)}; expected keys among {sorted(STUDY_ROW_KEYS)}")
    if entry.get("reduce") not in (None, "third_ratio"):
        raise CatalogError(f"{where}: reduce {entry['reduce']!r}; expected third_ratio or nothing")


def block_seeds(block: dict, scale: str, seeds_override: list | None) -> list[int]:
    if seeds_override:
        return [int(s) for s in seeds_override]
    max_seeds = config.scale(scale).get("max_seeds")
    seeds = [int(s) for s in block["seeds"]]
    return seeds[:max_seeds] if max_seeds else seeds


def block_run_ids(block: dict, scale: str, seeds_override: list | None = None) -> list[str]:
    if scale not in block.get("scales", SCALES):
        return []
    seeds = block_seeds(block, scale, seeds_override)
    return [str(RunId(block["task"], block["dataset"], a, s, v, n))
            for a, s, v, n in product(block["archs"], block["schemes"], block["variants"], seeds)]


def run_ids(spec: ExperimentSpec, scale: str, seeds_override: list | None = None, key: str = "runs") -> list[str]:
    """Run ids of an experiment's grid (`runs`) or of the runs its studies read (`study_runs`)."""
    out: list[str] = []
    for block in getattr(spec, key):
        for rid in block_run_ids(block, scale, seeds_override):
            if rid not in out:
                out.append(rid)
    return out
