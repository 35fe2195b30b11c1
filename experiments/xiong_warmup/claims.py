"""The claims of this experiment (experiments/claim.py says what a claim is).

Both are decided by BLEU at the end of training; the control of each is Post-LN with warm-up,
which must have learned (experiments/translation.py) for the runs to speak.
"""
from experiments.claim import Claim, Evidence, num, valid_curve, verdict
from experiments.translation import bleu_text, learned, run_figures, warmup_text

NO_WU, WU, PRE = "xiong_adam_nowu_lr5e-4", "xiong_adam_wu4000_lr5e-4", "xiong_preln_nowu_step8"
PRELN_MARGIN = 1.0  # BLEU: "reaches the quality of"


def warmup_needed(ev: Evidence) -> dict:
    """Holds when Post-LN without warm-up ends at <= half the BLEU of Post-LN with warm-up (or
    diverges)."""
    no, wu = ev.cell("BLEU", variant=NO_WU, scheme="post_ln"), ev.cell("BLEU", variant=WU, scheme="post_ln")
    if no is None or wu is None:
        return verdict("", None, {}, f"The {ev.spec.id} table has no Post-LN BLEU cell with or without warm-up.")
    rno, rwu = ev.run_of(no), ev.run_of(wu)
    vno, vwu = ev.cell("valid_loss", variant=NO_WU, scheme="post_ln"), ev.cell("valid_loss", variant=WU, scheme="post_ln")
    b_no, b_wu = num(no), num(wu)
    figs = {"post_ln_no_warmup": run_figures(b_no, num(vno), rno), "post_ln_warmup": run_figures(b_wu, num(vwu), rwu),
            "criterion": "BLEU(no warm-up) <= 0.5 * BLEU(warm-up), or no warm-up diverged"}
    wu_name, no_name = warmup_text(rwu, "warm-up"), warmup_text(rno, "no warm-up")
    lr_value = rwu.setting("optim", "lr") if rwu is not None else None
    lr = f" at lr {lr_value:g}" if lr_value else ""
    if not learned(wu, rwu):
        return verdict("", None, figs, f"Inconclusive: the control, Post-LN with {wu_name}{lr}, did not learn "
                       f"({bleu_text(wu, vwu, rwu)}), so the runs cannot show that warm-up is needed.",
                       inconclusive=True)
    holds = b_no is None or b_no <= 0.5 * b_wu
    return verdict("", holds, figs, f"Post-LN{lr} with {no_name} ends at {bleu_text(no, vno, rno)} against "
                   f"{bleu_text(wu, vwu, rwu)} with {wu_name}: {'at most' if holds else 'more than'} half "
                   "(paper: 8.45 vs about 34 BLEU).")


def epochs_to_reach(valid: list, target: float | None):
    """First epoch whose validation loss is <= target (None if never or unknown)."""
    if target is None:
        return None
    for epoch, loss in valid:
        if loss <= target:
            return epoch
    return None


def preln_no_warmup(ev: Evidence, margin: float = PRELN_MARGIN) -> dict:
    """Holds when Pre-LN without warm-up ends within `margin` BLEU of (or above) Post-LN with
    warm-up. The "fewer epochs" half is reported (epochs to reach Post-LN's final validation
    loss), not judged."""
    pre, post = ev.cell("BLEU", variant=PRE, scheme="pre_ln"), ev.cell("BLEU", variant=WU, scheme="post_ln")
    if pre is None or post is None:
        return verdict("", None, {}, f"The {ev.spec.id} table has no BLEU cell for Pre-LN without warm-up or "
                       "Post-LN with warm-up.")
    rpre, rpost = ev.run_of(pre), ev.run_of(post)
    vpre, vpost = ev.cell("valid_loss", variant=PRE, scheme="pre_ln"), ev.cell("valid_loss", variant=WU, scheme="post_ln")
    b_pre, b_post = num(pre), num(post)
    cpre, cpost = valid_curve(rpre), valid_curve(rpost)
    target = cpost[-1][1] if cpost else None
    e_pre, e_post = epochs_to_reach(cpre, target), epochs_to_reach(cpost, target)
    figs = {"pre_ln_no_warmup": run_figures(b_pre, num(vpre), rpre), "post_ln_warmup": run_figures(b_post, num(vpost), rpost),
            "epochs_to_post_ln_final_valid_loss": {"pre_ln": e_pre, "post_ln": e_post},
            "criterion": f"BLEU(Pre-LN, no warm-up) >= BLEU(Post-LN, warm-up) - {margin}"}
    wu_name = warmup_text(rpost, "warm-up")
    if not learned(post, rpost):
        return verdict("", None, figs, f"Inconclusive: the control, Post-LN with {wu_name}, did not learn "
                       f"({bleu_text(post, vpost, rpost)}), so there is no quality for Pre-LN to reach.",
                       inconclusive=True)
    holds = b_pre is not None and b_pre >= b_post - margin
    epochs = ""
    if e_post is not None:
        epochs = (f"; Pre-LN reached Post-LN's final validation loss at epoch {e_pre}, Post-LN at epoch {e_post}"
                  if e_pre is not None else "; Pre-LN never reached Post-LN's final validation loss")
    return verdict("", holds, figs, f"Pre-LN without warm-up ends at {bleu_text(pre, vpre, rpre)} against "
                   f"{bleu_text(post, vpost, rpost)} for Post-LN with {wu_name} "
                   f"({'reaches' if holds else 'falls short of'} it: criterion Pre-LN BLEU >= Post-LN BLEU - "
                   f"{margin:g}){epochs}.")


CLAIMS = (
    Claim(
        id='xiong_warmup_needed',
        paper='Xiong 2020, Sec. 3.2',
        text="Post-LN trained with Adam and no learning-rate warm-up ends far worse than with warm-up (8.45 vs about 34 BLEU on IWSLT'14).",
        measured='train Post-LN with and without warm-up, same lr; compare final metric.',
        source='Xiong et al. 2020, On Layer Normalization in the Transformer Architecture (ICML 2020, arXiv:2002.04745)',
        decide=warmup_needed,
    ),
    Claim(
        id='xiong_preln_no_warmup',
        paper='Xiong 2020, Sec. 4.2',
        text='Pre-LN without warm-up reaches the quality of Post-LN with warm-up, and gets there in fewer epochs.',
        measured='Pre-LN (no warm-up) vs Post-LN (warm-up) metric curves per epoch.',
        source='Xiong et al. 2020, On Layer Normalization in the Transformer Architecture (ICML 2020, arXiv:2002.04745)',
        decide=preln_no_warmup,
    ),
)
