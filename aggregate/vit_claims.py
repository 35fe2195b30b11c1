"""Verdicts of the ViT claims (results/reference/claims.yaml), from the regenerated tables and runs.

Each function has the signature of aggregate/claims.py's TABLE_CLAIMS entries, fn(df, runs),
with df the table's tidy CSV (text columns) and runs its RunFacts; register them with
    TABLE_CLAIMS["sigma_vit"] = [sigma_no_ln_vit]
    TABLE_CLAIMS["sigma_vit_entropy"] = [sigma_entropy_collapse_vit]
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

NO_LN_MARGIN = 2.0  # top-1 points: "competitive" (the secondary source: 82.2 vs 81.8)
COLLAPSE_FRACTION = 0.5  # entropy below half of the 1x-lr run's = collapse


def _verdict(cid: str, holds, figures: dict, detail: str, inconclusive: bool = False) -> dict:
    from aggregate.claims import verdict

    return verdict(cid, holds, figures, detail, inconclusive=inconclusive)


def _cell(df: pd.DataFrame, metric: str, **where):
    from aggregate.claims import _cell as cell  # aggregate.claims imports this module

    return cell(df, metric, **where)


def _num(row) -> float | None:
    from aggregate.claims import _num as num

    return num(row)


def _chance_top1(runs, row) -> float | None:
    d = runs._dir(row) if runs is not None else None
    try:
        return float(json.loads((Path(d) / "eval.json").read_text())["chance_top1"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def sigma_no_ln_vit(df: pd.DataFrame, runs=None) -> dict:
    cid = "sigma_no_ln_vit"
    base, sig = _cell(df, "top1", scheme="pre_ln", variant="deit_b16"), _cell(df, "top1", scheme="sigma_reparam", variant="sigma_vit_lars")
    if base is None or sig is None:
        return _verdict(cid, None, {}, "sigma_vit has no top1 cell for pre_ln/deit_b16 or sigma_reparam/sigma_vit_lars")
    b, s = _num(base), _num(sig)
    chance = _chance_top1(runs, base) or _chance_top1(runs, sig) or 0.1
    figs = {"top1_deit_pre_ln": b if b is not None else base["outcome"],
            "top1_sigma_reparam_lars": s if s is not None else sig["outcome"], "chance_top1": chance}
    if b is None or b < 2 * chance:
        return _verdict(cid, None, figs, f"the DeiT baseline did not learn (top-1 {figs['top1_deit_pre_ln']} vs "
                        f"chance {chance:.1f}): no accuracy to be competitive with", inconclusive=True)
    if s is None or str(sig["outcome"]) != "ok":
        return _verdict(cid, False, figs, f"sigma-reparam (no LN, no warm-up, no wd, LARS): {sig['outcome']}")
    holds = s >= b - NO_LN_MARGIN
    return _verdict(cid, holds, figs,
                    f"sigma-reparam without LN, warm-up or weight decay (LARS) reaches top-1 {s:.1f} against "
                    f"{b:.1f} for the DeiT Pre-LN baseline (chance {100 * chance if chance < 1 else chance:.0f}): "
                    f"{'within' if holds else 'more than'} {NO_LN_MARGIN:g} points "
                    f"{'of' if holds else 'below'} it (paper, secondary source: 82.2 for sigma-reparam vs 81.8 for "
                    "DeiT-B on ImageNet).")


def _last_min_entropy(run_dir: Path | None) -> float | None:
    """Min over layers of the mean-over-heads entropy in the run's last probe record."""
    if run_dir is None:
        return None
    try:
        lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return None
    probes = [json.loads(x) for x in lines if '"probe"' in x]
    probes = [p for p in probes if p.get("kind") == "probe" and isinstance(p.get("entropy"), dict)]
    if not probes:
        return None
    vals = []
    for heads in probes[-1]["entropy"].values():
        heads = [float(h) for h in (heads if isinstance(heads, list) else [heads])]
        if heads and all(math.isfinite(h) for h in heads):
            vals.append(sum(heads) / len(heads))
    return min(vals) if vals else 0.0  # non-finite entropy in every layer: the attention broke down


def sigma_entropy_collapse_vit(df: pd.DataFrame, runs=None) -> dict:
    cid = "sigma_entropy_collapse_vit"
    pairs = {"deit": ("pre_ln", "deit_b16", "deit_b16_lr2x"),
             "sigma": ("sigma_reparam", "sigma_vit_lars", "sigma_vit_lars_lr2x")}
    figs, state = {}, {}
    for name, (scheme, v1, v2) in pairs.items():
        rows = {k: _cell(df, "outcome", scheme=scheme, variant=v) for k, v in (("1x", v1), ("2x", v2))}
        if any(r is None for r in rows.values()):
            return _verdict(cid, None, {}, f"sigma_vit_entropy has no outcome rows for {scheme} {v1}/{v2}")
        ent = {k: _last_min_entropy(runs._dir(r) if runs is not None else None) for k, r in rows.items()}
        diverged = str(rows["2x"]["value"]) == "diverged"
        collapsed = diverged or (ent["1x"] is not None and ent["2x"] is not None
                                 and ent["2x"] < COLLAPSE_FRACTION * ent["1x"])
        figs[name] = {"outcome_1x": rows["1x"]["value"], "outcome_2x": rows["2x"]["value"],
                      "last_min_entropy_1x": ent["1x"], "last_min_entropy_2x": ent["2x"]}
        state[name] = (rows, ent, diverged, collapsed)
    if state["deit"][0]["1x"]["value"] == "diverged":
        return _verdict(cid, None, figs, "the DeiT run at the default lr diverged: no healthy reference",
                        inconclusive=True)
    if any(e is None for e in state["deit"][1].values()) and not state["deit"][2]:
        return _verdict(cid, None, figs, "entropy probes missing in the DeiT runs (probes.every = 0?)")
    deit_collapses = state["deit"][3]
    sigma_ok = not state["sigma"][2] and not state["sigma"][3]
    return _verdict(cid, deit_collapses and sigma_ok, figs,
                    f"At 2x the learning rate DeiT (Pre-LN) {_describe(state['deit'])}; sigma-reparam "
                    f"{_describe(state['sigma'])} (collapse: diverged, or the smallest layer entropy below "
                    f"{COLLAPSE_FRACTION:g} x the 1x-lr run's; paper: DeiT at 2x lr collapses and diverges, "
                    "sigma-reparam trains).")


def _describe(state) -> str:
    """'diverged' or 'keeps its smallest layer entropy at 1.72 nats (2.83 at 1x lr)'."""
    rows, ent, diverged, collapsed = state
    if diverged:
        return f"diverged ({rows['2x']['outcome']})"
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    verb = "collapses: smallest layer entropy" if collapsed else "keeps its smallest layer entropy at"
    return f"{verb} {fmt(ent['2x'])} nats ({fmt(ent['1x'])} at 1x lr)"
