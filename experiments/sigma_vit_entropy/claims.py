"""The claims of this experiment (experiments/claim.py says what a claim is).

Collapse is read from the runs' attention-entropy probes: the smallest layer entropy (mean over
heads) of the last probe, at 2x the learning rate against 1x.
"""
import math

from experiments.claim import Claim, Evidence, verdict

COLLAPSE_FRACTION = 0.5  # entropy below half of the 1x-lr run's = collapse
PAIRS = {"deit": ("pre_ln", "deit_b16", "deit_b16_lr2x"),
         "sigma": ("sigma_reparam", "sigma_vit_lars", "sigma_vit_lars_lr2x")}


def last_min_entropy(run) -> float | None:
    """Min over layers of the mean-over-heads entropy in the run's last probe record."""
    if run is None:
        return None
    probes = [p for p in run.probes if isinstance(p.get("entropy"), dict)]
    if not probes:
        return None
    vals = []
    for heads in probes[-1]["entropy"].values():
        heads = [float(h) for h in (heads if isinstance(heads, list) else [heads])]
        if heads and all(math.isfinite(h) for h in heads):
            vals.append(sum(heads) / len(heads))
    return min(vals) if vals else 0.0  # non-finite entropy in every layer: the attention broke down


def describe(state) -> str:
    """'diverged' or 'keeps its smallest layer entropy at 1.72 nats (2.83 at 1x lr)'."""
    rows, ent, diverged, collapsed = state
    if diverged:
        return f"diverged ({rows['2x']['outcome']})"
    show = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    verb = "collapses: smallest layer entropy" if collapsed else "keeps its smallest layer entropy at"
    return f"{verb} {show(ent['2x'])} nats ({show(ent['1x'])} at 1x lr)"


def collapse(ev: Evidence) -> dict:
    figs, state = {}, {}
    for name, (scheme, v1, v2) in PAIRS.items():
        rows = {k: ev.cell("outcome", scheme=scheme, variant=v) for k, v in (("1x", v1), ("2x", v2))}
        if any(r is None for r in rows.values()):
            return verdict("", None, {}, f"{ev.spec.id} has no outcome rows for {scheme} {v1}/{v2}")
        ent = {k: last_min_entropy(ev.run_of(r)) for k, r in rows.items()}
        diverged = str(rows["2x"]["value"]) == "diverged"
        collapsed = diverged or (ent["1x"] is not None and ent["2x"] is not None
                                 and ent["2x"] < COLLAPSE_FRACTION * ent["1x"])
        figs[name] = {"outcome_1x": rows["1x"]["value"], "outcome_2x": rows["2x"]["value"],
                      "last_min_entropy_1x": ent["1x"], "last_min_entropy_2x": ent["2x"]}
        state[name] = (rows, ent, diverged, collapsed)
    if state["deit"][0]["1x"]["value"] == "diverged":
        return verdict("", None, figs, "the DeiT run at the default lr diverged: no healthy reference",
                       inconclusive=True)
    if any(e is None for e in state["deit"][1].values()) and not state["deit"][2]:
        return verdict("", None, figs, "entropy probes missing in the DeiT runs (probes.every = 0?)")
    deit_collapses = state["deit"][3]
    sigma_ok = not state["sigma"][2] and not state["sigma"][3]
    return verdict("", deit_collapses and sigma_ok, figs,
                   f"At 2x the learning rate DeiT (Pre-LN) {describe(state['deit'])}; sigma-reparam "
                   f"{describe(state['sigma'])} (collapse: diverged, or the smallest layer entropy below "
                   f"{COLLAPSE_FRACTION:g} x the 1x-lr run's; paper: DeiT at 2x lr collapses and diverges, "
                   "sigma-reparam trains).")


CLAIMS = (
    Claim(
        id='sigma_entropy_collapse_vit',
        paper='Zhai 2023, ViT figure and introduction',
        text='On ViT-B/16 with the DeiT recipe, doubling the learning rate collapses all attention entropy to near zero and training diverges; sigma-reparam at twice its learning rate keeps entropy away from zero and trains.',
        measured='attention entropy (mean over heads) of the probed layers over training, DeiT at 1x and 2x lr and sigma_reparam (LARS) at 1x and 2x lr; collapse = the run diverged or its last entropy (min over the layers) fell below half that of the same recipe at 1x lr; holds when DeiT 2x collapses and sigma 2x neither diverges nor collapses.',
        source='Zhai et al. 2023 (arXiv 2303.06296), introduction and the ViT entropy figure',
        decide=collapse,
    ),
)
