"""Build one experiment's table (experiments/<id>/experiment.yaml) from its runs and studies.

    python -m aggregate.table --table admin_table2 --scale tiny --out results/tiny/tables/admin_table2.csv

A cell is one (dataset, arch, scheme, variant) over its seeds: `value` is the mean over the
seeds that trained (status ok), `std` their sample standard deviation (empty for one seed),
`n_seeds` how many seeds entered the mean, `outcome` is `failed` when every seed diverged.
A metric that a run did not report is written as not computed, never filled in.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import pandas as pd

from aggregate.io import TIDY, write_csv
from aggregate.studyrows import rows_from_study
from catalog import config as catalog
from catalog.experiment import ExperimentSpec, run_ids
from catalog.runid import RunId
from catalog.runs import RunRecord
from catalog.words import SCALES
from experiments.claim import scheme_label
from experiments.registry import spec as load_spec


def lookup(d: dict, key: str):
    """d[key] with dotted paths (`test.bleu`) and case-insensitive keys; None when absent."""
    node = d
    for part in key.split("."):
        if not isinstance(node, dict):
            return None
        match = [k for k in node if k.lower() == part.lower()]
        if not match:
            return None
        node = node[match[0]]
    return node


def read_run(results: str, scale: str, run_id: str) -> dict:
    """status.json and eval.json of one run (the workflow made them before calling us)."""
    run = RunRecord.read(results, scale, run_id)
    return {"status": run.status["status"], "eval": run.eval, "reason": run.status.get("reason", "")}


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def metric_row(metric: dict, runs: list[dict]) -> dict:
    """value/std/outcome/n_seeds of one metric over the seeds of one cell."""
    n, ok = len(runs), [r for r in runs if r["status"] == "ok"]
    if metric.get("from") == "outcome":
        value = "diverged" if not ok else "converged"
        return {"value": value, "std": None, "outcome": value, "n_seeds": n}
    if not ok:
        return {"value": None, "std": None, "outcome": "failed", "n_seeds": n}
    values = [lookup(r["eval"], metric["key"]) for r in ok]
    values = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(float(v))]
    if not values:
        return {"value": None, "std": None, "n_seeds": 0,
                "outcome": f"not computed: eval.json has no finite {metric['key']!r}"}
    mean, std = mean_std(values)
    outcome = "ok" if len(ok) == n else f"ok ({n - len(ok)} of {n} seeds diverged)"
    return {"value": mean, "std": std, "outcome": outcome, "n_seeds": len(values), **metric_extras(metric, ok)}


def metric_extras(metric: dict, ok: list[dict]) -> dict:
    """Columns a metric carries beside its value, from its table spec: `definition` (what the
    number is, e.g. tokenized BLEU) and `extra` {column: eval.json key} (e.g. the detokenized
    sacreBLEU and its signature): numbers are averaged over the seeds, strings listed once."""
    out = {"metric_definition": metric["definition"]} if metric.get("definition") else {}
    for column, key in (metric.get("extra") or {}).items():
        found = [lookup(r["eval"], key) for r in ok]
        nums = [float(v) for v in found if isinstance(v, (int, float)) and math.isfinite(float(v))]
        texts = sorted({str(v) for v in found if isinstance(v, str) and v})
        out[column] = statistics.fmean(nums) if nums else " / ".join(texts)
    return out


def run_rows(spec: ExperimentSpec, scale: str, results: str, seeds) -> list[dict]:
    cells: dict[tuple, list[dict]] = {}
    for rid in run_ids(spec, scale, seeds):
        p = RunId.parse(rid)
        key = (p.task, p.dataset, p.arch, p.scheme, p.variant)
        cells.setdefault(key, []).append(read_run(results, scale, rid))
    rows = []
    for (task, dataset, arch, scheme, variant), runs in cells.items():
        base = {"paper": spec.paper, "table": spec.id, "task": task,
                "dataset": catalog.dataset(dataset).label, "depth": arch.split("-", 1)[1],
                "scheme": scheme_label(scheme, spec.scheme_label), "setting": spec.setting(variant),
                "variant": variant, "arch": arch, "dataset_key": dataset}
        for metric in spec.metrics:
            rows.append({**base, "metric": metric["name"], **metric_row(metric, runs)})
    return rows


def study_dataset(spec: ExperimentSpec, scale: str = "paper") -> str:
    """Key of the dataset an experiment's studies measure on: `study_data`, else the one dataset
    of the runs its studies read at `scale` ("" when neither names exactly one)."""
    names = {spec.study_data} if spec.study_data else {
        RunId.parse(r).dataset for r in run_ids(spec, scale, None, "study_runs")}
    return names.pop() if len(names) == 1 else ""


def study_rows(spec: ExperimentSpec, scale: str, results: str) -> list[dict]:
    """Rows from the experiment's studies: through its `study_rows` entries, or as-is when tidy.
    A row whose entry renders no dataset gets the study dataset's label; every study row is keyed
    by that dataset; its variant is the entry's `variant` template, empty when it has none."""
    rows = []
    key = study_dataset(spec, scale)
    label = catalog.dataset(key).label if key else ""
    for name in spec.studies:
        path = Path(results) / scale / "studies" / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: study output not found (made by python -m studies.{name})")
        df = pd.read_csv(path)
        entries = [e for e in spec.study_rows if e["study"] == name]
        if entries:
            for entry in entries:
                rows += [{**row, "paper": spec.paper, "table": spec.id, "task": spec.study_task,
                          "dataset": row.get("dataset") or label, "dataset_key": key}
                         for row in rows_from_study(df, entry, str(path))]
            continue
        missing = {"metric", "value"} - set(df.columns)
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)} and {spec.dir}/experiment.yaml "
                             f"has no study_rows entry for {name}; expected tidy columns {TIDY}")
        defaults = {"paper": spec.paper, "table": spec.id, "task": spec.study_task, "dataset": label,
                    "depth": "", "scheme": "", "setting": name, "std": None, "outcome": "ok", "n_seeds": None,
                    "variant": "", "dataset_key": key}
        rows += [{**defaults, **r} for r in df.to_dict("records")]
    return rows


def build_table(table: str, scale: str, results: str = "results", seeds=None) -> pd.DataFrame:
    spec = load_spec(table)
    rows = run_rows(spec, scale, results, seeds) + study_rows(spec, scale, results)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=TIDY)
    for col in TIDY:
        if col not in df.columns:
            df[col] = ""
    extras = [c for c in df.columns if c not in TIDY]
    return df[TIDY + extras]


def parse_seeds(text: str | None):
    if not text:
        return None
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise SystemExit(f"--seeds {text!r}: expected a comma-separated list of integers, e.g. 1,2,3") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aggregate.table", description=__doc__.split("\n")[0])
    ap.add_argument("--table", required=True)
    ap.add_argument("--scale", required=True, choices=SCALES)
    ap.add_argument("--results", default="results")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (replaces the tables' seeds)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    try:
        df = build_table(args.table, args.scale, args.results, parse_seeds(args.seeds))
    except (ValueError, FileNotFoundError) as e:
        print(f"aggregate.table {args.table}: {e}", file=sys.stderr)
        return 1
    write_csv(df, args.out)
    print(f"wrote {args.out} ({len(df)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
