"""Small shared helpers: atomic writes, the tidy columns, reading run directories."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tasks.config import atomic_write_bytes, atomic_write_text  # noqa: F401 (re-exported)

# The columns of ../shared/papers/*.csv (minus `source`) plus n_seeds: a compare is a join.
TIDY = ["paper", "table", "task", "dataset", "depth", "scheme", "setting", "metric", "value", "std",
        "outcome", "n_seeds"]


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    atomic_write_text(path, df.to_csv(index=False))


def read_json(path: str | Path, what: str):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); expected {what}") from None


def read_metrics(path: str | Path) -> list[dict]:
    """Rows of a run's metrics.jsonl (empty list if the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(f"{path}:{i}: not a JSON object; expected one JSON record per line") from None
    return rows
