"""Claim verdicts: the studies' own (<study>.claims.json) and the training-outcome claims,
which are decided here from the regenerated tables.

A verdict is {"claim", "verdict": holds|fails|not_run, "figures": {...}, "detail"}.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from aggregate.reference import load_claims

VERDICTS = ("holds", "fails", "not_run")


def verdict(claim: str, holds: bool | None, figures: dict, detail: str) -> dict:
    v = "not_run" if holds is None else ("holds" if holds else "fails")
    return {"claim": claim, "verdict": v, "figures": figures, "detail": detail}


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


def _cell(df: pd.DataFrame, metric: str, **where) -> pd.Series | None:
    sel = df[df["metric"] == metric]
    for col, value in where.items():
        sel = sel[sel[col].astype(str) == str(value)]
    return sel.iloc[0] if len(sel) else None


def _num(row) -> float | None:
    if row is None or str(row["outcome"]).startswith(("failed", "not computed")):
        return None
    try:
        return float(row["value"])
    except (TypeError, ValueError):
        return None


def xiong_warmup_needed(df: pd.DataFrame) -> dict:
    cid = "xiong_warmup_needed"
    no = _cell(df, "BLEU", variant="xiong_adam_nowu_lr5e-4", scheme="post_ln")
    wu = _cell(df, "BLEU", variant="xiong_adam_wu4000_lr5e-4", scheme="post_ln")
    if no is None or wu is None:
        return verdict(cid, None, {}, "xiong_warmup cells for Post-LN with/without warm-up are missing")
    b_no, b_wu = _num(no), _num(wu)
    figs = {"bleu_no_warmup": b_no if b_no is not None else no["outcome"], "bleu_warmup_4000": b_wu}
    if b_wu is None or b_wu <= 0:
        return verdict(cid, False, figs, "Post-LN with warm-up 4000 did not learn (no BLEU above 0), "
                       "so the runs do not show that warm-up is needed")
    holds = b_no is None or b_no <= 0.5 * b_wu
    return verdict(cid, holds, figs, "holds when no-warm-up BLEU <= half the warm-up BLEU (paper: 8.45 vs ~34)")


def xiong_preln_no_warmup(df: pd.DataFrame, margin: float = 1.0) -> dict:
    cid = "xiong_preln_no_warmup"
    pre = _cell(df, "BLEU", variant="xiong_preln_nowu_step8", scheme="pre_ln")
    post = _cell(df, "BLEU", variant="xiong_adam_wu4000_lr5e-4", scheme="post_ln")
    if pre is None or post is None:
        return verdict(cid, None, {}, "xiong_warmup cells for Pre-LN (no warm-up) / Post-LN (warm-up) are missing")
    b_pre, b_post = _num(pre), _num(post)
    figs = {"bleu_preln_no_warmup": b_pre, "bleu_postln_warmup": b_post}
    if b_pre is None:
        return verdict(cid, False, figs, f"Pre-LN without warm-up: {pre['outcome']}")
    if b_post is not None and b_post <= 0:
        return verdict(cid, False, figs, "Post-LN with warm-up did not learn (BLEU 0): no quality to reach")
    holds = b_post is None or b_pre >= b_post - margin
    return verdict(cid, holds, figs, f"final quality only: Pre-LN BLEU >= Post-LN BLEU - {margin}; "
                   "the 'fewer epochs' half is read from the curves in the figure")


def admin_table1_outcome(df: pd.DataFrame) -> dict:
    cid = "admin_table1_outcome"
    expect = {"encoder=post_ln;decoder=post_ln": "diverged", "encoder=post_ln;decoder=pre_ln": "diverged",
              "encoder=pre_ln;decoder=pre_ln": "converged"}
    figs = {}
    for scheme in expect:
        row = _cell(df, "training", scheme=scheme)
        if row is None:
            return verdict(cid, None, {}, f"admin_table1 has no training row for {scheme}")
        figs[scheme] = row["value"]
    holds = all(figs[s] == v for s, v in expect.items())
    return verdict(cid, holds, figs, "expected Post/Post and Post/Pre diverged, Pre/Pre converged (18L-18L)")


def admin_deep_stable(df: pd.DataFrame) -> dict:
    cid = "admin_deep_stable"
    bleu = df[df["metric"] == "BLEU"]
    if bleu.empty:
        return verdict(cid, None, {}, "admin_table2 has no BLEU cells")
    problems, figs = [], {}
    for (dataset, depth), cell in bleu.groupby(["dataset", "depth"], sort=False):
        by = {r["scheme"]: r for _, r in cell.iterrows()}
        vals = {s: _num(by.get(s)) for s in ("post_ln", "pre_ln", "admin")}
        figs[f"{dataset} {depth}"] = vals
        deep = (dataset, depth) in {("WMT'14 En-De", "12L-12L"), ("WMT'14 En-De", "18L-18L"),
                                     ("WMT'14 En-Fr", "60L-12L")}
        if deep and vals["post_ln"] is not None:
            problems.append(f"Post-LN trained at {dataset} {depth}")
        for s in ("pre_ln", "admin"):
            if vals[s] is None:
                problems.append(f"{s} failed at {dataset} {depth}")
        if vals["admin"] is not None and vals["pre_ln"] is not None and vals["admin"] < vals["pre_ln"]:
            problems.append(f"Admin < Pre-LN at {dataset} {depth}")
    return verdict(cid, not problems, figs, "; ".join(problems) or "as in Liu et al. Table 2")


TABLE_CLAIMS = {"xiong_warmup": [xiong_warmup_needed, xiong_preln_no_warmup],
                "admin_table1": [admin_table1_outcome], "admin_table2": [admin_deep_stable]}


def all_verdicts(tables_dir: Path, studies_dir: Path) -> list[dict]:
    """One verdict per claim of claims.yaml (not_run when nothing decided it)."""
    found: dict[str, dict] = {}
    for table, fns in TABLE_CLAIMS.items():
        path = Path(tables_dir) / f"{table}.csv"
        if path.is_file():
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            for fn in fns:
                v = fn(df)
                found[v["claim"]] = v
    for path in sorted(Path(studies_dir).glob("*.claims.json")):
        for v in read_study_claims(path):
            found[v["claim"]] = {**v, "detail": f"{path.name}: {v['detail']}".rstrip(": ")}
    out = []
    for c in load_claims():
        out.append(found.get(c["id"]) or verdict(c["id"], None, {}, f"not run ({c['decided_by']})"))
    return out
