"""The papers' numbers: each experiment's `reference.csv` (experiments/<id>/).

One row per published number, in the tidy table columns plus the keys a compare joins on
(`dataset_key`: the config key of the dataset; `variant`: the run variant that measures the cell,
empty for a cell a study measures), `reference_source` (paper table / paper text / secondary source) and
`source` (where it was read). Labels (`dataset`, `setting`) are for display only. A row whose
`source` says "not one cell" is context (a range over variants, another recipe's number): it
meets no regenerated cell and its compare row says not run.
"""
from __future__ import annotations

import pandas as pd

from catalog.experiment import ExperimentSpec

# Where a reference number was read: the paper's own table or figure, its running text, or a
# secondary source (a reading note or summary, not checked against the paper).
REFERENCE_SOURCES = ("paper table", "paper text", "secondary source")
KEY_COLUMNS = ("table", "dataset_key", "depth", "scheme", "variant", "metric", "value", "outcome",
               "reference_source", "source")


def reference_rows(spec: ExperimentSpec) -> pd.DataFrame:
    """The reference rows of an experiment (all columns as text; empty when it has none)."""
    path = spec.reference
    if not path.is_file():
        return pd.DataFrame()
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in KEY_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected the tidy columns plus {list(KEY_COLUMNS)}")
    others = sorted(set(df["table"]) - {spec.id})
    if others:
        raise ValueError(f"{path}: rows of table(s) {others}; an experiment's reference.csv holds its own rows "
                         f"(table {spec.id})")
    bad = sorted(set(df["reference_source"]) - set(REFERENCE_SOURCES))
    if bad:
        raise ValueError(f"{path}: reference_source {bad}; expected one of {list(REFERENCE_SOURCES)}")
    return df
