"""Draw a table's figure (PNG and PDF) from its tidy CSV.

    python -m aggregate.figure --table T --scale S --out results/S/figures/T.png   (+ T.pdf)

Kinds (experiments/<id>/experiment.yaml `figure.kind`): `bars` (one bar per scheme, grouped by
dataset and depth; failed cells marked), `outcome` (the cells as a text grid), `hist`
(histogram of log10 values per scheme), `lines`
(value against `figure.x` per scheme, one panel per metric), `panels` (the paper's panel layout,
aggregate/panels.py), `curves` (training loss / lr / attention entropy per layer over updates from
the runs' metrics.jsonl; one colour per setting, one line style per scheme). `figure.curves: KEY` adds a
panel of KEY from each run's metrics.jsonl (e.g. validation loss per epoch).
"""
from __future__ import annotations

import argparse
import io
import re
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from aggregate.io import atomic_write_bytes  # noqa: E402
from aggregate.table import parse_seeds  # noqa: E402
from catalog.experiment import run_ids  # noqa: E402
from catalog.runid import RunId  # noqa: E402
from catalog.runs import RunRecord, finite  # noqa: E402
from catalog.words import SCALES  # noqa: E402
from experiments.registry import spec as load_table  # noqa: E402

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
                ax.text(x, v, f"{v:.2f}", ha="center", va="bottom", fontsize=6)  # 0.00 stays visible
                labelled = True
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))], groups, fontsize=6,
                  rotation=30, ha="right")
    ax.set_ylabel(str(df["metric"].iloc[0]) if len(df) else "")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


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
    ax.set_ylabel(str(df["metric"].iloc[0]).replace("_", " "), fontsize=8)
    if (df["xv"] == df["xv"].round()).all():  # ranks, layers, depths: integer ticks
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
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
    metric = str(df["metric"].iloc[0]).replace("_", " ")
    ax.set_xlabel(f"log10 {metric} (per parameter)")
    ax.set_ylabel("parameters")
    ax.legend(fontsize=6)
    return None


def _cell_text(value: str, outcome: str) -> str:
    """A table cell: numbers to 2 decimals, failed runs as `failed`."""
    if str(outcome).startswith(("failed", "not computed")):
        return "failed" if str(outcome).startswith("failed") else "n/a"
    try:
        return f"{float(value):.2f}"
    except (TypeError, ValueError):
        return str(value)


def draw_outcome(ax, df: pd.DataFrame) -> None:
    """The table as the paper prints it: one row per (depth, scheme), one column per metric."""
    if df.empty:
        return _note(ax, "empty table")
    df = df.assign(text=[_cell_text(v, o) for v, o in zip(df["value"], df["outcome"])],
                   row=df["depth"].astype(str) + "  " + df["scheme"].astype(str).str.replace(";", " / "))
    once = df.groupby("metric")["row"].transform(lambda r: not r.duplicated().any())
    df = df[once.astype(bool)]  # per-layer curves (several rows per cell) belong to line figures
    grid = df.pivot_table(index="row", columns="metric", values="text", aggfunc="first", sort=False).fillna("")
    ax.figure.set_size_inches(max(8.0, 2.0 + 1.6 * len(grid.columns) + 0.07 * max(map(len, grid.index))),
                              1.2 + 0.35 * len(grid))
    ax.set_axis_off()
    colors = [["#f4cccc" if c in ("diverged", "failed", "yes") else "#d9ead3" if c in ("converged", "no") else "white"
               for c in row] for row in grid.values.tolist()]
    t = ax.table(cellText=grid.values.tolist(), rowLabels=list(grid.index), colLabels=list(grid.columns),
                 cellColours=colors, loc="center", cellLoc="center")
    t.auto_set_font_size(False)
    t.set_fontsize(8)
    t.scale(1.0, 1.6)
    return None


def draw_curves(ax, spec, scale: str, results: str, seeds, key: str) -> None:
    drawn = 0
    for rid in map(RunId.parse, run_ids(spec, scale, seeds)):
        rows = [r for r in RunRecord.read(results, scale, rid, strict=False).metrics if key in r]
        if rows:
            xs = [r.get("epoch", r.get("step", i)) for i, r in enumerate(rows)]
            ax.plot(xs, [r[key] for r in rows], marker=".", label=f"{rid.scheme} {rid.variant}")
            drawn += 1
    if not drawn:
        return _note(ax, f"no {key!r} in the runs' metrics.jsonl")
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.set_title(f"{key} per epoch", fontsize=9)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)  # outside the data


# ---- kind `curves`: training curves of the table's runs (Zhai 2023 Fig. 1 style) ----------------
# figure: {kind: curves, panels: [loss, entropy], layers: [1, 6, 11], x: step, stack: encoder}
# (read from each run's metrics.jsonl, not from the table's CSV)
# panels: loss | nll | lr | grad_norm (train records), valid_loss (valid records), entropy (probe
# records: one panel per entry of `layers`, 0-based layer indices of `stack`, mean over heads;
# a layer the model lacks is replaced by its first/middle/last layer, as at tiny scale).
# One colour per setting (variant), one line style per scheme; a run that diverged ends in an x.
CURVE_KEYS = {"loss": ("train", "training loss (nats)"), "nll": ("train", "training NLL (nats)"),
              "lr": ("train", "learning rate"), "grad_norm": ("train", "gradient norm"),
              "valid_loss": ("valid", "validation loss (nats)")}
# one line style per scheme, distinct at a glance: solid, dashed, dotted, dash-dot, dash-dot-dot,
# long dash, long-short dash, sparse dots
LINE_STYLES = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2)), (0, (6, 2, 1, 2, 1, 2)), (0, (14, 3)),
               (0, (12, 2, 3, 2)), (0, (1, 4)))


def _layer_entropy(entropy: dict, stack: str | None) -> dict[int, float]:
    """{layer index: mean over heads} of one probe record's {"<stack>.<i>.<attn>": [per head]}."""
    out = {}
    for name, heads in (entropy or {}).items():
        if "cross" in name:  # decoder cross-attention: not the self-attention entropy of the figure
            continue
        m = re.match(r"(.*?)\.?(\d+)\.(self_attn|attn|self)", name) or re.match(r"(.*?)\.?(\d+)", name)
        if not m or (stack and m.group(1).split(".")[-1] != stack):
            continue
        vals = [float(h) for h in (heads if isinstance(heads, list) else [heads]) if finite(h)]
        if vals:
            out[int(m.group(2))] = float(np.mean(vals))
    return out


def _entropy_layers(wanted: list, available: list) -> list:
    if not available:
        return list(wanted)
    if wanted and all(w in available for w in wanted):
        return list(wanted)
    a = sorted(available)
    return list(dict.fromkeys([a[0], a[len(a) // 2], a[-1]]))[: max(1, len(wanted) or 3)]


def render_curves(spec, scale: str, results: str, seeds=None) -> plt.Figure:
    fs = spec.figure
    panels, x_key, stack = list(fs.get("panels") or ["loss", "entropy"]), fs.get("x", "step"), fs.get("stack")
    unknown = [p for p in panels if p not in CURVE_KEYS and p != "entropy"]
    if unknown:
        raise ValueError(f"{spec.dir}/experiment.yaml: figure.panels {unknown} unknown; expected some of "
                         f"{sorted(CURVE_KEYS) + ['entropy']}")
    rids = list(dict.fromkeys(run_ids(spec, scale, seeds) + run_ids(spec, scale, seeds, key="study_runs")))
    runs = []
    for rid in map(RunId.parse, rids):
        run = RunRecord.read(results, scale, rid, strict=False)
        runs.append((rid, run.metrics, run.status.get("status", "")))
    available = sorted({k for _, rows, _ in runs for r in rows if r.get("kind") == "probe"
                        for k in _layer_entropy(r.get("entropy"), stack)})
    layers = _entropy_layers([int(v) for v in fs.get("layers") or []], available)
    cols = [(p, None) for p in panels if p != "entropy"]
    if "entropy" in panels:
        cols[panels.index("entropy"):panels.index("entropy")] = [("entropy", l) for l in layers]
    fig, axes = plt.subplots(1, len(cols), figsize=(4.2 * len(cols), 3.8), squeeze=False)
    settings = list(dict.fromkeys(rid.variant for rid, _, _ in runs))
    schemes = list(dict.fromkeys(rid.scheme for rid, _, _ in runs))
    colour = {v: f"C{i % 10}" for i, v in enumerate(settings)}
    style = {s: LINE_STYLES[i % len(LINE_STYLES)] for i, s in enumerate(schemes)}
    handles = {}
    for ax, (panel, layer) in zip(axes[0], cols):
        drawn, lows, highs = 0, [], []
        for rid, rows, status in runs:
            if panel == "entropy":
                pts = [(r.get(x_key, r.get("step")), _layer_entropy(r.get("entropy"), stack).get(layer))
                       for r in rows if r.get("kind") == "probe"]
            else:
                kind, _ = CURVE_KEYS[panel]
                pts = [(r.get(x_key, r.get("step")), r.get(panel)) for r in rows if r.get("kind") == kind]
            pts = [(float(x), float(y)) for x, y in pts if finite(x) and finite(y)]
            if not pts:
                continue
            xs, ys = zip(*pts)
            label = f"{rid.scheme} | {spec.setting(rid.variant)}"
            (line,) = ax.plot(xs, ys, color=colour[rid.variant], linestyle=style[rid.scheme], lw=1.2)
            if status == "diverged":
                ax.plot(xs[-1], ys[-1], marker="x", ms=8, color=colour[rid.variant])
                label += " (diverged)"
            handles.setdefault(label, line)
            drawn += 1
            lows.append(min(ys)), highs.append(max(ys))
        if panel != "entropy" and lows and min(lows) > 0 and max(highs) > LOG_SPAN * min(lows):
            ax.set_yscale("log")  # an exploding run (loss in the hundreds) would flatten the healthy ones
        title = CURVE_KEYS[panel][1] if panel != "entropy" else f"attention entropy, layer {layer} (nats)"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("update" if x_key == "step" else x_key)
        ax.set_ylabel("nats" if panel in ("loss", "nll", "valid_loss", "entropy") else panel)
        if not drawn:
            _note(ax, f"no {panel} records in the runs' metrics.jsonl")
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="center left", bbox_to_anchor=(1.0, 0.5),
                   fontsize=7, title="scheme | setting (line style | colour)", title_fontsize=7, handlelength=4)
    fig.suptitle(textwrap.fill(f"{spec.title} [{scale}]", 110), fontsize=9)
    fig.tight_layout()
    return fig


LOG_SPAN = 50.0  # a curves panel (not entropy) whose values span more than this factor gets a log y axis


def render(table: str, scale: str, results: str, seeds=None) -> plt.Figure:
    spec = load_table(table)
    if spec.figure.get("kind") == "curves":  # from the runs' metrics.jsonl, not the tidy CSV
        return render_curves(spec, scale, results, seeds)
    df = pd.read_csv(Path(results) / scale / "tables" / f"{table}.csv", dtype=str, keep_default_na=False)
    kind, metrics = spec.figure.get("kind", "lines"), list(dict.fromkeys(df["metric"]))[:MAX_PANELS]
    if kind == "panels":  # the paper's panel layout (aggregate/panels.py)
        from aggregate import panels as panel_kind

        return panel_kind.render(spec, df, scale)
    panels = max(1, len(metrics)) + (1 if spec.figure.get("curves") else 0)
    if kind == "outcome":
        panels = 1
    fig, axes = plt.subplots(1, panels, figsize=(max(4.5 * panels, 8.0 if kind == "outcome" else 0), 4.5),
                             squeeze=False, sharex=kind == "hist")  # Fig. 5: one log10 axis for both norms
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
    fig.suptitle(textwrap.fill(f"{spec.title} [{scale}]", 110), fontsize=9)
    fig.tight_layout()
    scale_note(fig, spec, scale)
    return fig


def scale_note(fig: plt.Figure, spec, scale: str) -> None:
    """Below the panels, what this scale changes for the table (the spec's `notes`): the setting
    labels name the papers' recipes, the note says what a tiny or small run did instead."""
    note = " ".join(str(getattr(spec, "notes", "") or "").split())
    parts = re.split(r"\b(tiny|small|paper):\s*", note)
    if len(parts) > 1:  # "tiny: ... small: ... paper: ...": the current scale's part only
        note = dict(zip(parts[1::2], parts[2::2])).get(scale, "")
    if scale != "paper" and note.strip():
        fig.text(0.01, -0.02, textwrap.fill(f"{scale} scale: {note.strip()}", 160), fontsize=7, va="top", ha="left")


def save(fig: plt.Figure, png: Path) -> None:
    for path, fmt in ((png, "png"), (png.with_suffix(".pdf"), "pdf")):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=120, bbox_inches="tight")  # legends outside, titles unclipped
        atomic_write_bytes(path, buf.getvalue())


def figure_command(module: str, doc: str, render, argv: list[str] | None = None) -> int:
    """The command line of a figure entry point (`aggregate.figure`, `aggregate.curves`): parse
    --table --scale --results --seeds --out, call `render(table, scale, results, seeds)` and save
    the PNG and the PDF beside it. Returns the exit code: 0 written, 1 bad table or data, 2 bad --out."""
    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n")[0])
    ap.add_argument("--table", required=True)
    ap.add_argument("--scale", required=True, choices=SCALES)
    ap.add_argument("--results", default="results")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (replaces the tables' seeds)")
    ap.add_argument("--out", required=True, help="PNG path; the PDF is written beside it")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".png":
        print(f"{module}: --out {out}: expected a .png path (the .pdf is written beside it)", file=sys.stderr)
        return 2
    try:
        fig = render(args.table, args.scale, args.results, parse_seeds(args.seeds))
    except (ValueError, FileNotFoundError) as e:  # SpecError is a ValueError
        print(f"{module} {args.table}: {e}", file=sys.stderr)
        return 1
    save(fig, out)
    print(f"wrote {out} and {out.with_suffix('.pdf')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return figure_command("aggregate.figure", __doc__, render, argv)


if __name__ == "__main__":
    sys.exit(main())
