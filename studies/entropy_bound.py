"""Zhai et al. 2023, Theorem 3.1: attention entropy >= a bound that decays exponentially in s.

Check (no training needed): take the self-attention heads of a translation model at d = 512
(transformer_iwslt_de_en widths, Xavier init; or the weights of a trained checkpoint with
--checkpoint) and inputs X of T tokens, compute every row's entropy of
A = softmax(scale * (X W_q + b_q)(X W_k + b_k)^T) exactly (fp64, no mask: the theorem's
setting), and compare the smallest row entropy with the bound evaluated at
s = scale * ||W_q' W_k'^T||_2 * ||X' X'^T||_2 (models.entropy.logit_spectral_scale), where
X' = [X, 1] and W' = [W; b] fold the biases in exactly.
Inputs X: Gaussian N(0, c^2) rows for several scales c (small c makes the bound non-trivial,
large c drives it to 0), and the model's own embedded source tokens (sqrt(d) E + positions),
raw and scaled to unit variance per token. T in {8, 32}.

Claim sigma_entropy_bound: holds if no instance has min row entropy < bound - 1e-9. The count
of informative instances (bound > 5% of log T) is recorded: a check where every bound is ~0
would hold trivially.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd
import torch

from studies import common

SIZE = "transformer_iwslt_de_en"
SETTINGS = {
    "tiny": dict(lengths=(8, 32), scales=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0), samples=2),
    "small": dict(lengths=(8, 32, 128), scales=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0), samples=4),
    "paper": dict(lengths=(8, 32, 128), scales=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0), samples=8),
}
QUICK = dict(lengths=(6,), scales=(0.03, 0.3), samples=1, size="translation_tiny", vocab=200)
TOL = 1e-9


def head_weights(attn) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per head (W_q', W_k') of shape (d + 1, Dh): weights transposed, bias as the last row."""
    slices = attn.weight_slices()  # effective (D, D) matrices, sigma-reparam applied
    biases = {}
    for name, parts in attn.groups:
        b = getattr(attn, name).bias
        chunks = b.chunk(len(parts)) if b is not None else [None] * len(parts)
        biases.update(dict(zip(parts, chunks)))
    out = []
    for h in range(attn.heads):
        rows = slice(h * attn.head_dim, (h + 1) * attn.head_dim)
        pair = []
        for part in ("q", "k"):
            w = slices[part][rows].detach().double().T  # (d, Dh)
            b = biases[part]
            b = torch.zeros(attn.head_dim, dtype=torch.float64) if b is None else b[rows].detach().double()
            pair.append(torch.cat([w, b[None, :]], dim=0))
        out.append(tuple(pair))
    return out


def qk_sigma(wq: torch.Tensor, wk: torch.Tensor) -> float:
    """||W_q' W_k'^T||_2 for (d+1, Dh) factors, via QR: ||A B^T|| = ||R_A R_B^T|| (a Dh x Dh problem)."""
    ra, rb = torch.linalg.qr(wq).R, torch.linalg.qr(wk).R
    return float(torch.linalg.matrix_norm(ra @ rb.T, ord=2))


def check(X: torch.Tensor, wq: torch.Tensor, wk: torch.Tensor, scale: float, sigma: float | None = None) -> dict:
    """Row entropies of one head on X against the bound at s = scale * sigma * ||X' X'^T||_2
    (models.entropy.logit_spectral_scale's formula; sigma = ||W_q' W_k'^T||_2 may be passed in
    precomputed, as it does not depend on X)."""
    from models.entropy import entropy_lower_bound, logit_spectral_scale

    T = X.shape[0]
    Xa = torch.cat([X.double(), torch.ones(T, 1, dtype=torch.float64)], dim=1)
    probs = torch.softmax(scale * (Xa @ wq) @ (Xa @ wk).T, dim=-1)
    ent = -torch.xlogy(probs, probs).sum(-1)
    if sigma is None:
        s = float(logit_spectral_scale(Xa, wq, wk, scale))
    else:
        s = scale * sigma * float(torch.linalg.matrix_norm(Xa @ Xa.T, ord=2))
    bound = float(entropy_lower_bound(s, T))
    return dict(T=T, s=s, bound=bound, min_entropy=float(ent.min()), mean_entropy=float(ent.mean()),
                log_T=math.log(T), margin=float(ent.min()) - bound)


def inputs(model, cfg: dict, gen: torch.Generator, vocab: int) -> list[tuple[str, float, torch.Tensor]]:
    d = model.size.embed_dim
    out = []
    for T in cfg["lengths"]:
        for c in cfg["scales"]:
            for _ in range(cfg["samples"]):
                out.append(("gaussian", c, c * torch.randn(T, d, generator=gen, dtype=torch.float64)))
        batch = common.synthetic_batch(1, vocab, seed=T, min_len=T - 1, max_len=T - 1)
        with torch.no_grad():
            emb = model.encoder_embed(batch["src"])[0].double()  # (T, d) incl. eos
        out.append(("embedded", 1.0, emb))
        out.append(("embedded_unit", 1.0, (emb - emb.mean(-1, keepdim=True)) / emb.std(-1, keepdim=True)))
    return out


def run(scale: str, seeds: int | None = None, data=None, quick: bool = False,
        checkpoint: Path | None = None) -> tuple[pd.DataFrame, list[dict]]:
    from models.probes import attention_modules

    cfg = dict(SETTINGS[scale], size=SIZE, vocab=common.SYNTHETIC_VOCAB)
    if quick:
        cfg.update(QUICK)
    n_seeds = common.positive("--seeds", seeds, 1)
    rows = []
    for seed in range(1, n_seeds + 1):
        model = common.build_translation(cfg["size"], "post_ln", "post_ln", 6 if not quick else 1, cfg["vocab"], seed)
        weights = "init"
        if checkpoint is not None:
            model, weights = load_checkpoint(checkpoint)
        vocab = model.encoder_embed.embed.num_embeddings
        xs = inputs(model, cfg, torch.Generator().manual_seed(seed), vocab)
        for name, attn in attention_modules(model).items():
            if attn.cross:
                continue  # Theorem 3.1 is stated for queries and keys from the same X
            for h, (wq, wk) in enumerate(head_weights(attn)):
                sigma = qk_sigma(wq, wk)
                for kind, c, X in xs:
                    rows.append(dict(layer=name, head=h, x_kind=kind, x_scale=c, seed=seed, weights=weights,
                                     **check(X, wq, wk, 1.0 / math.sqrt(attn.head_dim), sigma)))
    df = pd.DataFrame(rows).assign(study="entropy_bound", size=cfg["size"], data="synthetic_gaussian_X_and_embedded_tokens")
    return df, [claim(df)]


CHECKPOINT_FAMILY = "translation"  # the model family load_checkpoint rebuilds


def can_load(run_dir: Path) -> bool:
    """Whether run_dir has a last checkpoint of a model this study can rebuild."""
    from tasks.config import ConfigError, RunConfig
    from tasks.engine.checkpoint import LAST

    run_dir = Path(run_dir)
    if not (run_dir / "checkpoints" / LAST).is_file() or not (run_dir / "config.yaml").is_file():
        return False
    try:
        return RunConfig.load(run_dir / "config.yaml").model.family == CHECKPOINT_FAMILY
    except ConfigError:
        return False


def load_checkpoint(run_dir: Path):
    """(translation model with trained weights, label) from RUN_DIR/config.yaml and
    RUN_DIR/checkpoints/checkpoint_last.pt (the engine's layout, tasks/engine/checkpoint.py)."""
    import models
    from tasks.config import RunConfig
    from tasks.engine.checkpoint import LAST, load_checkpoint as load_state

    run_dir = Path(run_dir)
    cfg_path, ckpt = run_dir / "config.yaml", run_dir / "checkpoints" / LAST
    for f in (cfg_path, ckpt):
        if not f.is_file():
            raise common.StudyError(f"--checkpoint {run_dir}: missing {f} (expected a training run directory)")
    cfg = RunConfig.load(cfg_path).model
    if cfg.family != CHECKPOINT_FAMILY:
        raise common.StudyError(f"{cfg_path}: model family {cfg.family!r}, expected {CHECKPOINT_FAMILY}")
    state = load_state(ckpt)["model"]
    emb = [v for k, v in state.items() if k.endswith("embed.weight")]
    if not emb:
        raise common.StudyError(f"{ckpt}: no embedding weights in the model state")
    vocab = emb[0].shape[0]
    model = models.build_model("translation", cfg.size, encoder_scheme=cfg.encoder_scheme,
                               decoder_scheme=cfg.decoder_scheme, src_vocab=vocab, tgt_vocab=vocab,
                               share=cfg.share or "all", **cfg.overrides)
    model.load_state_dict(state)
    return model.eval(), f"trained:{run_dir.name}"


def claim(df: pd.DataFrame) -> dict:
    viol = df[df["margin"] < -TOL]
    informative = df[df["bound"] > 0.05 * df["log_T"]]
    figs = {"instances": len(df), "violations": len(viol), "informative": len(informative),
            "min_margin": float(df["margin"].min()),
            "min_margin_informative": float(informative["margin"].min()) if len(informative) else None,
            "min_ratio_entropy_over_bound_informative":
                float((informative["min_entropy"] / informative["bound"]).min()) if len(informative) else None,
            "s_range": [float(df["s"].min()), float(df["s"].max())]}
    ok = len(viol) == 0 and len(informative) > 0
    detail = (f"{len(df)} (layer, head, X) instances, {len(viol)} below the bound, {len(informative)} with a "
              f"non-trivial bound (> 5% of log T); smallest margin {figs['min_margin']:.3g} nats")
    return common.claim("sigma_entropy_bound", common.verdict(ok), figs, detail)


def figure(df: pd.DataFrame, out) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from models.entropy import entropy_lower_bound

    fig, axes = plt.subplots(1, len(df["T"].unique()), figsize=(5.5 * len(df["T"].unique()), 3.8), squeeze=False)
    for ax, (T, d) in zip(axes[0], df.groupby("T")):
        for kind, g in d.groupby("x_kind"):
            ax.scatter(g["s"], g["min_entropy"], s=6, alpha=0.5, label=f"min row entropy ({kind})")
        s = torch.logspace(math.log10(max(d["s"].min(), 1e-4)), math.log10(d["s"].max()), 200, dtype=torch.float64)
        ax.plot(s, entropy_lower_bound(s, int(T)), color="k", label="Theorem 3.1 bound")
        ax.set(xscale="log", title=f"T = {T}", xlabel="s = ||W_K W_Q^T|| ||X X^T||", ylabel="entropy (nats)")
        ax.legend(fontsize=7)
    fig.suptitle("Zhai 2023 Thm 3.1: self-attention heads of a translation model at d=512")
    common.save_figure(fig, out)


def main(argv=None) -> None:
    p = common.parser(__doc__.splitlines()[0], data=False)
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="a translation run directory: use its trained weights instead of init weights")
    args = p.parse_args(argv)
    out = common.check_out(args.out)
    started = time.time()
    df, cl = run(args.scale, args.seeds, None, args.quick, args.checkpoint)
    common.write_csv(df, out)
    figure(df, out)
    common.write_claims(out, cl)
    common.report(out, cl, started)


if __name__ == "__main__":
    common.run_cli(main)
