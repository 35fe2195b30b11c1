"""Compare regenerated tables with the papers, and give every claim a verdict.

    python -m aggregate.compare --scale S --table T     -> <results>/S/compare/T.csv
    python -m aggregate.compare --scale S --claims T    -> <results>/S/compare/T.claims.csv (T's claims)
    python -m aggregate.compare --scale S [--strict]    -> <results>/S/compare/summary.md, claims.csv

Cells are joined on keys, never on display labels: (dataset_key, depth, scheme, variant, metric),
or the experiment's `compare_keys` (studies measured on synthetic data leave out the dataset). Numeric verdicts apply at
the paper scale only (|regenerated - reference| <= the table's tolerance for that metric);
at tiny and small scale a cell's verdict is `n/a`. Claims get verdicts at every scale.
With --strict the summary step exits 1 when any cell or claim fails.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from aggregate.claims import all_verdicts
from aggregate.io import atomic_write_text, write_csv
from aggregate.reference import reference_rows
from catalog.words import SCALES
from experiments.registry import ids as table_ids
from experiments.registry import spec as load_table

KEYS = ["dataset", "depth", "scheme", "setting", "metric"]  # what a reader sees
COLUMNS = ["table", *KEYS, "reference", "reference_std", "reference_outcome", "reference_source", "regenerated",
           "regenerated_std", "regenerated_outcome", "n_seeds", "delta", "tolerance", "verdict", "dataset_key", "variant"]


CLAIM_COLUMNS = ["claim", "verdict", "detail", "figures", "source"]


def _float(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if v != v else v


def _failed(outcome: str) -> bool:
    return str(outcome).startswith(("failed", "diverged"))


def cell_verdict(ref: dict, new: dict | None, tol: float | None, scale: str) -> tuple[float | None, str]:
    """(delta, verdict) of one reference cell against its regenerated cell."""
    if new is None or str(new.get("outcome", "")).startswith("not computed"):
        return None, "not_run"
    ref_v, new_v = _float(ref["value"]), _float(new["value"])
    delta = new_v - ref_v if ref_v is not None and new_v is not None else None
    if scale != "paper":
        return delta, f"n/a ({scale} scale)"
    if _failed(ref["outcome"]) or _failed(new["outcome"]):
        return delta, "holds" if _failed(ref["outcome"]) == _failed(new["outcome"]) else "fails"
    if ref_v is None or new_v is None:  # categorical cell (yes/no, converged/diverged)
        return None, "holds" if str(ref["value"]) == str(new["value"]) else "fails"
    return delta, "holds" if abs(delta) <= (tol or 0.0) else "fails"


def _not_run(scale: str) -> str:
    """The regenerated outcome of a reference cell that no run of this scale measured."""
    return "not run" if scale == "paper" else f"not run at {scale} scale (the table's notes say why)"


def compare_table(table: str, scale: str, results: str) -> pd.DataFrame:
    spec = load_table(table)
    new = pd.read_csv(Path(results) / scale / "tables" / f"{table}.csv", dtype=str, keep_default_na=False)
    ref = reference_rows(spec)
    keys = list(spec.compare_keys)
    new_by_key = {tuple(r.get(k, "") for k in keys): r for r in new.to_dict("records")}
    labels = {key: tuple(r.get(k, "") for k in (*KEYS, "dataset_key", "variant")) for key, r in new_by_key.items()}
    rows, seen = [], set()
    for r in ref.to_dict("records"):
        key = tuple(r[k] for k in keys)
        seen.add(key)
        n = new_by_key.get(key)
        tol = spec.tolerance.get(r["metric"])
        delta, v = cell_verdict(r, n, tol, scale)
        rows.append({"table": table, **{k: r[k] for k in (*KEYS, "dataset_key", "variant")},
                     "reference": r["value"], "reference_std": r["std"],
                     "reference_outcome": r["outcome"], "reference_source": r["reference_source"],
                     "regenerated": n["value"] if n else "",
                     "regenerated_std": n["std"] if n else "",
                     "regenerated_outcome": n["outcome"] if n else _not_run(scale),
                     "n_seeds": n["n_seeds"] if n else "", "delta": delta, "tolerance": tol, "verdict": v})
    for key, n in new_by_key.items():
        if key not in seen:
            rows.append({"table": table, **dict(zip((*KEYS, "dataset_key", "variant"), labels[key])),
                         "reference": "", "reference_std": "",
                         "reference_outcome": "", "reference_source": "", "regenerated": n["value"],
                         "regenerated_std": n["std"],
                         "regenerated_outcome": n["outcome"], "n_seeds": n["n_seeds"], "delta": None,
                         "tolerance": None, "verdict": "no reference"})
    return pd.DataFrame(rows, columns=COLUMNS)


def _counts(df: pd.DataFrame) -> str:
    counts = df["verdict"].value_counts()
    return ", ".join(f"{v}: {n}" for v, n in counts.items()) or "no cells"


def summary_markdown(scale: str, tables: dict[str, pd.DataFrame | None], claims: list[dict]) -> str:
    lines = [f"# normbench compare summary ({scale} scale)", "",
             "Numeric verdicts apply at the paper scale only; claims get verdicts at every scale.", "",
             "## Tables", "", "| table | cells | verdicts |", "|---|---|---|"]
    for t, df in tables.items():
        lines.append(f"| {t} | not run | - |" if df is None else f"| {t} | {len(df)} | {_counts(df)} |")
    counts = pd.Series([c["verdict"] for c in claims]).value_counts() if claims else pd.Series(dtype=int)
    lines += ["", "## Claims", "",
              "holds / fails: the runs learned and agree with / contradict the paper; inconclusive: the control "
              "(the configuration the paper says trains) did not learn, so the experiment cannot speak; "
              "not run: nothing measured it. The full measurements are in `claims.csv` (column `figures`).", "",
              "Verdicts: " + (", ".join(f"{v.replace('_', ' ')} {n}" for v, n in counts.items()) or "none"), "",
              "| claim | verdict | what decided it |", "|---|---|---|"]
    for c in claims:
        detail = " ".join(str(c["detail"]).replace("|", "\\|").split()) or "-"
        lines.append(f"| {c['claim']} | **{c['verdict'].replace('_', ' ')}** | {detail} |")
    return "\n".join(lines) + "\n"


def write_claims(claims: list[dict], path: Path) -> None:
    write_csv(pd.DataFrame([{**c, "figures": json.dumps(c["figures"], sort_keys=True, default=str)} for c in claims],
                           columns=CLAIM_COLUMNS), path)


def summarize(scale: str, results: str) -> tuple[str, list[dict], bool]:
    """(summary markdown, claim verdicts, any failure) from whatever the workflow produced."""
    base = Path(results) / scale
    tables = {}
    for t in table_ids():
        path = base / "compare" / f"{t}.csv"
        tables[t] = pd.read_csv(path, dtype=str, keep_default_na=False) if path.is_file() else None
    claims = all_verdicts(base / "tables", base / "studies", scale, results)
    failing = any(c["verdict"] == "fails" for c in claims) or any(
        df is not None and (df["verdict"] == "fails").any() for df in tables.values())
    return summary_markdown(scale, tables, claims), claims, failing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aggregate.compare", description=__doc__.split("\n")[0])
    ap.add_argument("--scale", required=True, choices=SCALES)
    ap.add_argument("--results", default="results")
    ap.add_argument("--table", default=None, help="compare one table; without it: the summary")
    ap.add_argument("--claims", default=None, metavar="TABLE", help="the verdicts of one table's claims")
    ap.add_argument("--strict", action="store_true", help="exit 1 when any verdict fails")
    args = ap.parse_args(argv)
    out = Path(args.results) / args.scale / "compare"
    try:
        if args.table:
            df = compare_table(args.table, args.scale, args.results)
            write_csv(df, out / f"{args.table}.csv")
            print(f"wrote {out / (args.table + '.csv')}: {_counts(df)}")
            return 1 if args.strict and (df["verdict"] == "fails").any() else 0
        if args.claims:
            base = Path(args.results) / args.scale
            load_table(args.claims)  # an unknown experiment is named (CatalogError)
            claims = all_verdicts(base / "tables", base / "studies", args.scale, args.results, args.claims)
            write_claims(claims, out / f"{args.claims}.claims.csv")
            print("\n".join(f"{c['claim']}: {c['verdict']}: {c['detail']}" for c in claims))
            return 1 if args.strict and any(c["verdict"] == "fails" for c in claims) else 0
        text, claims, failing = summarize(args.scale, args.results)
    except (ValueError, FileNotFoundError) as e:
        print(f"aggregate.compare: {e}", file=sys.stderr)
        return 2
    write_claims(claims, out / "claims.csv")
    atomic_write_text(out / "summary.md", text)
    print(text)
    if args.strict and failing:
        print("aggregate.compare --strict: at least one verdict fails (see summary.md)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
