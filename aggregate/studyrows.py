"""Turn a study's measurement CSV into tidy table rows, as experiments/<id>/experiment.yaml says.

A `study_rows` entry of a table spec:
    study:   the study whose CSV is read (results/<scale>/studies/<study>.csv)
    where:   optional pandas query selecting measurement rows ("part == 'by_layer'")
    value:   the column holding the measured number
    metric, scheme, depth, setting, dataset, variant: templates over the CSV's columns
             ("{depth}L-{depth}L"); variant names the run variant a row measured (a key of
             compare), when the study measures several
    extra:   optional {column: template} kept beside the tidy columns (e.g. the layer index)
    reduce:  optional "third_ratio": per cell, mean of the first third of the `layer`-ordered
             curve over the mean of its last third (Liu et al. Table 1's "vanishing" reading)
    below:   optional {threshold: x, yes: label, no: label}: a categorical cell from the number
The entry's keys are checked where the spec is loaded (catalog.experiment.check_study_row).
Rows that render to the same cell are averaged: value = mean, std = sample std, n_seeds = count.
"""
from __future__ import annotations

import math
import statistics
import string

import pandas as pd

TEMPLATES = ("metric", "scheme", "depth", "setting", "dataset", "variant")


class StudyRowsError(ValueError):
    """A study CSV that does not fit its table's `study_rows` entry; names file and column."""


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(str(template)) if f}


def third_ratio(curve: list[float]) -> float:
    """Mean of the first third of a curve over the mean of its last third."""
    k = max(1, len(curve) // 3)
    last = statistics.fmean(curve[-k:])
    return statistics.fmean(curve[:k]) / last if last else math.inf


def _render(df: pd.DataFrame, template: str, source: str) -> pd.Series:
    missing = _fields(template) - set(df.columns)
    if missing:
        raise StudyRowsError(f"{source}: no column {sorted(missing)} for template {template!r}; "
                             f"columns are {list(df.columns)}")
    return df.apply(lambda r: str(template).format(**r.to_dict()), axis=1)


def _cells(df: pd.DataFrame, entry: dict, source: str) -> pd.DataFrame:
    """One rendered label column per template, plus the numeric value."""
    if entry["value"] not in df.columns:
        raise StudyRowsError(f"{source}: no value column {entry['value']!r}; columns are {list(df.columns)}")
    out = pd.DataFrame({"_v": pd.to_numeric(df[entry["value"]], errors="coerce")}, index=df.index)
    for key in TEMPLATES:
        out[key] = _render(df, entry.get(key, ""), source) if entry.get(key) else ""
    for col, template in (entry.get("extra") or {}).items():
        out[col] = _render(df, template, source)
    if entry.get("reduce") == "third_ratio":
        if "layer" not in df.columns or "seed" not in df.columns:
            raise StudyRowsError(f"{source}: reduce third_ratio needs `layer` and `seed` columns")
        out["_layer"], out["_seed"] = pd.to_numeric(df["layer"]), df["seed"]
    return out


def _reduce_third_ratio(cells: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    rows = []
    for label, part in cells.groupby(keys + ["_seed"], sort=False):
        curve = part.groupby("_layer")["_v"].mean().sort_index().tolist()
        rows.append({**dict(zip(keys + ["_seed"], label)), "_v": third_ratio(curve)})
    return pd.DataFrame(rows)


def rows_from_study(df: pd.DataFrame, entry: dict, source: str) -> list[dict]:
    if entry.get("where"):
        try:
            df = df.query(entry["where"])
        except Exception as e:  # pandas raises many types for a bad expression
            raise StudyRowsError(f"{source}: where {entry['where']!r} failed ({e})") from None
    cells = _cells(df, entry, source)
    keys = list(TEMPLATES) + list((entry.get("extra") or {}))
    if entry.get("reduce") == "third_ratio":
        cells = _reduce_third_ratio(cells, keys)
    rows = []
    for label, part in cells.groupby(keys, sort=False):
        vals = [v for v in part["_v"] if isinstance(v, float) and math.isfinite(v)]
        row = dict(zip(keys, label))
        if not vals:
            rows.append({**row, "value": None, "std": None, "n_seeds": 0,
                         "outcome": f"not computed: no finite {entry['value']!r} in {source}"})
            continue
        mean = statistics.fmean(vals)
        row.update(value=mean, std=statistics.stdev(vals) if len(vals) > 1 else None,
                   n_seeds=len(vals), outcome="ok")
        if entry.get("below"):
            b = entry["below"]
            row.update(value=b["yes"] if mean < float(b["threshold"]) else b["no"], std=None)
        rows.append(row)
    return rows
