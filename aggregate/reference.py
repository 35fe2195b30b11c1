"""The papers' numbers and claims, tracked in results/reference/.

The CSVs are copies of ../shared/papers/*.csv (same rows, with their `source` column);
claims.yaml transcribes ../shared/papers/CLAIMS.md (ids are stable).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from aggregate.spec import repo_path

REFERENCE_DIR = repo_path("results", "reference")
CLAIM_KEYS = {"id", "paper", "claim", "measured", "table", "decided_by", "source"}


def reference_rows(table: str, files: tuple | list, ref_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    """The reference rows of `table` from the named CSVs (all columns as text)."""
    frames = []
    for name in files:
        path = Path(ref_dir) / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: reference CSV not found; expected a copy of ../shared/papers/{name}")
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        frames.append(df[df["table"] == table])
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
