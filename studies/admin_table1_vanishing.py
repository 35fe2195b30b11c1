"""Liu et al. 2020, Table 1 / Fig. 3: gradient vanishing of an 18L-18L decoder at initialisation.

Measurement: for each encoder/decoder scheme combination (post_ln/post_ln, post_ln/pre_ln,
pre_ln/pre_ln) a freshly initialised 18L-18L model (transformer_wmt_en_de widths: d 512,
FFN 2048, 8 heads, as Liu's WMT'14 En-De Table 1; Xavier init; dropout 0), one batch of
sentence pairs, label-smoothed loss (eps 0.1, mean over tokens). Per layer, the L2 norm of the
gradient of all its parameters together (attention, FFN, LayerNorms); relative norm = norm /
max over the layers of the same stack (Liu Fig. 3 plots these per layer).

Claim admin_table1_vanishing: with r = mean relative norm of the first third of the decoder's
layers / mean of its last third, a decoder "vanishes" when r < 0.5. Holds if the Post-LN
decoder (post_ln/post_ln) vanishes and neither Pre-LN decoder (post_ln/pre_ln, pre_ln/pre_ln)
does. The encoders' ratios are recorded too.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import torch

from studies import common

COMBOS = (("post_ln", "post_ln"), ("post_ln", "pre_ln"), ("pre_ln", "pre_ln"))
SIZE = "transformer_wmt_en_de"
SETTINGS = {
    "tiny": dict(seeds=3, batch_size=4, depth=18),
    "small": dict(seeds=3, batch_size=16, depth=18),
    "paper": dict(seeds=5, batch_size=64, depth=18),
}
QUICK = dict(seeds=1, batch_size=2, depth=3, size="translation_tiny", vocab=200)
THRESHOLD = 0.5


def layer_grad_norms(model, batch: dict) -> list[dict]:
    """Gradient norm of every layer of both stacks (one forward + backward)."""
    groups = [(s, i, list(layer.parameters())) for s, stack in model.stacks().items()
              for i, layer in enumerate(stack.layers, start=1)]
    params = [p for _, _, ps in groups for p in ps]
    loss = common.token_loss(model, batch)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"non-finite loss {loss.item()} at initialisation")
    grads = iter(torch.autograd.grad(loss, params, allow_unused=True))
    rows = []
    for stack, i, ps in groups:
        sq = sum(float(g.double().pow(2).sum()) for g in (next(grads) for _ in ps) if g is not None)
        rows.append(dict(stack=stack, layer=i, grad_norm=sq ** 0.5))
    return rows


def run(scale: str, seeds: int | None = None, data=None, quick: bool = False) -> tuple[pd.DataFrame, list[dict]]:
    cfg, n_seeds, batch, vocab, label = common.setup(scale, SETTINGS, QUICK, SIZE, seeds, data, quick)
    rows = []
    for enc, dec in COMBOS:
        for seed in range(1, n_seeds + 1):
            model = common.build_translation(cfg["size"], enc, dec, cfg["depth"], vocab, seed)
            for r in layer_grad_norms(model, batch):
                rows.append(dict(r, encoder_scheme=enc, decoder_scheme=dec, combo=f"{enc}+{dec}", seed=seed))
    df = pd.DataFrame(rows)
    df["rel_grad_norm"] = df["grad_norm"] / df.groupby(["combo", "seed", "stack"]).grad_norm.transform("max")
    df = df.assign(study="admin_table1_vanishing", size=cfg["size"], depth=cfg["depth"], data=label,
                   batch_size=cfg["batch_size"], seeds=n_seeds, dropout=0.0, init="xavier")
    return df, [claim(df)]


def third_ratio(rel: np.ndarray) -> float:
    """mean of the first third / mean of the last third (at least one layer each)."""
    k = max(1, len(rel) // 3)
    return float(rel[:k].mean() / rel[-k:].mean())


def claim(df: pd.DataFrame) -> dict:
    figs = {}
    for combo, d in df.groupby("combo", sort=False):
        for stack in ("encoder", "decoder"):
            curve = d[d["stack"] == stack].groupby("layer").rel_grad_norm.mean().sort_index().values
            figs[f"{combo}_{stack}"] = {"first_third_over_last_third": third_ratio(curve),
                                        "min_rel": float(curve.min()), "curve": curve.tolist()}
    r = {c: figs[f"{c}_decoder"]["first_third_over_last_third"] for c in ("post_ln+post_ln", "post_ln+pre_ln", "pre_ln+pre_ln")}
    ok = r["post_ln+post_ln"] < THRESHOLD and r["post_ln+pre_ln"] >= THRESHOLD and r["pre_ln+pre_ln"] >= THRESHOLD
    detail = ("decoder first-third/last-third relative grad norm: " +
              ", ".join(f"{c} {v:.3f}" for c, v in r.items()) +
              f"; vanishing = ratio < {THRESHOLD}; expected only post_ln+post_ln to vanish")
    return common.claim("admin_table1_vanishing", common.verdict(ok), figs, detail)


def figure(df: pd.DataFrame, out) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, stack in zip(axes, ("encoder", "decoder")):
        for combo, d in df[df["stack"] == stack].groupby("combo", sort=False):
            g = d.groupby("layer").rel_grad_norm.mean()
            ax.plot(g.index, g.values, marker="o", label=combo)
        n = int(df["depth"].iloc[0])
        ax.set(title=f"{stack}, {n}L-{n}L at init", xlabel="layer",
               ylabel="|grad| / max over layers", yscale="log")
        ax.legend(title="encoder+decoder")
    fig.suptitle("Liu 2020 Table 1 / Fig. 3: relative gradient norm "
                 f"({df['size'].iloc[0]}, data {df['data'].iloc[0]})")
    common.save_figure(fig, out)


def main(argv=None) -> None:
    common.study_main(__doc__, run, figure, argv)


if __name__ == "__main__":
    common.run_cli(main)
