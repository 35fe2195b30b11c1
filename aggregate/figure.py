"""Draw a table's figure (PNG and PDF) from its tidy CSV.

    python -m aggregate.figure --table T --scale S --out results/S/figures/T.png   (+ T.pdf)

Kinds (config/tables/<id>.yaml `figure.kind`): `bars` (one bar per scheme, grouped by
dataset and depth; failed cells marked), `outcome` (the cells as a text grid), `hist`
(histogram of log10 values per scheme), `lines`
(value against `figure.x` per scheme, one panel per metric). `figure.curves: KEY` adds a
panel of KEY from each run's metrics.jsonl (e.g. validation loss per epoch).
"""
from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from aggregate.io import atomic_write_bytes, read_metrics  # noqa: E402
from aggregate.spec import load_table, run_ids  # noqa: E402
from aggregate.table import parse_seeds  # noqa: E402

MAX_PANELS = 6


def _numeric(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def _x_value(x) -> float:
    """Sort key of an x label: a number, or the first integer in it (`12L-12L` -> 12)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        m = re.search(r"\d+", str(x))
        return float(m.group()) if m else 0.0


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes, fontsize=9)
    ax.set_axis_off()


def _group_labels(df: pd.DataFrame) -> pd.Series:
    """dataset / depth / setting, keeping only the parts that differ between cells."""
    cols = [c for c in ("dataset", "depth", "setting") if df[c].nunique() > 1] or ["depth"]
    return df[cols].astype(str).agg("\n".join, axis=1)


def draw_bars(ax, df: pd.DataFrame) -> None:
    df = df.assign(v=_numeric(df["value"]), group=_group_labels(df))
    groups, schemes = list(dict.fromkeys(df["group"])), list(dict.fromkeys(df["scheme"]))
    width = 0.8 / max(1, len(schemes))
    for j, scheme in enumerate(schemes):
        labelled = False
        for i, g in enumerate(groups):
            cell = df[(df["group"] == g) & (df["scheme"] == scheme)]
            if cell.empty:
                continue
            x, v = i + j * width, cell["v"].iloc[0]
            if pd.isna(v):
                ax.text(x, 0, "x " + str(cell["outcome"].iloc[0])[:14], rotation=90, fontsize=7,
                        va="bottom", color=f"C{j}")
            else:
                ax.bar(x, v, width, color=f"C{j}", label=None if labelled else scheme)
                labelled = True
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))], groups, fontsize=6,
                  rotation=30, ha="right")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def draw_lines(ax, df: pd.DataFrame, x) -> None:
    """`x`: a column, or a list of columns of which the first this panel fills is used."""
    candidates = [x] if isinstance(x, str) else list(x)
    filled = [c for c in candidates if c in df.columns and (df[c].astype(str) != "").any()]
    xcol = filled[0] if filled else "depth"
    df = df.assign(v=_numeric(df["value"]), xv=df[xcol].map(_x_value)).dropna(subset=["v"])
    if df.empty:
        return _note(ax, "no numeric values")
    # Separate curves per depth only when one x value holds several depths (per-layer curves).
    mixed = df.groupby(["scheme", "setting", "xv"])["depth"].nunique().max() > 1
    hue = ["scheme", "setting"] + (["depth"] if xcol != "depth" and mixed else [])
    for j, (label, part) in enumerate(df.groupby(hue, sort=False)):
        part = part.groupby("xv", as_index=False)["v"].mean().sort_values("xv")
        ax.plot(part["xv"], part["v"], marker="o", ms=3, color=f"C{j % 10}", label=" / ".join(map(str, label)))
    ax.set_xlabel(xcol)
    ax.legend(fontsize=6)
    return None


def draw_hist(ax, df: pd.DataFrame) -> None:
    """Histogram of log10(value) per scheme (Liu et al. Fig. 5: relative norms per parameter)."""
    v = _numeric(df["value"])
    df = df.assign(v=v)[v > 0]
    if df.empty:
        return _note(ax, "no positive values")
    for j, (scheme, part) in enumerate(df.groupby("scheme", sort=False)):
        ax.hist(np.log10(part["v"]), bins=30, alpha=0.5, color=f"C{j}", label=str(scheme))
    ax.set_xlabel("log10 value")
    ax.legend(fontsize=6)
    return None


def draw_outcome(ax, df: pd.DataFrame) -> None:
    cells = [[r["depth"], r["scheme"], r["metric"], str(r["value"])] for _, r in df.iterrows()]
    if not cells:
        return _note(ax, "empty table")
    ax.set_axis_off()
    ax.table(cellText=cells, colLabels=["depth", "scheme", "metric", "value"], loc="center", fontsize=8)


def draw_curves(ax, spec, scale: str, results: str, seeds, key: str) -> None:
    drawn = 0
    for rid in run_ids(spec, scale, seeds):
        rows = [r for r in read_metrics(Path(results) / scale / "runs" / rid / "metrics.jsonl") if key in r]
        if rows:
            xs = [r.get("epoch", r.get("step", i)) for i, r in enumerate(rows)]
            ax.plot(xs, [r[key] for r in rows], marker=".", label=rid.split("/")[3] + " " + rid.split("/")[4])
            drawn += 1
    if not drawn:
        return _note(ax, f"no {key!r} in the runs' metrics.jsonl")
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.legend(fontsize=6)


def render(table: str, scale: str, results: str, seeds=None) -> plt.Figure:
    spec = load_table(table)
    df = pd.read_csv(Path(results) / scale / "tables" / f"{table}.csv", dtype=str, keep_default_na=False)
    kind, metrics = spec.figure.get("kind", "lines"), list(dict.fromkeys(df["metric"]))[:MAX_PANELS]
    panels = max(1, len(metrics)) + (1 if spec.figure.get("curves") else 0)
    if kind == "outcome":
        panels = 1
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 4.5), squeeze=False)
    axes = list(axes[0])
    if kind == "outcome":
        draw_outcome(axes[0], df)
    elif not metrics:
        _note(axes[0], "empty table")
    for ax, metric in zip(axes, metrics if kind != "outcome" else []):
        part = df[df["metric"] == metric]
        if kind == "bars":
            draw_bars(ax, part)
        elif kind == "hist":
            draw_hist(ax, part)
        else:
            draw_lines(ax, part, spec.figure.get("x", "depth"))
        ax.set_title(metric, fontsize=9)
    if spec.figure.get("curves"):
        draw_curves(axes[-1], spec, scale, results, seeds, spec.figure["curves"])
    fig.suptitle(f"{spec.title} [{scale}]", fontsize=9)
    fig.tight_layout()
    return fig


def save(fig: plt.Figure, png: Path) -> None:
    for path, fmt in ((png, "png"), (png.with_suffix(".pdf"), "pdf")):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=120)
        atomic_write_bytes(path, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aggregate.figure", description=__doc__.split("\n")[0])
    ap.add_argument("--table", required=True)
    ap.add_argument("--scale", required=True, choices=("tiny", "small", "paper"))
    ap.add_argument("--results", default="results")
    ap.add_argument("--seeds", default=None)
    ap.add_argument("--out", required=True, help="PNG path; the PDF goes beside it")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".png":
        print(f"aggregate.figure: --out {out}: expected a .png path (the .pdf is written beside it)", file=sys.stderr)
        return 2
    try:
        fig = render(args.table, args.scale, args.results, parse_seeds(args.seeds))
    except (ValueError, FileNotFoundError) as e:
        print(f"aggregate.figure {args.table}: {e}", file=sys.stderr)
        return 1
    save(fig, out)
    print(f"wrote {out} and {out.with_suffix('.pdf')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
