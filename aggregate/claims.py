"""Claim verdicts: the studies' own (<study>.claims.json) and the training-outcome claims,
which are decided here from the regenerated tables (and the runs' status.json / metrics.jsonl
for the deciding numbers).

A verdict is {"claim", "verdict", "figures", "detail"} with verdict
  holds        the runs learned and agree with the paper;
  fails        the runs learned and contradict the paper;
  inconclusive the control (the configuration the paper says trains) did not learn, so the
               experiment cannot speak: the detail names the control and its numbers;
  not_run      nothing measured the claim.
`detail` is one sentence with the deciding numbers; `figures` holds the full measurement
(written to compare/claims.csv).

A translation run *learned* when it finished without the failure detector firing (status ok:
not non-finite, exploding, stuck at chance or without progress; tasks/engine/divergence.py)
and its BLEU is above zero (corpus BLEU without smoothing: at least one matching 4-gram).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import yaml

from aggregate.reference import load_claims

VERDICTS = ("holds", "fails", "inconclusive", "not_run")


def verdict(claim: str, holds: bool | None, figures: dict, detail: str, *, inconclusive: bool = False) -> dict:
    if inconclusive:
        v = "inconclusive"
    else:
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


# ---------------------------------------------------------------------------- the runs
class RunFacts:
    """What the runs of one table say beyond its cells: status (and the failure detector's
    reason), the resolved lr / warm-up / updates, and the train and validation curves.
    Keyed like the table's rows: (variant, arch, scheme label); the first seed is read."""

    def __init__(self, table: str, scale: str | None = None, results: str | Path = "results"):
        self.dirs: dict[tuple, Path] = {}
        if scale is None:
            return
        from aggregate.spec import load_table, run_ids
        from aggregate.table import scheme_label
        from tasks.runid import RunId

        spec = load_table(table)
        for key in ("runs", "study_runs"):
            for rid in map(RunId.parse, run_ids(spec, scale, key=key)):
                k = (rid.variant, rid.arch, scheme_label(rid.scheme, spec.scheme_label))
                self.dirs.setdefault(k, rid.run_dir(results, scale))
                self.dirs.setdefault((rid.variant, None, rid.scheme), rid.run_dir(results, scale))

    def _dir(self, row) -> Path | None:
        if row is None:
            return None
        get = row.get if hasattr(row, "get") else (lambda k, d=None: d)
        return self.dirs.get((get("variant"), get("arch"), get("scheme"))) or \
            self.dirs.get((get("variant"), None, get("scheme")))

    def get(self, row) -> dict:
        """{status, step, reason, lr, warmup, updates, first_nll, last_nll, valid: [(epoch, loss)]}."""
        d, out = self._dir(row), {}
        if d is None:
            return out
        try:
            out.update(json.loads((d / "status.json").read_text()))
        except (OSError, ValueError):
            pass
        try:
            out["eval"] = json.loads((d / "eval.json").read_text())
        except (OSError, ValueError):
            out["eval"] = {}
        try:
            cfg = yaml.safe_load((d / "config.yaml").read_text()) or {}
            out.update(lr=cfg.get("optim", {}).get("lr"), warmup=cfg.get("schedule", {}).get("warmup_updates"),
                       updates=cfg.get("train", {}).get("max_updates"))
        except (OSError, yaml.YAMLError, AttributeError):
            pass
        try:
            recs = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines() if line.strip()]
        except (OSError, ValueError):
            recs = []
        train = [r for r in recs if r.get("kind") == "train" and _finite(r.get("nll", r.get("loss")))]
        if train:
            out.update(first_nll=float(train[0].get("nll", train[0].get("loss"))),
                       last_nll=float(train[-1].get("nll", train[-1].get("loss"))), last_step=train[-1].get("step"))
        try:  # a decoder that ignores its source writes one sentence for every input
            out["distinct_hypotheses"] = len(set((d / "hypotheses.txt").read_text().splitlines()))
        except OSError:
            pass
        out["valid"] = [(r.get("epoch"), float(r["valid_loss"])) for r in recs
                        if r.get("kind") == "valid" and _finite(r.get("valid_loss"))]
        return out


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _cell(df: pd.DataFrame, metric: str, **where) -> pd.Series | None:
    sel = df[df["metric"] == metric]
    for col, value in where.items():
        if col not in sel.columns:
            return None
        sel = sel[sel[col].astype(str) == str(value)]
    return sel.iloc[0] if len(sel) else None


def _num(row) -> float | None:
    if row is None or str(row["outcome"]).startswith(("failed", "not computed")):
        return None
    try:
        v = float(row["value"])
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _short_reason(facts: dict) -> str:
    """`no progress: train nll 5.70 >= 3.92 at update 150` from the detector's long reason."""
    reason = re.split(r" \(| = |, and | and its ", str(facts.get("reason") or ""))[0].strip()
    step = facts.get("step")
    return f"{reason or 'diverged'}" + (f" at update {step}" if step is not None and "at update" not in reason else "")


def _warmup_text(facts: dict, fallback: str) -> str:
    w = facts.get("warmup")
    if w is None:
        return fallback
    return "no warm-up" if int(w) <= 1 else f"warm-up {int(w)}"


def _bleu_text(row, vl_row, facts: dict) -> str:
    """`BLEU 3.03 (valid loss 4.35)` or `diverged (no progress: train nll 5.70 >= 3.92 at update 150)`."""
    b = _num(row)
    if b is None:
        if facts.get("status") == "diverged" or (row is not None and str(row["outcome"]).startswith("failed")):
            return f"diverged ({_short_reason(facts)})"
        return f"no BLEU ({row['outcome'] if row is not None else 'missing'})"
    vl = _num(vl_row)
    text = f"BLEU {b:.2f}" + (f" (valid loss {vl:.2f})" if vl is not None else "")
    return text + (", one hypothesis for every source" if constant_output(facts) else "")


def constant_output(facts: dict) -> bool:
    """One hypothesis for every source sentence: its BLEU (the corpus' frequent n-grams) is no
    sign of translation (measured: an 18L Post-LN/Pre-LN run writes one sentence, BLEU 2.35)."""
    return facts.get("distinct_hypotheses") == 1


def learned(row, facts: dict) -> bool:
    """A translation run learned: not flagged by the failure detector, BLEU above zero, and its
    output depends on the source (more than one distinct hypothesis)."""
    b = _num(row)
    return b is not None and b > 0 and facts.get("status", "ok") == "ok" and not constant_output(facts)


def _figs(b, vl, facts: dict) -> dict:
    return {"bleu": b, "valid_loss": vl, "status": facts.get("status"), "reason": facts.get("reason") or None,
            "lr": facts.get("lr"), "warmup_updates": facts.get("warmup"), "max_updates": facts.get("updates"),
            "first_train_nll": facts.get("first_nll"), "last_train_nll": facts.get("last_nll")}


# ---------------------------------------------------------------------------- Xiong et al.
XIONG_NO_WU, XIONG_WU, XIONG_PRE = "xiong_adam_nowu_lr5e-4", "xiong_adam_wu4000_lr5e-4", "xiong_preln_nowu_step8"


def xiong_warmup_needed(df: pd.DataFrame, runs: RunFacts | None = None) -> dict:
    """Holds when Post-LN without warm-up ends at <= half the BLEU of Post-LN with warm-up (or
    diverges); the control is Post-LN with warm-up, which must have learned."""
    cid, runs = "xiong_warmup_needed", runs or RunFacts("xiong_warmup")
    no, wu = _cell(df, "BLEU", variant=XIONG_NO_WU, scheme="post_ln"), _cell(df, "BLEU", variant=XIONG_WU, scheme="post_ln")
    if no is None or wu is None:
        return verdict(cid, None, {}, "The xiong_warmup table has no Post-LN BLEU cell with or without warm-up.")
    fno, fwu = runs.get(no), runs.get(wu)
    vno, vwu = _cell(df, "valid_loss", variant=XIONG_NO_WU, scheme="post_ln"), _cell(df, "valid_loss", variant=XIONG_WU,
                                                                                        scheme="post_ln")
    b_no, b_wu = _num(no), _num(wu)
    figs = {"post_ln_no_warmup": _figs(b_no, _num(vno), fno), "post_ln_warmup": _figs(b_wu, _num(vwu), fwu),
            "criterion": "BLEU(no warm-up) <= 0.5 * BLEU(warm-up), or no warm-up diverged"}
    wu_name, no_name = _warmup_text(fwu, "warm-up"), _warmup_text(fno, "no warm-up")
    lr = f" at lr {fwu['lr']:g}" if fwu.get("lr") else ""
    if not learned(wu, fwu):
        return verdict(cid, None, figs, f"Inconclusive: the control, Post-LN with {wu_name}{lr}, did not learn "
                       f"({_bleu_text(wu, vwu, fwu)}), so the runs cannot show that warm-up is needed.",
                       inconclusive=True)
    holds = b_no is None or b_no <= 0.5 * b_wu
    return verdict(cid, holds, figs, f"Post-LN{lr} with {no_name} ends at {_bleu_text(no, vno, fno)} against "
                   f"{_bleu_text(wu, vwu, fwu)} with {wu_name}: {'at most' if holds else 'more than'} half "
                   "(paper: 8.45 vs about 34 BLEU).")


def _epochs_to_reach(valid: list, target: float | None):
    """First epoch whose validation loss is <= target (None if never or unknown)."""
    if target is None:
        return None
    for epoch, loss in valid:
        if loss <= target:
            return epoch
    return None


def xiong_preln_no_warmup(df: pd.DataFrame, runs: RunFacts | None = None, margin: float = 1.0) -> dict:
    """Holds when Pre-LN without warm-up ends within `margin` BLEU of (or above) Post-LN with
    warm-up; the control is Post-LN with warm-up, which must have learned. The "fewer epochs"
    half is reported (epochs to reach Post-LN's final validation loss), not judged."""
    cid, runs = "xiong_preln_no_warmup", runs or RunFacts("xiong_warmup")
    pre, post = _cell(df, "BLEU", variant=XIONG_PRE, scheme="pre_ln"), _cell(df, "BLEU", variant=XIONG_WU, scheme="post_ln")
    if pre is None or post is None:
        return verdict(cid, None, {}, "The xiong_warmup table has no BLEU cell for Pre-LN without warm-up or "
                       "Post-LN with warm-up.")
    fpre, fpost = runs.get(pre), runs.get(post)
    vpre, vpost = _cell(df, "valid_loss", variant=XIONG_PRE, scheme="pre_ln"), _cell(df, "valid_loss", variant=XIONG_WU,
                                                                                      scheme="post_ln")
    b_pre, b_post = _num(pre), _num(post)
    target = fpost["valid"][-1][1] if fpost.get("valid") else None
    e_pre, e_post = _epochs_to_reach(fpre.get("valid", []), target), _epochs_to_reach(fpost.get("valid", []), target)
    figs = {"pre_ln_no_warmup": _figs(b_pre, _num(vpre), fpre), "post_ln_warmup": _figs(b_post, _num(vpost), fpost),
            "epochs_to_post_ln_final_valid_loss": {"pre_ln": e_pre, "post_ln": e_post},
            "criterion": f"BLEU(Pre-LN, no warm-up) >= BLEU(Post-LN, warm-up) - {margin}"}
    wu_name = _warmup_text(fpost, "warm-up")
    if not learned(post, fpost):
        return verdict(cid, None, figs, f"Inconclusive: the control, Post-LN with {wu_name}, did not learn "
                       f"({_bleu_text(post, vpost, fpost)}), so there is no quality for Pre-LN to reach.",
                       inconclusive=True)
    holds = b_pre is not None and b_pre >= b_post - margin
    epochs = ""
    if e_post is not None:
        epochs = (f"; Pre-LN reached Post-LN's final validation loss at epoch {e_pre}, Post-LN at epoch {e_post}"
                  if e_pre is not None else "; Pre-LN never reached Post-LN's final validation loss")
    return verdict(cid, holds, figs, f"Pre-LN without warm-up ends at {_bleu_text(pre, vpre, fpre)} against "
                   f"{_bleu_text(post, vpost, fpost)} for Post-LN with {wu_name} "
                   f"({'reaches' if holds else 'falls short of'} it: criterion Pre-LN BLEU >= Post-LN BLEU - "
                   f"{margin:g}){epochs}.")


# ---------------------------------------------------------------------------- Liu et al.
POST_POST, POST_PRE, PRE_PRE = ("encoder=post_ln;decoder=post_ln", "encoder=post_ln;decoder=pre_ln",
                                "encoder=pre_ln;decoder=pre_ln")


def _trained(row, bleu_row, facts: dict | None = None) -> bool:
    """Converged (the failure detector did not fire) and, where BLEU was measured, learned:
    BLEU above zero from output that depends on the source (see `learned`)."""
    if row is None or str(row["value"]) != "converged":
        return False
    return bleu_row is None or ((_num(bleu_row) or 0.0) > 0 and not constant_output(facts or {}))


def _outcome_text(row, facts: dict, bleu_row=None) -> str:
    if row is None:
        return "missing"
    if str(row["value"]) == "diverged":
        return f"diverged ({_short_reason(facts)})"
    if not _trained(row, bleu_row, facts):
        same = ", one hypothesis for every source" if constant_output(facts) else ""
        return f"did not learn (BLEU {_fmt(_num(bleu_row))}{same}, final train nll {_fmt(facts.get('last_nll'))})"
    b = _num(bleu_row)
    nll = facts.get("last_nll")
    return "converged" + (f" (BLEU {b:.2f})" if b is not None else "") + \
        (f" (final train nll {nll:.2f})" if b is None and nll is not None else "")


def admin_table1_outcome(df: pd.DataFrame, runs: RunFacts | None = None) -> dict:
    """Liu et al. Table 1 at 18L-18L: Post/Post and Post/Pre diverge, Pre/Pre converges.
    The control is Pre-LN/Pre-LN: when it does not converge, the table cannot speak."""
    cid, runs = "admin_table1_outcome", runs or RunFacts("admin_table1")
    expect = {POST_POST: "diverged", POST_PRE: "diverged", PRE_PRE: "converged"}
    rows, figs, text = {}, {}, {}
    for scheme in expect:
        row = _cell(df, "training", scheme=scheme)
        if row is None:
            return verdict(cid, None, {}, f"The admin_table1 table has no training row for {scheme}.")
        f = runs.get(row)
        rows[scheme] = row
        figs[scheme] = {"outcome": row["value"], "status": f.get("status"), "reason": f.get("reason") or None,
                        "step": f.get("step"), "last_train_nll": f.get("last_nll"),
                        "bleu": _num(_cell(df, "BLEU", scheme=scheme))}
        text[scheme] = _outcome_text(row, f, _cell(df, "BLEU", scheme=scheme))
    label = {POST_POST: "Post-LN/Post-LN", POST_PRE: "Post-LN/Pre-LN", PRE_PRE: "Pre-LN/Pre-LN"}
    trained = {s: _trained(rows[s], _cell(df, "BLEU", scheme=s), runs.get(rows[s])) for s in expect}
    for s in expect:
        figs[s]["trained"] = trained[s]
    if not trained[PRE_PRE]:
        return verdict(cid, None, figs, f"Inconclusive: the control, Pre-LN/Pre-LN, did not train "
                       f"({text[PRE_PRE]}), so the failures of the Post-LN encoders say nothing.", inconclusive=True)
    wrong = [s for s in (POST_POST, POST_PRE) if trained[s]]
    sentence = "; ".join(f"{label[s]} {text[s]}" for s in expect)
    if wrong:
        return verdict(cid, False, figs, f"{' and '.join(label[s] for s in wrong)} trained where the paper's "
                       f"diverged (18L-18L): {sentence}.")
    return verdict(cid, True, figs, f"As in Liu et al. Table 1 (18L-18L): {sentence}.")


DEEP_POST_LN_FAILS = {("WMT'14 En-De", "12L-12L"), ("WMT'14 En-De", "18L-18L"), ("WMT'14 En-Fr", "60L-12L")}


def admin_deep_stable(df: pd.DataFrame, runs: RunFacts | None = None) -> dict:
    """Liu et al. Table 2: Post-LN fails at the deep settings, Pre-LN and Admin train, Admin >=
    Pre-LN in BLEU. Pre-LN is the control of each (dataset, depth): where it did not learn,
    that setting is undecided."""
    cid, runs = "admin_deep_stable", runs or RunFacts("admin_table2")
    bleu = df[df["metric"] == "BLEU"]
    if bleu.empty:
        return verdict(cid, None, {}, "The admin_table2 table has no BLEU cells.")
    problems, undecided, agree, figs = [], [], [], {}
    for (dataset, depth), cell in bleu.groupby(["dataset", "depth"], sort=False):
        by = {r["scheme"]: r for _, r in cell.iterrows()}
        facts = {s: runs.get(by.get(s)) for s in ("post_ln", "pre_ln", "admin")}
        vals = {s: (_num(by.get(s)) if facts[s].get("status", "ok") == "ok" else None)
                for s in ("post_ln", "pre_ln", "admin")}
        vals = {s: (0.0 if v is not None and constant_output(facts[s]) else v) for s, v in vals.items()}
        where = f"{dataset} {depth}"
        figs[where] = {s: {"bleu": _num(by.get(s)), "learned_bleu": vals[s], "status": facts[s].get("status"),
                           "distinct_hypotheses": facts[s].get("distinct_hypotheses"),
                           "reason": facts[s].get("reason") or None}
                       for s in vals}
        deep = (dataset, depth) in DEEP_POST_LN_FAILS
        if vals["pre_ln"] is None or vals["pre_ln"] <= 0:
            what = "no BLEU" if by.get("pre_ln") is None else _bleu_text(by["pre_ln"], None, facts["pre_ln"])
            undecided.append(f"Pre-LN did not learn at {where} ({what})")
            continue
        if deep and vals["post_ln"] is not None and vals["post_ln"] > 0:
            problems.append(f"Post-LN trained at {where} (BLEU {vals['post_ln']:.2f})")
        if vals["admin"] is None or vals["admin"] <= 0:
            problems.append(f"Admin did not learn at {where} "
                            f"({_bleu_text(by.get('admin'), None, facts['admin']) if by.get('admin') is not None else 'missing'})")
        elif vals["admin"] < vals["pre_ln"]:
            problems.append(f"Admin BLEU {vals['admin']:.2f} < Pre-LN {vals['pre_ln']:.2f} at {where}")
        else:
            post = "failed" if vals["post_ln"] is None or vals["post_ln"] <= 0 else f"{vals['post_ln']:.2f}"
            agree.append(f"{where}: Post-LN {post}, Pre-LN {vals['pre_ln']:.2f}, Admin {vals['admin']:.2f}")
    if problems:
        return verdict(cid, False, figs, "; ".join(problems) + ".")
    if undecided:
        return verdict(cid, None, figs, "Inconclusive: the control " + "; ".join(undecided) +
                       (f" (elsewhere as in the paper: {'; '.join(agree)})" if agree else "") + ".", inconclusive=True)
    return verdict(cid, True, figs, "As in Liu et al. Table 2 (BLEU): " + "; ".join(agree) + ".")


# ---------------------------------------------------------------------------- Zhai et al.
def gate_sigma(v: dict, runs: RunFacts) -> dict:
    """The sigma_entropy study judges entropy collapse and spectral growth from the runs; here
    the verdict is made readable and gated on its control: the sigma-reparam run of the
    deciding setting must have trained (status ok), or the comparison says nothing."""
    figs = v.get("figures") or {}
    if v["claim"] not in ("sigma_entropy_collapse", "sigma_spectral_growth") or v["verdict"] == "not_run" or not figs:
        return v
    parts, failed_controls = [], []
    for key, f in figs.items():
        if not isinstance(f, dict) or "@" not in key:
            continue
        pair, variant = key.split("@", 1)
        base, _, sigma = pair.partition("_vs_")
        control = runs.get({"variant": variant, "arch": None, "scheme": sigma})
        setting = _setting_label(variant)
        bleu = control.get("eval", {}).get("bleu")
        if control.get("status") == "diverged":
            failed_controls.append(f"{sigma} at {setting} ({_short_reason(control)})")
        elif _finite(bleu) and float(bleu) <= 0:  # a translation run that never matched a 4-gram
            failed_controls.append(f"{sigma} at {setting} (BLEU {float(bleu):.2f} after "
                                   f"{control.get('updates', '?')} updates)")
        if v["claim"] == "sigma_entropy_collapse":
            lr = f" (lr {f['lr']:g})" if _finite(f.get("lr")) and "lr" not in setting else ""
            end = "diverged" if f.get("baseline_diverged") else f"final loss {_fmt(f.get('baseline_final_loss'))}"
            parts.append(f"with {setting}{lr}: {base}'s smallest attention entropy is {_fmt(f.get('baseline_min_entropy'), 3)} "
                         f"nats ({end}) against {_fmt(f.get('sigma_min_entropy'), 3)} nats for {sigma} "
                         f"(final loss {_fmt(f.get('sigma_final_loss'))})")
        else:
            parts.append(f"with {setting}: the spectral norms of {base} grow x{_fmt(f.get('baseline_growth'))} "
                         f"against x{_fmt(f.get('sigma_growth'))} for {sigma}")
    if failed_controls:
        return {**v, "verdict": "inconclusive", "detail": "Inconclusive: the control did not train: " +
                "; ".join(failed_controls) + "."}
    if parts:
        return {**v, "detail": parts[0][0].upper() + "; ".join(parts)[1:] + "."}
    return v


def _setting_label(variant: str) -> str:
    """The variant's `setting` label of config/variants.yaml (the variant name if it has none)."""
    from tasks.resolve import variants

    try:
        return str(variants().get(variant, {}).get("setting") or variant)
    except ValueError:
        return variant


def _fmt(x, nd: int = 2) -> str:
    return f"{float(x):.{nd}f}" if _finite(x) else "n/a"


TABLE_CLAIMS = {"xiong_warmup": [xiong_warmup_needed, xiong_preln_no_warmup],
                "admin_table1": [admin_table1_outcome], "admin_table2": [admin_deep_stable]}


def all_verdicts(tables_dir: Path, studies_dir: Path, scale: str | None = None,
                 results: str | Path = "results") -> list[dict]:
    """One verdict per claim of claims.yaml (not_run when nothing decided it). With `scale`,
    the runs' status.json / config.yaml / metrics.jsonl under `results` supply the numbers."""
    from aggregate import asr_claims, vit_claims  # the ViT and speech tables' claims (same signature)

    tables = {**TABLE_CLAIMS, "sigma_vit": [vit_claims.sigma_no_ln_vit],
              "sigma_vit_entropy": [vit_claims.sigma_entropy_collapse_vit],
              "sigma_asr": [asr_claims.sigma_deep_no_warmup]}
    found: dict[str, dict] = {}
    for table, fns in tables.items():
        path = Path(tables_dir) / f"{table}.csv"
        if path.is_file():
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            runs = RunFacts(table, scale, results)
            for fn in fns:
                v = fn(df, runs)
                found[v["claim"]] = {**v, "source": f"tables/{table}.csv"}
    sigma_runs = RunFacts("sigma_entropy", scale, results)
    for path in sorted(Path(studies_dir).glob("*.claims.json")):
        for v in read_study_claims(path):
            v = gate_sigma(v, sigma_runs)
            found[v["claim"]] = {**v, "source": f"studies/{path.name}"}
    out = []
    for c in load_claims():
        out.append(found.get(c["id"]) or verdict(c["id"], None, {}, f"Not run ({c['decided_by']})."))
    return out
