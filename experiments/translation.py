"""What the translation experiments' claims read from a run (Xiong Sec. 3-4, Liu Tables 1-2).

A translation run *learned* when it finished without the failure detector firing (status ok:
not non-finite, exploding, stuck at chance or without progress; tasks/engine/divergence.py),
its BLEU is above zero (corpus BLEU without smoothing: at least one matching 4-gram) and its
output depends on the source (more than one distinct hypothesis: a decoder that ignores its
source writes one sentence for every input, and the corpus' frequent n-grams still score BLEU).
"""
from __future__ import annotations

from catalog.runs import RunRecord
from experiments.claim import num, short_reason, train_nll

HYPOTHESES = "hypotheses.txt"  # the decoded test set, one line per source sentence (tasks/translation)


def distinct_hypotheses(run: RunRecord | None) -> int | None:
    lines = run.lines(HYPOTHESES) if run is not None else None
    return None if lines is None else len(set(lines))


def constant_output(run: RunRecord | None) -> bool:
    """One hypothesis for every source sentence."""
    return distinct_hypotheses(run) == 1


def status_of(run: RunRecord | None, default: str | None = "ok") -> str | None:
    """The run's status word; `default` when it wrote none."""
    return (run.status if run is not None else {}).get("status", default)


def learned(row, run: RunRecord | None) -> bool:
    b = num(row)
    return b is not None and b > 0 and status_of(run) == "ok" and not constant_output(run)


def warmup_text(run: RunRecord | None, fallback: str) -> str:
    w = run.setting("schedule", "warmup_updates") if run is not None else None
    if w is None:
        return fallback
    return "no warm-up" if int(w) <= 1 else f"warm-up {int(w)}"


def bleu_text(row, vl_row, run: RunRecord | None) -> str:
    """`BLEU 3.03 (valid loss 4.35)` or `diverged (no progress: train nll 5.70 >= 3.92 at update 150)`."""
    b = num(row)
    if b is None:
        if status_of(run) == "diverged" or (row is not None and str(row["outcome"]).startswith("failed")):
            return f"diverged ({short_reason(run)})"
        return f"no BLEU ({row['outcome'] if row is not None else 'missing'})"
    vl = num(vl_row)
    text = f"BLEU {b:.2f}" + (f" (valid loss {vl:.2f})" if vl is not None else "")
    return text + (", one hypothesis for every source" if constant_output(run) else "")


def run_figures(b, vl, run: RunRecord | None) -> dict:
    """The deciding numbers of one translation run, for claims.csv."""
    status = run.status if run is not None else {}
    setting = run.setting if run is not None else (lambda section, key: None)
    first, last = train_nll(run)
    return {"bleu": b, "valid_loss": vl, "status": status.get("status"), "reason": status.get("reason") or None,
            "lr": setting("optim", "lr"), "warmup_updates": setting("schedule", "warmup_updates"),
            "max_updates": setting("train", "max_updates"), "first_train_nll": first, "last_train_nll": last}
