"""The claims of this experiment (experiments/claim.py says what a claim is).

The speech half of sigma_deep_no_warmup: holds when sigma_reparam_post_ln trained without warm-up
and without an adaptive optimizer learns (status ok) and its dev-clean and dev-other WER are
within `rel` (relative) of the best Post-LN / Pre-LN run trained with the slimIPL warm-up
recipe; inconclusive when no such baseline learned (WER below 100%).
"""
from experiments.claim import Claim, Evidence, fmt, num, verdict

WU, NOWU = "asr_adagrad_wu64k", "asr_sgd_nowu"
SPLITS = ("dev-clean", "dev-other")


def deep_no_warmup(ev: Evidence, rel: float = 0.2) -> dict:
    figs: dict = {"criterion": f"WER(sigma_reparam_post_ln, no warm-up) <= (1 + {rel}) x the best "
                               "WER(post_ln | pre_ln, warm-up), on dev-clean and dev-other"}
    worse, said = [], []
    for split in SPLITS:
        m = f"WER {split}"
        sig = ev.cell(m, variant=NOWU, scheme="sigma_reparam_post_ln")
        if sig is None:
            return verdict("", None, figs, f"The {ev.spec.id} table has no sigma_reparam_post_ln cell without warm-up.")
        base = [(s, num(ev.cell(m, variant=WU, scheme=s))) for s in ("post_ln", "pre_ln")]
        base = [(s, v) for s, v in base if v is not None and v < 100.0]
        if not base:
            return verdict("", None, figs, f"Inconclusive: neither Post-LN nor Pre-LN with warm-up learned "
                                           f"({m} not below 100%), so there is no baseline to compare with.",
                           inconclusive=True)
        best_s, best = min(base, key=lambda x: x[1])
        v = num(sig)
        run = ev.run_of(sig)
        status = run.status if run is not None else {}
        ok = status.get("status", "ok") == "ok"
        figs[m] = {"sigma_no_warmup": v, "best_warmup": best, "best_warmup_scheme": best_s,
                   "status": status.get("status"), "reason": status.get("reason") or None}
        said.append(f"{m} {fmt(v, 1)} vs {best_s} {fmt(best, 1)}")
        if v is None or not ok or v > (1 + rel) * best:
            worse.append(m)
    return verdict("", not worse, figs,
                   f"Speech half: sigma_reparam_post_ln without warm-up (SGD) against the best warm-up "
                   f"baseline: {'; '.join(said)} ({'within' if not worse else 'outside'} {rel:.0%}; paper, "
                   "secondary source: 6.1-6.4 / 17.8-19.4 vs Post-LN 5.9 / 17.7 on 100 h).")


CLAIMS = (
    Claim(
        id='sigma_deep_no_warmup',
        paper='Zhai 2023, abstract',
        text='Deep translation and speech models train to competitive quality with sigma-reparam and no warm-up and no adaptive optimizer.',
        measured='deep MT and ASR runs, sigma_reparam without warm-up vs Pre-LN/Post-LN baselines. Speech half (table sigma_asr, LibriSpeech train-clean-100 letter CTC, 36L at paper scale): the sigma_reparam_post_ln run without warm-up and without an adaptive optimizer (SGD, variant asr_sgd_nowu) learns (status ok) and its dev-clean and dev-other WER are within 20% (relative) of the best Post-LN/Pre-LN run with the slimIPL Adagrad warm-up recipe (asr_adagrad_wu64k); inconclusive when no warm-up baseline learned. The paper (secondary source): Post-LN 5.9/17.7, sigma-reparam variants 6.1-6.4/17.8-19.4 WER.',
        source='Zhai et al. 2023, Stabilizing Transformer Training by Preventing Attention Entropy Collapse (ICML 2023, arXiv:2303.06296)',
        decide=deep_no_warmup,
    ),
)
