"""Verdict of the speech half of `sigma_deep_no_warmup` (results/reference/claims.yaml), from the
regenerated `sigma_asr` table and its runs; the signature of aggregate/claims.py's TABLE_CLAIMS.

Holds when sigma_reparam_post_ln trained without warm-up and without an adaptive optimizer
learns (status ok) and its dev-clean and dev-other WER are within `rel` (relative) of the best
Post-LN / Pre-LN run trained with the slimIPL warm-up recipe; inconclusive when no such baseline
learned (WER below 100%).
"""
from __future__ import annotations

import pandas as pd

ASR_WU, ASR_NOWU = "asr_adagrad_wu64k", "asr_sgd_nowu"
SPLITS = ("dev-clean", "dev-other")


def sigma_deep_no_warmup(df: pd.DataFrame, runs=None, rel: float = 0.2) -> dict:
    from aggregate.claims import _cell, _fmt, _num, verdict  # aggregate.claims imports this module

    cid = "sigma_deep_no_warmup"
    figs: dict = {"criterion": f"WER(sigma_reparam_post_ln, no warm-up) <= (1 + {rel}) x the best "
                               "WER(post_ln | pre_ln, warm-up), on dev-clean and dev-other"}
    worse, said = [], []
    for split in SPLITS:
        m = f"WER {split}"
        sig = _cell(df, m, variant=ASR_NOWU, scheme="sigma_reparam_post_ln")
        if sig is None:
            return verdict(cid, None, figs, "The sigma_asr table has no sigma_reparam_post_ln cell without warm-up.")
        base = [(s, _num(_cell(df, m, variant=ASR_WU, scheme=s))) for s in ("post_ln", "pre_ln")]
        base = [(s, v) for s, v in base if v is not None and v < 100.0]
        if not base:
            return verdict(cid, None, figs, f"Inconclusive: neither Post-LN nor Pre-LN with warm-up learned "
                                            f"({m} not below 100%), so there is no baseline to compare with.",
                           inconclusive=True)
        best_s, best = min(base, key=lambda x: x[1])
        v = _num(sig)
        facts = runs.get(sig) if runs is not None else {}
        ok = facts.get("status", "ok") == "ok"
        figs[m] = {"sigma_no_warmup": v, "best_warmup": best, "best_warmup_scheme": best_s,
                   "status": facts.get("status"), "reason": facts.get("reason") or None}
        said.append(f"{m} {_fmt(v, 1)} vs {best_s} {_fmt(best, 1)}")
        if v is None or not ok or v > (1 + rel) * best:
            worse.append(m)
    return verdict(cid, not worse, figs,
                   f"Speech half: sigma_reparam_post_ln without warm-up (SGD) against the best warm-up "
                   f"baseline: {'; '.join(said)} ({'within' if not worse else 'outside'} {rel:.0%}; paper, "
                   "secondary source: 6.1-6.4 / 17.8-19.4 vs Post-LN 5.9 / 17.7 on 100 h).")
