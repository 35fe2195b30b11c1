"""The papers' numbers and claims, tracked in results/reference/.

One row per published number, in the tidy table columns plus `source` (where it was read) and
`reference_source` (paper table / paper text / secondary source; docs/recipes.md 1.4, 2.1, 9);
claims.yaml holds the papers' claims in checkable form (ids are stable).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from aggregate.spec import repo_path

REFERENCE_DIR = repo_path("results", "reference")
CLAIM_KEYS = {"id", "paper", "claim", "measured", "table", "decided_by", "source"}


# Where a reference number was read: the paper's own table or figure, its running text, or a
# secondary source (a reading note or summary, not checked against the paper).
REFERENCE_SOURCES = ("paper table", "paper text", "secondary source")


def reference_source(source: str, where: str) -> str:
    """The provenance class of a row whose CSV has no `reference_source` column, read from its
    free-text `source`: secondary when it says so (or names a reading note), else paper text or
    paper table by what it cites."""
    text = str(source)
    low = text.lower()
    if low.startswith("secondary") or "reading note" in low or "secondary" in low:
        return "secondary source"
    if " text" in low or "text)" in low or "'" in text:
        return "paper text"
    if "table" in low or "fig" in low:
        return "paper table"
    raise ValueError(f"{where}: cannot tell from source {text!r} whether the value comes from a paper table, "
                     f"the paper's text or a secondary source; add a reference_source column "
                     f"(one of {list(REFERENCE_SOURCES)})")


def reference_rows(table: str, files: tuple | list, ref_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    """The reference rows of `table` from the named CSVs (all columns as text), each with its
    `reference_source` (one of REFERENCE_SOURCES): the CSV's column when it has one, else read
    from its `source` text."""
    frames = []
    for name in files:
        path = Path(ref_dir) / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: reference CSV not found (a table spec names it under `reference`)")
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        df = df[df["table"] == table].copy()
        if "reference_source" not in df.columns:
            df["reference_source"] = [reference_source(s, f"{path}:{i + 2}") for i, s in zip(df.index, df["source"])]
        bad = sorted(set(df["reference_source"]) - set(REFERENCE_SOURCES))
        if bad:
            raise ValueError(f"{path}: reference_source {bad}; expected one of {list(REFERENCE_SOURCES)}")
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_claims(ref_dir: Path = REFERENCE_DIR) -> list[dict]:
    path = Path(ref_dir) / "claims.yaml"
    data = yaml.safe_load(path.read_text())
    claims = (data or {}).get("claims")
    if not isinstance(claims, list):
        raise ValueError(f"{path}: expected a mapping with a list under `claims`")
    for i, c in enumerate(claims):
        if not isinstance(c, dict) or set(c) != CLAIM_KEYS:
            raise ValueError(f"{path}: claims[{i}] must have exactly the keys {sorted(CLAIM_KEYS)}")
    return claims
