"""Training curves of the runs behind one table: loss, learning rate and attention entropy.

    python -m aggregate.curves --table admin_table2 --scale tiny --out results/tiny/figures/admin_table2_curves.png

Reads `metrics.jsonl` of every run of the table's grid (`runs`) and of the runs its studies read
(`study_runs`): the train records' `loss` and `lr`, the valid records' `valid_loss`, and the
probe records' `entropy` ({layer: [per-head nats]}, averaged over layers and heads). One line
per run, coloured by scheme; x is the update count. A table without training runs (an
initialization study) gets a figure that says so. Writes the PNG and a PDF beside it.
"""
from __future__ import annotations

import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from aggregate.figure import figure_command  # noqa: E402
from catalog.experiment import run_ids  # noqa: E402
from catalog.runs import RunRecord  # noqa: E402
from experiments.registry import spec as load_table  # noqa: E402
from catalog.runid import RunId  # noqa: E402

# (panel title, record kind, how to read one number from a record)
PANELS = (
    ("training loss (nats / unit)", "train", lambda r: r.get("loss")),
    ("validation loss", "valid", lambda r: r.get("valid_loss")),
    ("learning rate", "train", lambda r: r.get("lr")),
    ("attention entropy (nats, mean over layers and heads)", "probe", lambda r: mean_entropy(r.get("entropy"))),
)


def mean_entropy(entropy) -> float | None:
    """Mean over layers and heads of a probe record's {layer: [head entropies]} (None if absent)."""
    if not isinstance(entropy, dict):
        return None
    values = []
    for heads in entropy.values():
        values += [float(h) for h in (heads if isinstance(heads, list) else [heads]) if _finite(h)]
    return sum(values) / len(values) if values else None


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def table_run_ids(table: str, scale: str, seeds=None) -> list[str]:
    spec = load_table(table)
    out = run_ids(spec, scale, seeds, "runs")
    return out + [r for r in run_ids(spec, scale, seeds, "study_runs") if r not in out]


def series(rows: list[dict], kind: str, read) -> tuple[list[int], list[float]]:
    """(updates, values) of the records of `kind` that carry a finite value."""
    xs, ys = [], []
    for r in rows:
        if r.get("kind", "train") != kind:
            continue
        v = read(r)
        if v is not None and _finite(v):
            xs.append(int(r.get("step", 0)))
            ys.append(float(v))
    return xs, ys


def render(table: str, scale: str, results: str, seeds=None) -> plt.Figure:
    rids = [RunId.parse(r) for r in table_run_ids(table, scale, seeds)]
    spec = load_table(table)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.8), squeeze=False)
    axes = list(axes[0])
    schemes = sorted({r.scheme for r in rids})
    colour = {s: f"C{i % 10}" for i, s in enumerate(schemes)}
    drawn = [0] * len(PANELS)
    for rid in rids:
        rows = RunRecord.read(results, scale, rid, strict=False).metrics
        label = f"{rid.scheme} {rid.depth} {rid.variant}"
        for i, (title, kind, read) in enumerate(PANELS):
            xs, ys = series(rows, kind, read)
            if xs:
                axes[i].plot(xs, ys, lw=0.9, alpha=0.8, color=colour[rid.scheme], label=label)
                drawn[i] += 1
    for ax, (title, _, _), n in zip(axes, PANELS, drawn):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("update")
        if n == 0:
            why = "no training runs (an initialization study)" if not rids else "not logged by these runs"
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, fontsize=8)
    if any(drawn):
        # one legend entry per label, in the first panel that has lines
        ax = axes[next(i for i, n in enumerate(drawn) if n)]
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax.legend(uniq.values(), uniq.keys(), fontsize=6)
    if drawn[2]:
        axes[2].set_yscale("log")
    fig.suptitle(f"{spec.title}: training curves of its {len(rids)} runs [{scale}]", fontsize=9)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    return figure_command("aggregate.curves", __doc__, render, argv)


if __name__ == "__main__":
    sys.exit(main())
