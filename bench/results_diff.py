"""Diff two results roots: the tables, compare CSVs and claim verdicts of one scale.

    python -m bench.results_diff OLD/tiny NEW/tiny

Compares every CSV under OLD's tables/ and compare/ with NEW's on OLD's columns (a column NEW
adds is not a difference) and prints each file that differs, with its first differing rows; the
timing fields of a claim's figures (`*_seconds`) are left out. Prints nothing and exits 0 when
the results are the same.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

TIMING = re.compile(r"_seconds$")


def _untimed(text: str) -> str:
    def drop(obj):
        if isinstance(obj, dict):
            return {k: drop(v) for k, v in obj.items() if not TIMING.search(str(k))}
        return [drop(v) for v in obj] if isinstance(obj, list) else obj
    try:
        return json.dumps(drop(json.loads(text)), sort_keys=True)
    except (TypeError, ValueError):
        return text


def diff_file(old: Path, new: Path) -> str:
    if not new.is_file():
        return f"{new}: missing"
    a = pd.read_csv(old, dtype=str, keep_default_na=False)
    b = pd.read_csv(new, dtype=str, keep_default_na=False)
    gone = [c for c in a.columns if c not in b.columns]
    if gone:
        return f"{new}: columns {gone} missing"
    b = b[list(a.columns)]
    if "figures" in a.columns:
        a["figures"], b["figures"] = a["figures"].map(_untimed), b["figures"].map(_untimed)
    if a.shape != b.shape:
        return f"{new}: {b.shape[0]} rows, {old} has {a.shape[0]}"
    rows = (a != b).any(axis=1)
    if not rows.any():
        return ""
    return f"{new}: {int(rows.sum())} rows differ\n{a[rows].head(3).to_string()}\n{b[rows].head(3).to_string()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.results_diff", description=__doc__.split("\n")[0])
    ap.add_argument("old", type=Path, help="results/<scale> of the earlier run")
    ap.add_argument("new", type=Path, help="results/<scale> of the later run")
    args = ap.parse_args(argv)
    files = sorted(p for sub in ("tables", "compare") for p in (args.old / sub).glob("*.csv"))
    if not files:
        print(f"{args.old}: no tables/ or compare/ CSVs; expected a results/<scale> folder", file=sys.stderr)
        return 2
    found = [d for d in (diff_file(p, args.new / p.relative_to(args.old)) for p in files) if d]
    print("\n".join(found), end="\n" if found else "")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
