"""One self-contained HTML page per table, read like the paper: the regenerated table beside the
paper's numbers, the figure, the training curves, and the claims with their verdicts.

    python -m aggregate.report_page --table admin_table2 --scale tiny --results results \
        --out results/tiny/report/admin_table2.html

Inputs (all made by the workflow before this runs): compare/<table>.csv (reference, regenerated,
delta, tolerance, verdict, reference_source), tables/<table>.csv (for the metrics' definitions and
the extra columns their spec names), figures/<table>.png, figures/<table>_curves.png,
compare/claims.csv and the experiment's claims (experiments/<id>/claims.py). Images are embedded, so the page stands
alone (the Snakemake report shows it under "Tables vs papers").
"""
from __future__ import annotations

import argparse
import base64
import html
import sys
from pathlib import Path

import pandas as pd

from aggregate.io import atomic_write_text
from catalog.words import SCALES
from experiments.registry import experiment

KEYS = ("dataset_key", "depth", "scheme", "variant", "metric")  # a table row meets its compare row on keys
CITATIONS = {
    "xiong2020_preln": "Xiong et al. 2020, On Layer Normalization in the Transformer Architecture (ICML, arXiv:2002.04745)",
    "liu2020_admin": "Liu et al. 2020, Understanding the Difficulty of Training Transformers (EMNLP, arXiv:2004.08249)",
    "zhai2023_sigma_reparam": "Zhai et al. 2023, Stabilizing Transformer Training by Preventing Attention Entropy "
                              "Collapse (ICML, arXiv:2303.06296)",
    "zhang2022_init_hessian": "Zhang & Mackey 2022, Understanding Transformer Models at Initialization "
                              "(University of Toronto course report)",
}
STYLE = """<style>body{font-family:sans-serif;font-size:14px;max-width:1200px;margin:1em auto}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
th{background:#f0f0f0}.holds{color:#070}.fails{color:#b00;font-weight:bold}.muted{color:#777}
img{max-width:100%}</style>"""


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, dtype=str, keep_default_na=False) if path.is_file() else None


def _fmt(value: str, std: str = "") -> str:
    try:
        text = f"{float(value):.4g}"
    except (TypeError, ValueError):
        text = str(value)
    if std not in ("", None):
        try:
            text += f" ± {float(std):.2g}"
        except ValueError:
            pass
    return html.escape(text)


def _img(path: Path, alt: str) -> str:
    if not path.is_file():
        return f'<p class="muted">{html.escape(alt)}: not made ({html.escape(str(path))} missing)</p>'
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _number(x) -> bool:
    try:
        float(x)
        return x != ""
    except (TypeError, ValueError):
        return False


def extra_columns(spec, tab: pd.DataFrame | None) -> tuple[list[str], list[str]]:
    """(numeric, descriptive) columns the spec's metrics add beside their value (`extra`, e.g. a
    second score and its signature; `metric_definition`): numbers become compare columns, text
    goes under "What the metrics are"."""
    if tab is None:
        return [], []
    cols = [c for m in spec.metrics for c in (m.get("extra") or {}) if c in tab.columns]
    numeric = [c for c in cols if tab[c].map(_number).any()]
    return numeric, ["metric_definition"] * ("metric_definition" in tab.columns) + [c for c in cols if c not in numeric]


def compare_html(cmp: pd.DataFrame, tab: pd.DataFrame | None = None, spec=None) -> str:
    """The compare rows, with a column for each numeric extra of the table's metrics."""
    if cmp is None or cmp.empty:
        return '<p class="muted">No compare rows (the compare step has not run, or the table has no cells).</p>'
    numeric = extra_columns(spec, tab)[0] if spec is not None else []
    extra = {c: {tuple(r[k] for k in KEYS): r[c] for r in tab.to_dict("records") if r[c] != ""} for c in numeric}
    head = ("<tr><th>dataset</th><th>depth</th><th>scheme</th><th>setting</th><th>metric</th>"
            "<th>paper</th><th>source of the paper value</th><th>regenerated</th><th>seeds</th>"
            "<th>delta</th><th>tolerance</th><th>verdict</th>"
            + "".join(f"<th>{html.escape(c)}</th>" for c in numeric) + "</tr>")
    rows = []
    for r in cmp.to_dict("records"):
        verdict = r.get("verdict", "")
        cls = "holds" if verdict == "holds" else "fails" if verdict == "fails" else "muted"
        regen = _fmt(r.get("regenerated", ""), r.get("regenerated_std", "")) or html.escape(r.get("regenerated_outcome", ""))
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(r.get(k, '')))}</td>" for k in
                                     ("dataset", "depth", "scheme", "setting", "metric"))
                    + f"<td>{_fmt(r.get('reference', ''), r.get('reference_std', ''))}</td>"
                    + f"<td>{html.escape(r.get('reference_source', ''))}</td><td>{regen}</td>"
                    + f"<td>{html.escape(str(r.get('n_seeds', '')))}</td><td>{_fmt(r.get('delta', ''))}</td>"
                    + f"<td>{html.escape(str(r.get('tolerance', '')))}</td>"
                    + f'<td class="{cls}">{html.escape(verdict)}</td>'
                    + "".join(f"<td>{_fmt(extra[c].get(tuple(str(r.get(k, '')) for k in KEYS), ''))}</td>"
                              for c in numeric)
                    + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def metric_notes(tab: pd.DataFrame | None, spec=None) -> str:
    """Definitions and signatures beside the metrics (the spec's `definition` and text extras)."""
    if tab is None or spec is None:
        return ""
    cols = extra_columns(spec, tab)[1]
    if not cols:
        return ""
    notes = tab[["metric", *cols]].drop_duplicates()
    notes = notes[(notes[cols] != "").any(axis=1)]
    if notes.empty:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ("metric", *cols))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in ("metric", *cols)) + "</tr>"
                   for r in notes.to_dict("records"))
    return f"<h3>What the metrics are</h3><table><tr>{head}</tr>{body}</table>"


def claims_html(claims: tuple, verdicts: pd.DataFrame | None) -> str:
    if not claims:
        return '<p class="muted">This table checks no claim.</p>'
    by_id = {r["claim"]: r for r in verdicts.to_dict("records")} if verdicts is not None else {}
    rows = []
    for claim in claims:
        cid, c, v = claim.id, {"paper": claim.paper, "claim": claim.text}, by_id.get(claim.id, {})
        verdict = v.get("verdict", "not run (the compare summary has not run)")
        cls = "holds" if verdict == "holds" else "fails" if verdict == "fails" else "muted"
        detail = " ".join(str(v.get("detail", "")).split()) or "-"
        rows.append(f"<tr><td>{html.escape(cid)}<br><span class='muted'>{html.escape(c.get('paper', ''))}</span></td>"
                    f"<td>{html.escape(c.get('claim', ''))}</td><td class='{cls}'>{html.escape(verdict)}</td>"
                    f"<td>{html.escape(detail)}</td></tr>")
    return ("<table><tr><th>claim</th><th>what the paper says</th><th>verdict</th><th>evidence</th></tr>"
            + "".join(rows) + "</table>")


def page(table: str, scale: str, results: str) -> str:
    exp = experiment(table)
    spec = exp.spec
    base = Path(results) / scale
    cmp = _read(base / "compare" / f"{table}.csv")
    tab = _read(base / "tables" / f"{table}.csv")
    verdicts = _read(base / "compare" / "claims.csv")
    cite = CITATIONS.get(spec.paper, spec.paper)
    numeric_note = ("Numeric verdicts apply at the paper scale only; at this scale a cell shows n/a and the "
                    "claims below carry the comparison." if scale != "paper" else
                    "A cell holds when |regenerated - paper| is within the table's tolerance.")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(spec.title)}</title>{STYLE}"
             "</head><body>",
             f"<h1>{html.escape(spec.title)}</h1>",
             f"<p>{html.escape(cite)}. Regenerated at the <b>{html.escape(scale)}</b> scale. "
             f"Needs: {html.escape(spec.target_needs or '-')}.</p>",
             f"<h2>Regenerated table beside the paper's</h2><p>{html.escape(numeric_note)}</p>",
             compare_html(cmp, tab, spec), metric_notes(tab, spec),
             "<h2>Figure</h2>", _img(base / "figures" / f"{table}.png", "figure"),
             "<h2>Training curves of the runs behind it</h2>",
             _img(base / "figures" / f"{table}_curves.png", "training curves"),
             "<h2>Claims</h2>", claims_html(exp.claims, verdicts), "</body></html>"]
    return "\n".join(p for p in parts if p)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aggregate.report_page", description=__doc__.split("\n")[0])
    ap.add_argument("--table", required=True)
    ap.add_argument("--scale", required=True, choices=SCALES)
    ap.add_argument("--results", default="results")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    try:
        text = page(args.table, args.scale, args.results)
    except ValueError as e:  # a CatalogError is a ValueError
        print(f"aggregate.report_page {args.table}: {e}", file=sys.stderr)
        return 1
    atomic_write_text(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
