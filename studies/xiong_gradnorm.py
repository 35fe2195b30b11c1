"""Xiong et al. 2020, Fig. 3: FFN gradient norms at initialisation, Post-LN vs Pre-LN.

Measurement (docs/methods.md §6, "Figure 3 measurement"): a freshly initialised model (Xavier init,
dropout 0: the deterministic network that Theorem 1 analyses), the label-smoothed loss
(eps 0.1, mean over target tokens) on several mini-batches; each parameter's gradient is
averaged over the batches (the "expected gradient") and its Frobenius norm taken.
  by_layer      : W^1 (ffn.fc1) and W^2 (ffn.fc2) of every layer of a 6L-6L model.
  last_vs_depth : W^2 of the last encoder layer and of the last decoder layer for
                  L-L models, L in {6, 8, 10, 12, 14}.
Model: transformer_iwslt_de_en widths (d 512, FFN 1024, 4 heads), as Xiong's Sec. 3.

Claims:
  xiong_grad_by_layer: layers are numbered in forward order through the network (encoder
    1..L, then decoder L+1..2L). ratio = norm(last layer) / norm(first layer) of the mean
    curve over seeds. Holds if, for both W^1 and W^2, Post-LN's ratio >= 1.5 x Pre-LN's and
    Pre-LN's curve is roughly flat (max / min over layers <= 2).
  xiong_grad_last_vs_depth: slope of log(norm) against log(L) of the network's last FFN
    (decoder W^2). Holds if |Post-LN slope| < 0.2 and Pre-LN slope < -0.25 (Thm 1: O(1) vs
    O(1/sqrt(L))). The encoder's slopes are recorded beside it.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import torch

from studies import common
from studies.numerics import expected_gradient, loglog_slope

SCHEMES = ("post_ln", "pre_ln")
SIZE = "transformer_iwslt_de_en"
# per scale: seeds, mini-batches, sentence pairs per batch, depths of the sweep
SETTINGS = {
    "tiny": dict(seeds=10, batches=2, batch_size=4, depths=(6, 8, 10, 12, 14)),
    "small": dict(seeds=10, batches=4, batch_size=8, depths=(6, 8, 10, 12, 14)),
    "paper": dict(seeds=10, batches=16, batch_size=32, depths=(6, 8, 10, 12, 14)),
}
QUICK = dict(seeds=2, batches=2, batch_size=2, depths=(2, 3), size="translation_tiny", vocab=200)


def ffn_weights(model) -> list[tuple[str, int, str, torch.Tensor]]:
    """(stack, layer 1-based, "W1"|"W2", weight) for every FFN of encoder and decoder."""
    out = []
    for stack_name, stack in model.stacks().items():
        for i, layer in enumerate(stack.layers, start=1):
            fc1, fc2 = common.ffn_linears(layer)
            out += [(stack_name, i, "W1", fc1.weight), (stack_name, i, "W2", fc2.weight)]
    return out


def measure(size: str, scheme: str, depth: int, seed: int, batches: list[dict], vocab: int,
            last_only: bool) -> list[dict]:
    model = common.build_translation(size, scheme, scheme, depth, vocab, seed)
    targets = ffn_weights(model)
    if last_only:
        targets = [t for t in targets if t[1] == depth and t[2] == "W2"]
    grads = expected_gradient(lambda b: common.token_loss(model, b), batches, [t[3] for t in targets])
    return [dict(scheme=scheme, stack=s, layer=i, weight=w, depth=depth, seed=seed,
                 grad_norm=float(g.norm())) for (s, i, w, _), g in zip(targets, grads)]


def run(scale: str, seeds: int | None = None, data=None, quick: bool = False) -> tuple[pd.DataFrame, list[dict]]:
    cfg = dict(SETTINGS[scale], size=SIZE, vocab=common.SYNTHETIC_VOCAB)
    if quick:
        cfg.update(QUICK)
    n_seeds = common.positive("--seeds", seeds, cfg["seeds"])
    batches, vocab, label = common.load_batches(data, cfg["batches"], cfg["batch_size"], seed=0, vocab=cfg["vocab"])
    base = cfg["depths"][0]
    rows = []
    for scheme in SCHEMES:
        for seed in range(1, n_seeds + 1):
            rows += [dict(r, part="by_layer") for r in measure(cfg["size"], scheme, base, seed, batches, vocab, False)]
            for depth in cfg["depths"][1:]:
                rows += [dict(r, part="last_vs_depth")
                         for r in measure(cfg["size"], scheme, depth, seed, batches, vocab, True)]
    df = pd.DataFrame(rows)
    # the base depth's last layer belongs to the depth sweep too (same seeds, same data)
    last = df[(df["part"] == "by_layer") & (df["layer"] == base) & (df["weight"] == "W2")].assign(part="last_vs_depth")
    df = pd.concat([df, last], ignore_index=True)
    df = df.assign(study="xiong_gradnorm", size=cfg["size"], data=label, batches=len(batches),
                   batch_size=cfg["batch_size"], seeds=n_seeds, dropout=0.0, init="xavier",
                   note="" if n_seeds >= 10 else f"{n_seeds} seeds (10 in the paper) to fit the {scale} budget")
    return df, claims(df, base)


def network_curve(df: pd.DataFrame, scheme: str, weight: str, depth: int) -> np.ndarray:
    """Mean over seeds of the norm per layer in forward order (encoder then decoder)."""
    d = df[(df["part"] == "by_layer") & (df["scheme"] == scheme) & (df["weight"] == weight)]
    m = d.groupby(["stack", "layer"]).grad_norm.mean()
    return np.array([m[("encoder", i)] for i in range(1, depth + 1)] + [m[("decoder", i)] for i in range(1, depth + 1)])


def depth_slopes(df: pd.DataFrame) -> dict:
    d = df[df["part"] == "last_vs_depth"].groupby(["scheme", "stack", "depth"]).grad_norm.mean()
    out = {}
    for scheme in SCHEMES:
        for stack in ("encoder", "decoder"):
            s = d[(scheme, stack)]
            out[f"{scheme}_{stack}"] = {"depths": list(map(int, s.index)), "norms": s.tolist(),
                                        "slope": loglog_slope(s.index, s.values)}
    return out


def claims(df: pd.DataFrame, depth: int) -> list[dict]:
    figs, ok = {}, True
    for w in ("W1", "W2"):
        post, pre = network_curve(df, "post_ln", w, depth), network_curve(df, "pre_ln", w, depth)
        r_post, r_pre, flat = post[-1] / post[0], pre[-1] / pre[0], pre.max() / pre.min()
        figs[w] = {"post_ln_last_over_first": r_post, "pre_ln_last_over_first": r_pre,
                   "pre_ln_max_over_min": flat, "post_ln_curve": post.tolist(), "pre_ln_curve": pre.tolist()}
        ok &= bool(r_post >= 1.5 * r_pre and flat <= 2.0)
    c1 = common.claim("xiong_grad_by_layer", common.verdict(ok), figs,
                      f"last/first-layer ratio (network order, {2 * depth} FFNs): W2 Post-LN "
                      f"{figs['W2']['post_ln_last_over_first']:.2f} vs Pre-LN {figs['W2']['pre_ln_last_over_first']:.2f}"
                      f" (W1 {figs['W1']['post_ln_last_over_first']:.2f} vs {figs['W1']['pre_ln_last_over_first']:.2f});"
                      f" criterion post >= 1.5x pre and Pre-LN max/min <= 2")
    sl = depth_slopes(df)
    post_s, pre_s = sl["post_ln_decoder"]["slope"], sl["pre_ln_decoder"]["slope"]
    ok2 = abs(post_s) < 0.2 and pre_s < -0.25
    c2 = common.claim("xiong_grad_last_vs_depth", common.verdict(ok2), sl,
                      f"slope of log|grad W2_last| vs log L (decoder): Post-LN {post_s:.3f}, Pre-LN {pre_s:.3f} "
                      f"(encoder {sl['post_ln_encoder']['slope']:.3f} / {sl['pre_ln_encoder']['slope']:.3f}); "
                      f"criterion |post| < 0.2 and pre < -0.25")
    return [c1, c2]


def figure(df: pd.DataFrame, out) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    by = df[df["part"] == "by_layer"].copy()
    depth = int(by["depth"].iloc[0])
    by["index"] = by["layer"] + np.where(by["stack"] == "decoder", depth, 0)
    for ax, w in zip(axes[:2], ("W1", "W2")):
        for scheme in SCHEMES:
            g = by[(by["scheme"] == scheme) & (by["weight"] == w)].groupby("index").grad_norm
            ax.errorbar(g.mean().index, g.mean().values, yerr=g.std().fillna(0).values, marker="o", capsize=2, label=scheme)
        ax.axvline(depth + 0.5, color="grey", lw=0.5)
        ax.set(title=f"{w} at init (enc 1-{depth}, dec {depth + 1}-{2 * depth})", xlabel="layer", ylabel="|E[grad]|_F")
        ax.legend()
    lv = df[df["part"] == "last_vs_depth"]
    for ax, stack in zip(axes[2:], ("encoder", "decoder")):
        for scheme in SCHEMES:
            g = lv[(lv["scheme"] == scheme) & (lv["stack"] == stack)].groupby("depth").grad_norm
            ax.errorbar(g.mean().index, g.mean().values, yerr=g.std().fillna(0).values, marker="o", capsize=2, label=scheme)
        ax.set(title=f"last {stack} W2 vs depth", xlabel="layers L (L-L model)", ylabel="|E[grad]|_F")
        ax.legend()
    fig.suptitle(f"Xiong 2020 Fig. 3 at init ({df['size'].iloc[0]}, {df['seeds'].iloc[0]} seeds, data {df['data'].iloc[0]})")
    common.save_figure(fig, out)


def main(argv=None) -> None:
    common.study_main(__doc__, run, figure, argv)


if __name__ == "__main__":
    common.run_cli(main)
