"""Small shared helpers: atomic writes, the tidy columns, reading run directories."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tasks.config import atomic_write_bytes, atomic_write_text  # noqa: F401 (re-exported)

# The columns of results/reference/*.csv (minus `source`, `reference_source`) plus n_seeds:
# a compare is a join.
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


RUN_STATUSES = ("ok", "diverged")


def read_status(path: str | Path) -> dict:
    """A run's status.json, checked: {"status": "ok"|"diverged", "step": int, "reason": str}.
    A missing, malformed or incomplete file raises naming it and what tasks.train writes."""
    expected = '{"status": "ok"|"diverged", "step": N, "reason": "..."} as written by tasks.train'
    data = read_json(path, f"the run status {expected}")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object {expected}, got {type(data).__name__}")
    missing = [k for k in ("status", "step", "reason") if k not in data]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}; expected {expected}")
    if data["status"] not in RUN_STATUSES:
        raise ValueError(f"{path}: status {data['status']!r}; expected one of {list(RUN_STATUSES)}")
    if not isinstance(data["step"], int) or isinstance(data["step"], bool) or not isinstance(data["reason"], str):
        raise ValueError(f"{path}: step must be an integer and reason a string; expected {expected}")
    return data


def read_csv(path: str | Path, what: str, columns=(), **kwargs) -> pd.DataFrame:
    """pd.read_csv that names the file when it is missing, empty, not parseable as CSV, not
    UTF-8, or lacks any of `columns` (the message lists the expected and the found columns)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    try:
        df = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty file; expected {what} with a header row {list(columns)}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path}: not a readable CSV ({type(e).__name__}: {str(e).strip()}); expected {what} "
                         f"with columns {list(columns)}") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {what} with columns {list(columns)}, "
                         f"found {list(df.columns)}")
    return df


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
