"""The `panels` figure kind: a grid of line panels laid out as the paper's figure.

A table spec asks for it with
    figure:
      kind: panels
      columns: 3                       # panels per row
      color_by: scheme                 # the column that picks a line's colour (default scheme)
      style_by: setting                # the column that picks its line style (optional)
      panels:
        - {title: "(a) encoder W1", metric: grad_fro_norm_W1_encoder, x: layer, depth: 6L-6L,
           xlabel: layer, ylabel: "gradient norm", integer_x: true, logy: false}
        - {title: "attention entropy", metric: attention_entropy, x: step, split: layer, pick: [0, -1]}
`metric` selects the rows; optional `depth` and `where` ({column: value}) narrow them; `x` is
the column on the x axis (numbers, or labels such as `12L-12L` read by their first integer).
`split: COL` with `pick: [i, ...]` draws one panel per picked value of COL (its values in
natural order; negative indices count from the end): the "chosen layers" of an entropy figure.
`min_over: COL` draws, per x, the smallest of the per-COL means (the smallest layer entropy).
Every (colour, style) pair is one line, averaged over rows that share an x; a colour names one
value of `color_by` in every panel, so no two settings share a colour, and one legend for the
whole figure sits outside the panels.
"""
from __future__ import annotations

import re

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from models.scheme import SCHEMES

PANEL_KEYS = {"title", "metric", "x", "depth", "where", "xlabel", "ylabel", "integer_x", "logy", "logx",
              "split", "pick", "min_over"}
STYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "D", "v", "P"]


NUMBER = re.compile(r"(\d+(?:\.\d+)?(?:e[-+]?\d+)?)")


def _natural(v) -> tuple:
    """Sort key: `decoder.10.x` after `decoder.2.x`, `lr 0.001` before `lr 0.01`; numbers by value."""
    return tuple((1, float(t), "") if i % 2 else (0, 0.0, t) for i, t in enumerate(NUMBER.split(str(v))))


def _x_value(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        m = re.search(r"\d+", str(x))
        return float(m.group()) if m else float("nan")


def expand(panels: list[dict], df: pd.DataFrame, where: str) -> list[dict]:
    """Check the panel specs and turn `split`/`pick` panels into one panel per picked value."""
    out = []
    for i, p in enumerate(panels):
        unknown = set(p) - PANEL_KEYS
        if unknown or "metric" not in p or "x" not in p:
            raise ValueError(f"{where}: figure.panels[{i}]: needs `metric` and `x`, may have {sorted(PANEL_KEYS)}; "
                             f"got unknown {sorted(unknown)}" if unknown else
                             f"{where}: figure.panels[{i}]: needs `metric` and `x`")
        if not p.get("split"):
            out.append(p)
            continue
        col = p["split"]
        rows = df[df["metric"] == p["metric"]]
        values = sorted({str(v) for v in rows[col]} - {""}, key=_natural) if col in rows.columns else []
        picked = []
        for k in p.get("pick") or range(len(values)):
            if values and -len(values) <= int(k) < len(values) and values[int(k)] not in picked:
                picked.append(values[int(k)])
        if not picked:
            out.append({**p, "split": None, "_empty": f"no {p['metric']} rows with a {col}"})
        for v in picked:
            out.append({**p, "split": None, "where": {**(p.get("where") or {}), col: v},
                        "title": f"{p.get('title', p['metric'])}: {v}"})
    return out


def _rows(df: pd.DataFrame, p: dict) -> pd.DataFrame:
    part = df[df["metric"] == p["metric"]]
    if p.get("depth"):
        part = part[part["depth"].astype(str) == str(p["depth"])]
    for col, value in (p.get("where") or {}).items():
        part = part[part[col].astype(str) == str(value)] if col in part.columns else part.iloc[0:0]
    if p["x"] not in part.columns:
        return part.iloc[0:0]
    return part.assign(_x=part[p["x"]].map(_x_value), _v=pd.to_numeric(part["value"], errors="coerce")).dropna(
        subset=["_x", "_v"])


# Schemes keep one colour in every figure: the order of models/scheme.py's registry.
SCHEME_ORDER = tuple(SCHEMES)


def _palette(values: list) -> dict:
    values = sorted(values, key=lambda v: (SCHEME_ORDER.index(v) if v in SCHEME_ORDER else len(SCHEME_ORDER),
                                           _natural(v)))
    cmap = plt.get_cmap("tab10" if len(values) <= 10 else "tab20")
    return {v: cmap(i % cmap.N) for i, v in enumerate(values)}


def render(spec, df: pd.DataFrame, scale: str) -> plt.Figure:
    fig_spec = spec.figure
    where = f"{spec.dir}/experiment.yaml"
    panels = expand(list(fig_spec.get("panels") or []), df, where)
    if not panels:
        raise ValueError(f"{where}: figure kind `panels` needs a non-empty figure.panels list")
    color_by, style_by = fig_spec.get("color_by", "scheme"), fig_spec.get("style_by")
    cols = min(int(fig_spec.get("columns", 3)), len(panels))
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows), squeeze=False)
    data = [(p, _rows(df, p)) for p in panels]
    every = pd.concat([d for _, d in data]) if data else df.iloc[0:0]
    colors = _palette(sorted({str(v) for v in every.get(color_by, [])}, key=_natural))
    styles = {v: STYLES[i % len(STYLES)] for i, v in
              enumerate(sorted({str(v) for v in every.get(style_by, [])}, key=_natural))} if style_by else {}
    for ax, (p, part) in zip(axes.flat, data):
        ax.set_title(p.get("title", p["metric"]), fontsize=9)
        ax.set_xlabel(p.get("xlabel", p["x"]))
        ax.set_ylabel(p.get("ylabel", p["metric"]), fontsize=8)
        if part.empty:
            ax.text(0.5, 0.5, p.get("_empty", f"no {p['metric']} values"), ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)
            continue
        keys = [color_by] + ([style_by] if style_by else [])
        for label, line in part.groupby(keys, sort=False):
            label = label if isinstance(label, tuple) else (label,)
            if p.get("min_over") in line.columns:  # e.g. the smallest per-layer entropy at each step
                curve = line.groupby(["_x", p["min_over"]])["_v"].mean().groupby(level=0).min().sort_index()
            else:
                curve = line.groupby("_x")["_v"].mean().sort_index()
            style = styles.get(str(label[1]), "-") if style_by else "-"
            ax.plot(curve.index, curve.values, color=colors[str(label[0])], linestyle=style,
                    marker=MARKERS[list(colors).index(str(label[0])) % len(MARKERS)] if len(curve) <= 20 else None,
                    ms=3, lw=1.2)
        if p.get("logy"):
            ax.set_yscale("log")
        if p.get("logx"):
            ax.set_xscale("log")
        if p.get("integer_x", True):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_axis_off()
    handles = [Line2D([], [], color=c, lw=2, label=f"{color_by}: {v}") for v, c in colors.items()]
    handles += [Line2D([], [], color="0.3", linestyle=s, label=f"{style_by}: {v}") for v, s in styles.items()]
    if handles:
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=8, frameon=False)
    fig.suptitle(f"{spec.title} [{scale}]", fontsize=10)
    fig.tight_layout()
    from aggregate.figure import scale_note

    scale_note(fig, spec, scale)
    return fig
