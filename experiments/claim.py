"""What a claim is and what its verdict function is given.

A claim is one checkable statement of a paper. It lives in the `claims.py` of the experiment
that measures it (`CLAIMS = (Claim(...), ...)`), where its id is spelled once. Either its own
`decide(evidence) -> verdict` function decides it from the experiment's table and runs, or a
study does (`study=`: the study writes the verdict to <study>.claims.json and `decide`, when
given, gates it on the runs: `decide(evidence, study_verdict)`).

A verdict is {"claim", "verdict", "figures", "detail"}: `verdict` one of catalog.words.VERDICTS,
`detail` one sentence with the deciding numbers, `figures` the full measurement (claims.csv).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from catalog.experiment import ExperimentSpec, run_ids
from catalog.runid import RunId
from catalog.runs import RunRecord, finite
from catalog.words import VERDICTS


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str  # where in the paper: "Xiong 2020, Sec. 3.2"
    text: str  # the claim, in words
    measured: str  # how the suite measures it
    source: str  # the full citation
    decide: Callable | None = None  # decide(evidence) -> verdict; with `study`: decide(evidence, verdict)
    study: str = ""  # the study that writes the verdict, when a study decides it
    at_init: bool = False  # measured on models at initialisation, not decided by training outcomes

    @property
    def decided_by(self) -> str:
        return f"study {self.study}" if self.study else "its experiment's claims.py"


def verdict(claim: str, holds: bool | None, figures: dict, detail: str, *, inconclusive: bool = False) -> dict:
    if inconclusive:
        v = "inconclusive"
    else:
        v = "not_run" if holds is None else ("holds" if holds else "fails")
    assert v in VERDICTS
    return {"claim": claim, "verdict": v, "figures": figures, "detail": detail}


def scheme_label(scheme: str, style: str) -> str:
    """How a table prints a run's scheme: as is, or `encoder=..;decoder=..` (style enc_dec)."""
    if style != "enc_dec":
        return scheme
    enc, _, dec = scheme.partition("+")
    return f"encoder={enc};decoder={dec or enc}"


class Evidence:
    """An experiment's regenerated table (text columns) and the runs of its grid.

    A claim reads runs only through here, and only runs of its experiment's grid (`runs` and
    `study_runs`); rows of the table are matched to runs by their keys (variant, arch, scheme),
    never by display labels. Without `scale` there are no runs (a table alone)."""

    def __init__(self, spec: ExperimentSpec, table: pd.DataFrame, scale: str | None = None,
                 results: str = "results", seeds=None):
        self.spec, self.table, self.scale = spec, table, scale
        self._runs: dict[tuple, list[RunRecord]] = {}
        if scale is None:
            return
        for key in ("runs", "study_runs"):
            for rid in map(RunId.parse, run_ids(spec, scale, seeds, key)):
                rec = RunRecord.read(results, scale, rid, strict=False)
                self._runs.setdefault((rid.variant, rid.arch, rid.scheme), []).append(rec)

    def runs(self, variant: str | None = None, arch: str | None = None, scheme: str | None = None) -> list[RunRecord]:
        """Every seed of the grid's runs that match (None matches anything)."""
        return [r for (v, a, s), recs in self._runs.items() for r in recs
                if variant in (None, v) and arch in (None, a) and scheme in (None, s)]

    def run_of(self, row) -> RunRecord | None:
        """The first seed of the run behind a table row (matched on variant, arch and scheme)."""
        if row is None:
            return None
        get = row.get if hasattr(row, "get") else (lambda k, d=None: d)
        for (v, a, s), recs in self._runs.items():
            if v == get("variant") and (get("arch") in (None, "", a)) and \
                    scheme_label(s, self.spec.scheme_label) == get("scheme"):
                return recs[0]
        return None

    def cell(self, metric: str, **where) -> pd.Series | None:
        """The first table row of `metric` whose columns equal `where` (None if none)."""
        sel = self.table[self.table["metric"] == metric] if "metric" in self.table.columns else self.table
        for col, value in where.items():
            if col not in sel.columns:
                return None
            sel = sel[sel[col].astype(str) == str(value)]
        return sel.iloc[0] if len(sel) else None


# ----------------------------------------------------------------------------- small readers
def num(row) -> float | None:
    """The finite value of a table row that trained, else None."""
    if row is None or str(row["outcome"]).startswith(("failed", "not computed")):
        return None
    try:
        v = float(row["value"])
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt(x, nd: int = 2) -> str:
    return f"{float(x):.{nd}f}" if finite(x) else "n/a"


def short_reason(run: RunRecord | None) -> str:
    """`no progress: train nll 5.70 >= 3.92 at update 150` from the detector's long reason."""
    status = run.status if run is not None else {}
    reason = re.split(r" \(| = |, and | and its ", str(status.get("reason") or ""))[0].strip()
    step = status.get("step")
    return f"{reason or 'diverged'}" + (f" at update {step}" if step is not None and "at update" not in reason else "")


def train_nll(run: RunRecord | None) -> tuple[float | None, float | None]:
    """(first, last) finite training NLL (or loss) of a run's metrics.jsonl."""
    if run is None:
        return None, None
    vals = [r.get("nll", r.get("loss")) for r in run.records("train")]
    vals = [float(v) for v in vals if finite(v)]
    return (vals[0], vals[-1]) if vals else (None, None)


def valid_curve(run: RunRecord | None) -> list[tuple]:
    """[(epoch, valid_loss)] of a run's validation records."""
    if run is None:
        return []
    return [(r.get("epoch"), float(r["valid_loss"])) for r in run.records("valid") if finite(r.get("valid_loss"))]
