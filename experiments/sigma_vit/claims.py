"""The claims of this experiment (experiments/claim.py says what a claim is).

The control is the DeiT recipe's Pre-LN baseline, which must have learned (top-1 at least twice
chance) for "competitive" to mean anything.
"""
from experiments.claim import Claim, Evidence, num, verdict

NO_LN_MARGIN = 2.0  # top-1 points: "competitive" (the secondary source: 82.2 vs 81.8)
BASE, SIGMA = ("pre_ln", "deit_b16"), ("sigma_reparam", "sigma_vit_lars")


def chance_top1(ev: Evidence, row) -> float | None:
    run = ev.run_of(row)
    try:
        return float(run.eval["chance_top1"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def no_ln(ev: Evidence) -> dict:
    base = ev.cell("top1", scheme=BASE[0], variant=BASE[1])
    sig = ev.cell("top1", scheme=SIGMA[0], variant=SIGMA[1])
    if base is None or sig is None:
        return verdict("", None, {}, f"{ev.spec.id} has no top1 cell for {'/'.join(BASE)} or {'/'.join(SIGMA)}")
    b, s = num(base), num(sig)
    chance = chance_top1(ev, base) or chance_top1(ev, sig) or 0.1
    figs = {"top1_deit_pre_ln": b if b is not None else base["outcome"],
            "top1_sigma_reparam_lars": s if s is not None else sig["outcome"], "chance_top1": chance}
    if b is None or b < 2 * chance:
        return verdict("", None, figs, f"the DeiT baseline did not learn (top-1 {figs['top1_deit_pre_ln']} vs "
                       f"chance {chance:.1f}): no accuracy to be competitive with", inconclusive=True)
    if s is None or str(sig["outcome"]) != "ok":
        return verdict("", False, figs, f"sigma-reparam (no LN, no warm-up, no wd, LARS): {sig['outcome']}")
    holds = s >= b - NO_LN_MARGIN
    return verdict("", holds, figs,
                   f"sigma-reparam without LN, warm-up or weight decay (LARS) reaches top-1 {s:.1f} against "
                   f"{b:.1f} for the DeiT Pre-LN baseline (chance {100 * chance if chance < 1 else chance:.0f}): "
                   f"{'within' if holds else 'more than'} {NO_LN_MARGIN:g} points "
                   f"{'of' if holds else 'below'} it (paper, secondary source: 82.2 for sigma-reparam vs 81.8 for "
                   "DeiT-B on ImageNet).")


CLAIMS = (
    Claim(
        id='sigma_no_ln_vit',
        paper='Zhai 2023, abstract',
        text='With sigma-reparam, a ViT trains to competitive accuracy without warm-up, weight decay, LayerNorm or an adaptive optimizer.',
        measured="top-1 of the ViT under sigma_reparam with the LARS recipe (no LN, no warm-up, no wd; its lr, momentum, batch and epochs unverified) vs the DeiT recipe's Pre-LN baseline, mean over seeds; holds when the baseline learned (top-1 at least twice chance), sigma-reparam trained in every seed and its top-1 is within 2 points of (or above) the baseline's.",
        source='Zhai et al. 2023, Stabilizing Transformer Training by Preventing Attention Entropy Collapse (ICML 2023, arXiv:2303.06296)',
        decide=no_ln,
    ),
)
