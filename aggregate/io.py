"""Small shared helpers: atomic writes, the tidy columns, CSV reading (run directories: catalog.runs)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.config import atomic_write_bytes, atomic_write_text  # noqa: F401 (re-exported)

# The columns every table starts with (experiments/<id>/reference.csv holds the same, plus the
# keys dataset_key and variant and its provenance); a compare joins them on keys.
TIDY = ["paper", "table", "task", "dataset", "depth", "scheme", "setting", "metric", "value", "std",
        "outcome", "n_seeds"]


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    atomic_write_text(path, df.to_csv(index=False))


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
