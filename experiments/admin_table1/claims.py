"""The claims of this experiment (experiments/claim.py says what a claim is).

The vanishing-gradient claim is the admin_table1_vanishing study's; the outcome claim is decided
here from the 18L-18L training rows, with Pre-LN/Pre-LN as the control.
"""
from experiments.claim import Claim, Evidence, fmt, num, short_reason, train_nll, verdict
from experiments.translation import constant_output

POST_POST, POST_PRE, PRE_PRE = ("encoder=post_ln;decoder=post_ln", "encoder=post_ln;decoder=pre_ln",
                                "encoder=pre_ln;decoder=pre_ln")
LABEL = {POST_POST: "Post-LN/Post-LN", POST_PRE: "Post-LN/Pre-LN", PRE_PRE: "Pre-LN/Pre-LN"}
EXPECT = {POST_POST: "diverged", POST_PRE: "diverged", PRE_PRE: "converged"}


def trained(row, bleu_row, run) -> bool:
    """Converged (the failure detector did not fire) and, where BLEU was measured, learned:
    BLEU above zero from output that depends on the source."""
    if row is None or str(row["value"]) != "converged":
        return False
    return bleu_row is None or ((num(bleu_row) or 0.0) > 0 and not constant_output(run))


def outcome_text(row, run, bleu_row=None) -> str:
    if row is None:
        return "missing"
    if str(row["value"]) == "diverged":
        return f"diverged ({short_reason(run)})"
    last = train_nll(run)[1]
    if not trained(row, bleu_row, run):
        same = ", one hypothesis for every source" if constant_output(run) else ""
        return f"did not learn (BLEU {fmt(num(bleu_row))}{same}, final train nll {fmt(last)})"
    b = num(bleu_row)
    return "converged" + (f" (BLEU {b:.2f})" if b is not None else "") + \
        (f" (final train nll {last:.2f})" if b is None and last is not None else "")


def outcome(ev: Evidence) -> dict:
    """Liu et al. Table 1 at 18L-18L: Post/Post and Post/Pre diverge, Pre/Pre converges. When
    the control Pre-LN/Pre-LN does not train, the table cannot speak."""
    rows, runs, figs, text = {}, {}, {}, {}
    for scheme in EXPECT:
        row = ev.cell("training", scheme=scheme)
        if row is None:
            return verdict("", None, {}, f"The {ev.spec.id} table has no training row for {scheme}.")
        run = ev.run_of(row)
        status = run.status if run is not None else {}
        bleu = ev.cell("BLEU", scheme=scheme)
        rows[scheme], runs[scheme] = row, run
        figs[scheme] = {"outcome": row["value"], "status": status.get("status"), "reason": status.get("reason") or None,
                        "step": status.get("step"), "last_train_nll": train_nll(run)[1], "bleu": num(bleu)}
        text[scheme] = outcome_text(row, run, bleu)
    ok = {s: trained(rows[s], ev.cell("BLEU", scheme=s), runs[s]) for s in EXPECT}
    for s in EXPECT:
        figs[s]["trained"] = ok[s]
    if not ok[PRE_PRE]:
        return verdict("", None, figs, f"Inconclusive: the control, Pre-LN/Pre-LN, did not train "
                       f"({text[PRE_PRE]}), so the failures of the Post-LN encoders say nothing.", inconclusive=True)
    wrong = [s for s in (POST_POST, POST_PRE) if ok[s]]
    sentence = "; ".join(f"{LABEL[s]} {text[s]}" for s in EXPECT)
    if wrong:
        return verdict("", False, figs, f"{' and '.join(LABEL[s] for s in wrong)} trained where the paper's "
                       f"diverged (18L-18L): {sentence}.")
    return verdict("", True, figs, f"As in Liu et al. Table 1 (18L-18L): {sentence}.")


CLAIMS = (
    Claim(
        id='admin_table1_vanishing',
        paper='Liu 2020, Table 1',
        text='An 18L-18L Post-LN decoder has vanishing gradients at init; a Pre-LN decoder does not.',
        measured='relative gradient norm per decoder layer at init (norm / max over layers); vanishing = early layers far below late ones.',
        source='Liu et al. 2020, Understanding the Difficulty of Training Transformers (EMNLP 2020, arXiv:2004.08249)',
        study='admin_table1_vanishing',
        at_init=True,
    ),
    Claim(
        id='admin_table1_outcome',
        paper='Liu 2020, Table 1',
        text='At 18L-18L, Post-LN/Post-LN and Post-LN/Pre-LN (encoder/decoder) diverge; Pre-LN/Pre-LN converges.',
        measured='train each combination; outcome = diverged / converged.',
        source='Liu et al. 2020, Understanding the Difficulty of Training Transformers (EMNLP 2020, arXiv:2004.08249)',
        decide=outcome,
    ),
)
