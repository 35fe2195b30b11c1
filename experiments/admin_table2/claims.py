"""The claims of this experiment (experiments/claim.py says what a claim is).

Decided per (dataset, depth) from the BLEU cells: Pre-LN is the control of each setting; where
it did not learn, that setting is undecided.
"""
from experiments.claim import Claim, Evidence, num, verdict
from experiments.translation import bleu_text, constant_output, distinct_hypotheses, status_of

# Where Liu et al. Table 2 reports Post-LN failing: (dataset key, depth)
DEEP_POST_LN_FAILS = {("wmt14_en_de", "12L-12L"), ("wmt14_en_de", "18L-18L"), ("wmt14_en_fr", "60L-12L")}
SCHEMES = ("post_ln", "pre_ln", "admin")


def deep_stable(ev: Evidence) -> dict:
    """Liu et al. Table 2: Post-LN fails at the deep settings, Pre-LN and Admin train, Admin >=
    Pre-LN in BLEU."""
    bleu = ev.table[ev.table["metric"] == "BLEU"]
    if bleu.empty:
        return verdict("", None, {}, f"The {ev.spec.id} table has no BLEU cells.")
    problems, undecided, agree, figs = [], [], [], {}
    for (key, depth), cell in bleu.groupby(["dataset_key", "depth"], sort=False):
        by = {r["scheme"]: r for _, r in cell.iterrows()}
        runs = {s: ev.run_of(by.get(s)) for s in SCHEMES}
        vals = {s: (num(by.get(s)) if status_of(runs[s]) == "ok" else None) for s in SCHEMES}
        vals = {s: (0.0 if v is not None and constant_output(runs[s]) else v) for s, v in vals.items()}
        where = f"{cell.iloc[0]['dataset']} {depth}"
        figs[where] = {s: {"bleu": num(by.get(s)), "learned_bleu": vals[s], "status": status_of(runs[s], None),
                           "distinct_hypotheses": distinct_hypotheses(runs[s]),
                           "reason": (runs[s].status.get("reason") if runs[s] is not None else None) or None}
                       for s in vals}
        deep = (key, depth) in DEEP_POST_LN_FAILS
        if vals["pre_ln"] is None or vals["pre_ln"] <= 0:
            what = "no BLEU" if by.get("pre_ln") is None else bleu_text(by["pre_ln"], None, runs["pre_ln"])
            undecided.append(f"Pre-LN did not learn at {where} ({what})")
            continue
        if deep and vals["post_ln"] is not None and vals["post_ln"] > 0:
            problems.append(f"Post-LN trained at {where} (BLEU {vals['post_ln']:.2f})")
        if vals["admin"] is None or vals["admin"] <= 0:
            problems.append(f"Admin did not learn at {where} "
                            f"({bleu_text(by.get('admin'), None, runs['admin']) if by.get('admin') is not None else 'missing'})")
        elif vals["admin"] < vals["pre_ln"]:
            problems.append(f"Admin BLEU {vals['admin']:.2f} < Pre-LN {vals['pre_ln']:.2f} at {where}")
        else:
            post = "failed" if vals["post_ln"] is None or vals["post_ln"] <= 0 else f"{vals['post_ln']:.2f}"
            agree.append(f"{where}: Post-LN {post}, Pre-LN {vals['pre_ln']:.2f}, Admin {vals['admin']:.2f}")
    if problems:
        return verdict("", False, figs, "; ".join(problems) + ".")
    if undecided:
        return verdict("", None, figs, "Inconclusive: the control " + "; ".join(undecided) +
                       (f" (elsewhere as in the paper: {'; '.join(agree)})" if agree else "") + ".", inconclusive=True)
    return verdict("", True, figs, "As in Liu et al. Table 2 (BLEU): " + "; ".join(agree) + ".")


CLAIMS = (
    Claim(
        id='admin_deep_stable',
        paper='Liu 2020, Table 2',
        text="Post-LN fails at 12L-12L and deeper on WMT'14 En-De and at 60L-12L on En-Fr; Pre-LN and Admin train; Admin >= Pre-LN in BLEU at every depth.",
        measured='Table 2 grid.',
        source='Liu et al. 2020, Understanding the Difficulty of Training Transformers (EMNLP 2020, arXiv:2004.08249)',
        decide=deep_stable,
    ),
)
