"""Hessian spectrum at initialisation, Post-LN vs Pre-LN (Zhang & Mackey 2022, a study of Xiong 2020).

Measurement: a freshly initialised 6L-6L encoder-decoder (transformer_iwslt_de_en widths:
d 512, FFN 1024, 4 heads; Xavier init as in the slides; dropout 0), the label-smoothed loss
(eps 0.1, mean over target tokens) on a fixed set of sentence pairs, and its Hessian with
respect to all parameters (embeddings included). The spectrum is estimated by stochastic
Lanczos quadrature (`studies.lanczos`): `starts` Rademacher start vectors, `steps` Lanczos
steps each with full reorthogonalisation, over exact Hessian-vector products (double
backward; attention runs on the math SDPA kernel, docs/methods.md §7). The slides used 1000 Multi30k
pairs (short captions, about 12 tokens); the synthetic pairs here have Multi30k-like lengths
of 8-16 tokens, and the scale settings below say how many pairs are used.

CSV records: "top" (the largest Ritz values: eigenvalue estimates, rank 1 = largest, with
the Ritz residual norm: an eigenvalue of H lies within `residual_bound` of each), "node"
(the quadrature nodes and weights of every start), "density" (the Gaussian-smoothed density
on a grid, width sigma = 1% of the scheme's Ritz range).

Claim hessian_postln_sharper: holds if Post-LN's largest eigenvalue exceeds Pre-LN's (the Ritz
values are the estimates; a Ritz value never exceeds the true largest eigenvalue, so Post-LN's
top Ritz value is a lower bound on its largest eigenvalue; the residual bounds say how far
the Lanczos runs are from convergence).
"""
from __future__ import annotations

import time

import pandas as pd
import torch

from studies import common
from studies import lanczos as lz

SCHEMES = ("post_ln", "pre_ln")
SIZE = "transformer_iwslt_de_en"
SETTINGS = {
    "tiny": dict(pairs=4, batch_size=4, steps=10, starts=1, depth=6),
    "small": dict(pairs=64, batch_size=16, steps=40, starts=3, depth=6),
    "paper": dict(pairs=1000, batch_size=50, steps=80, starts=5, depth=6),
}
QUICK = dict(pairs=2, batch_size=2, steps=6, starts=2, depth=1, size="translation_tiny", vocab=200)
TOP_K = 5
LENGTHS = (8, 16)  # Multi30k-like sentence lengths


def hessian_operator(model, batches: list[dict]) -> tuple[lz.MatVec, int]:
    """v -> H v for the mean loss over equal-size batches (H = mean of the batch Hessians).

    One batch: its first-order graph is kept and reused. Several: each product rebuilds each
    batch's graph (memory stays at one batch).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if len(batches) == 1:
        with common.math_attention():
            return lz.hvp_operator(common.token_loss(model, batches[0]), params)

    def matvec(v):
        total = None
        for b in batches:
            with common.math_attention():
                op, _ = lz.hvp_operator(common.token_loss(model, b), params)
                hv = op(v)
            total = hv if total is None else total + hv
        return total / len(batches)

    return matvec, sum(p.numel() for p in params)


def spectrum(size: str, scheme: str, depth: int, batches: list[dict], vocab: int, steps: int, starts: int,
             seed: int = 1) -> tuple[list[lz.Quadrature], float]:
    model = common.build_translation(size, scheme, scheme, depth, vocab, seed)
    t0 = time.time()
    with common.math_attention():
        matvec, n = hessian_operator(model, batches)
        store = torch.float32 if n > 1_000_000 else torch.float64
        quads = lz.slq(matvec, n, steps, starts, torch.Generator().manual_seed(seed), store_dtype=store)
    return quads, time.time() - t0


def run(scale: str, seeds: int | None = None, data=None, quick: bool = False) -> tuple[pd.DataFrame, list[dict]]:
    cfg = dict(SETTINGS[scale], size=SIZE, vocab=common.SYNTHETIC_VOCAB)
    if quick:
        cfg.update(QUICK)
    if cfg["pairs"] % cfg["batch_size"]:
        raise common.StudyError("pairs must be a multiple of batch_size (equal-size batches)")
    batches, vocab, label = common.load_batches(data, cfg["pairs"] // cfg["batch_size"], cfg["batch_size"],
                                                seed=0, vocab=cfg["vocab"], lengths=LENGTHS)
    rows, quads_by = [], {}
    for scheme in SCHEMES:
        quads, secs = spectrum(cfg["size"], scheme, cfg["depth"], batches, vocab, cfg["steps"], cfg["starts"])
        quads_by[scheme] = quads
        base = dict(scheme=scheme, seconds=secs)
        rows += [dict(base, record="top", rank=r, value=v, residual_bound=e) for r, (v, e) in
                 enumerate(lz.top_ritz(quads, TOP_K), start=1)]
        for s, q in enumerate(quads):
            rows += [dict(base, record="node", start=s, value=float(x), weight=float(w))
                     for x, w in zip(q.nodes, q.weights)]
        nodes = torch.cat([q.nodes for q in quads])
        lo, hi = float(nodes.min()), float(nodes.max())
        pad = 0.05 * (hi - lo) + 1e-12
        grid = torch.linspace(lo - pad, hi + pad, 400, dtype=torch.float64)
        sigma = max(0.01 * (hi - lo), 1e-12)
        rows += [dict(base, record="density", value=float(x), density=float(d), sigma=sigma)
                 for x, d in zip(grid, lz.density(quads, grid, sigma))]
    df = pd.DataFrame(rows).assign(study="hessian_spectrum", size=cfg["size"], depth=cfg["depth"], data=label,
                                   pairs=cfg["pairs"], lanczos_steps=cfg["steps"], starts=cfg["starts"],
                                   dropout=0.0, init="xavier")
    return df, [claim(df, quads_by)]


def claim(df: pd.DataFrame, quads_by: dict) -> dict:
    top = {s: df[(df["record"] == "top") & (df["scheme"] == s)].sort_values("rank")["value"].tolist() for s in SCHEMES}
    figs = {f"{s}_top": top[s] for s in SCHEMES}
    for s in SCHEMES:
        figs[f"{s}_trace_over_n"] = lz.moments(quads_by[s], 1)
        figs[f"{s}_second_moment"] = lz.moments(quads_by[s], 2)
        figs[f"{s}_min_ritz"] = min(float(q.nodes.min()) for q in quads_by[s])
        figs[f"{s}_seconds"] = float(df[df["scheme"] == s]["seconds"].iloc[0])
    for s in SCHEMES:
        t = df[(df["record"] == "top") & (df["scheme"] == s) & (df["rank"] == 1)]
        figs[f"{s}_top_residual_bound"] = float(t["residual_bound"].iloc[0])
    post, pre = top["post_ln"][0], top["pre_ln"][0]
    figs["top_ratio_post_over_pre"] = post / pre if pre else float("nan")
    detail = (f"largest Hessian eigenvalue at init: Post-LN {post:.4g} vs Pre-LN {pre:.4g} "
              f"(ratio {figs['top_ratio_post_over_pre']:.3g}); criterion Post-LN > Pre-LN")
    return common.claim("hessian_postln_sharper", common.verdict(post > pre), figs, detail)


def figure(df: pd.DataFrame, out) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for scheme in SCHEMES:
        d = df[(df["record"] == "density") & (df["scheme"] == scheme)]
        axes[0].semilogy(d["value"], d["density"].clip(lower=1e-12), label=scheme)
        t = df[(df["record"] == "top") & (df["scheme"] == scheme)]
        axes[1].plot(t["rank"], t["value"], marker="o", label=scheme)
    axes[0].set(title="SLQ spectral density (Gaussian-smoothed)", xlabel="eigenvalue", ylabel="density")
    axes[1].set(title="largest Ritz values", xlabel="rank", ylabel="eigenvalue")
    for ax in axes:
        ax.legend()
    fig.suptitle(f"Hessian at init, {int(df['depth'].iloc[0])}L-{int(df['depth'].iloc[0])}L {df['size'].iloc[0]}, "
                 f"{int(df['pairs'].iloc[0])} pairs ({df['data'].iloc[0]})")
    common.save_figure(fig, out)


def main(argv=None) -> None:
    common.study_main(__doc__, run, figure, argv, seeds=False)


if __name__ == "__main__":
    common.run_cli(main)
