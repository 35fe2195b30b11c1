"""Every claim's verdict, from the experiments that declare them (experiments/<id>/claims.py).

A claim is decided by its own experiment: by its `decide(evidence)` function over the
experiment's regenerated table and the runs of its grid, or by a study (its
<study>.claims.json), gated by `decide(evidence, study_verdict)` when the claim has one.
A claim nothing decided is `not_run`. The verdict words are catalog.words.VERDICTS.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from catalog.words import VERDICTS
from experiments.claim import Evidence, verdict
from experiments.registry import all_claims, claim_of


def read_study_claims(path: Path) -> list[dict]:
    try:
        items = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); expected a list of claim verdicts") from None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of {{claim, verdict, figures, detail}}")
    for i, it in enumerate(items):
        if not isinstance(it, dict) or "claim" not in it or it.get("verdict") not in VERDICTS:
            raise ValueError(f"{path}: item {i} needs `claim` and `verdict` in {list(VERDICTS)}, got {it!r}")
    return [{"figures": {}, "detail": "", **it} for it in items]


def decide(claim_id: str, table: pd.DataFrame | None, scale: str | None = None, results: str | Path = "results",
           study_verdict: dict | None = None, evidence: Evidence | None = None) -> dict | None:
    """The verdict of one claim from its experiment's table (text columns) and, with `scale`, the
    runs of its grid (or a ready `evidence` of that experiment); a study's claim passes its
    `study_verdict` through the claim's gate. None when nothing decided it (no table, or a study
    claim without the study's verdict)."""
    exp, claim = claim_of(claim_id)
    ev = evidence or (Evidence(exp.spec, table, scale, str(results)) if table is not None else None)
    if claim.study:
        if study_verdict is None:
            return None
        v = claim.decide(ev, study_verdict) if claim.decide is not None and ev is not None else study_verdict
    elif ev is not None:
        v = claim.decide(ev)
    else:
        return None
    return {**v, "claim": claim.id}


def all_verdicts(tables_dir: Path, studies_dir: Path, scale: str | None = None,
                 results: str | Path = "results", experiment: str | None = None) -> list[dict]:
    """One verdict per claim of every experiment (or of `experiment` alone), in the registry's
    order. With `scale`, the runs of each experiment's grid under `results` supply the deciding
    numbers."""
    studies: dict[str, dict] = {}
    for path in sorted(Path(studies_dir).glob("*.claims.json")):
        for v in read_study_claims(path):
            studies[v["claim"]] = {**v, "source": f"studies/{path.name}"}
    evidence: dict[str, Evidence | None] = {}  # one per experiment: its runs are read once
    out = []
    for exp, claim in all_claims():
        if experiment is not None and exp.id != experiment:
            continue
        if exp.id not in evidence:
            path = Path(tables_dir) / f"{exp.id}.csv"
            evidence[exp.id] = Evidence(exp.spec, pd.read_csv(path, dtype=str, keep_default_na=False), scale,
                                        str(results)) if path.is_file() else None
        study = studies.get(claim.id) if claim.study else None
        ev = evidence[exp.id]
        v = decide(claim.id, ev.table if ev is not None else None, scale, results, study, ev)
        if v is not None:
            v["source"] = study["source"] if claim.study else f"tables/{exp.id}.csv"
        out.append(v or verdict(claim.id, None, {}, f"Not run ({claim.decided_by})."))
    return out
