"""The claim of a throwaway experiment (tests/test_new_experiment_is_one_folder.py)."""
from experiments.claim import Claim, Evidence, fmt, num, verdict

VARIANT = "sigma_toy_lr1e-3"


def pre_not_worse(ev: Evidence) -> dict:
    pre, post = (ev.cell("valid_loss", scheme=s, variant=VARIANT) for s in ("pre_ln", "post_ln"))
    a, b = num(pre), num(post)
    run = ev.run_of(pre)
    figs = {"pre_ln": a, "post_ln": b, "updates": run.setting("train", "max_updates") if run else None}
    if a is None or b is None or run is None or not run.ok:
        return verdict("", None, figs, "Inconclusive: a run did not train.", inconclusive=True)
    return verdict("", a <= b, figs, f"Pre-LN validation loss {fmt(a)} against Post-LN {fmt(b)} "
                   f"after {figs['updates']} updates.")


CLAIMS = (
    Claim(id="toy_check_pre_not_worse", paper="none", text="Pre-LN ends no worse than Post-LN.",
          measured="validation loss of the two runs.", source="this test", decide=pre_not_worse),
)
