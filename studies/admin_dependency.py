"""Liu et al. 2020, Sec. 4: how much each layer depends on its own residual branch (beta_ii).

Measurement: models.probes.residual_dependency on one forward pass of a fixed batch gives,
per stack, beta_{i,j} = the weight of branch output a_j in the normalised output of sublayer i
(branch 0 = the embedded input; LayerNorms folded in as divisions by the std of their input;
for Pre-LN, beta_{i,j} = Std[a_j] / Std[sum_{k<=i} a_k]). beta_ii is the dependency of
sublayer i on its own branch. Models: N-N encoder-decoders, N in {6, 18}
(transformer_wmt_en_de widths: d 512, FFN 2048, 8 heads; Xavier init; dropout 0), Post-LN,
Pre-LN and Admin (omega profiled on the same batch).

Liu compares *trained* models; this study measures at initialisation (and at tiny scale that
is all it measures). At init Post-LN's beta_ii^2 stays near Var[a_i] / (Var[x] + Var[a_i]),
while Pre-LN's decays like 1/i: the claim's direction is the same.

Claim admin_dependency: holds if the mean beta_ii over the sublayers of each stack (encoder and
decoder) at every depth is larger for Post-LN than for Pre-LN. Admin's values are recorded
(Liu: Admin keeps beta_ii^2 near 1/i at init, like Pre-LN).
"""
from __future__ import annotations


import pandas as pd
import torch

from models.scheme import get_scheme

from studies import common

SCHEMES = ("post_ln", "pre_ln", "admin")
SIZE = "transformer_wmt_en_de"
SETTINGS = {
    "tiny": dict(seeds=1, batch_size=4, depths=(6, 18)),
    "small": dict(seeds=3, batch_size=16, depths=(6, 12, 18)),
    "paper": dict(seeds=5, batch_size=32, depths=(6, 12, 18, 24)),
}
QUICK = dict(seeds=1, batch_size=2, depths=(2,), size="translation_tiny", vocab=200)


def dependency(size: str, scheme: str, depth: int, seed: int, batch: dict, vocab: int) -> list[dict]:
    from models.probes import residual_dependency

    model = common.build_translation(size, scheme, scheme, depth, vocab, seed)
    if get_scheme(scheme).admin_omega:
        from studies.admin_output_change import profile_admin

        profile_admin(model, batch)
    beta = residual_dependency(model, lambda: model(batch["src"], batch["prev"]))
    rows = []
    for stack, b in beta.items():
        b = torch.as_tensor(b, dtype=torch.float64)
        n = b.shape[0]
        if b.shape != (n, n + 1):
            raise common.StudyError(f"residual_dependency gave a {tuple(b.shape)} matrix for the {stack}, "
                                    f"expected (N, N+1) over sublayers and branches")
        rows += [dict(scheme=scheme, depth=depth, seed=seed, stack=stack, sublayer=i, beta_ii=float(b[i - 1, i]),
                      beta_input=float(b[i - 1, 0])) for i in range(1, n + 1)]
    return rows


def run(scale: str, seeds: int | None = None, data=None, quick: bool = False) -> tuple[pd.DataFrame, list[dict]]:
    cfg, n_seeds, batch, vocab, label = common.setup(scale, SETTINGS, QUICK, SIZE, seeds, data, quick)
    rows = [r for scheme in SCHEMES for depth in cfg["depths"] for seed in range(1, n_seeds + 1)
            for r in dependency(cfg["size"], scheme, depth, seed, batch, vocab)]
    df = pd.DataFrame(rows).assign(study="admin_dependency", size=cfg["size"], data=label, seeds=n_seeds,
                                   batch_size=cfg["batch_size"], measured_at="init", dropout=0.0, init="xavier")
    return df, [claim(df)]


def claim(df: pd.DataFrame) -> dict:
    m = df.groupby(["depth", "stack", "scheme"])["beta_ii"].mean()
    figs, ok = {}, True
    for depth in sorted(df["depth"].unique()):
        for stack in ("encoder", "decoder"):
            vals = {s: float(m[(depth, stack, s)]) for s in SCHEMES}
            figs[f"{stack}_{depth}L_mean_beta_ii"] = vals
            ok &= vals["post_ln"] > vals["pre_ln"]
    last = max(df["depth"])
    e, d = figs[f"encoder_{last}L_mean_beta_ii"], figs[f"decoder_{last}L_mean_beta_ii"]
    detail = (f"mean beta_ii at init, {last}L: encoder Post-LN {e['post_ln']:.3f} / Pre-LN {e['pre_ln']:.3f} / "
              f"Admin {e['admin']:.3f}; decoder {d['post_ln']:.3f} / {d['pre_ln']:.3f} / {d['admin']:.3f} "
              "(measured at initialisation; Liu compares trained models)")
    return common.claim("admin_dependency", common.verdict(ok), figs, detail)


def figure(df: pd.DataFrame, out) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    last = max(df["depth"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, stack in zip(axes, ("encoder", "decoder")):
        for scheme in SCHEMES:
            g = df[(df["depth"] == last) & (df["stack"] == stack) & (df["scheme"] == scheme)].groupby("sublayer")
            ax.plot(g["beta_ii"].mean().index, g["beta_ii"].mean().values ** 2, marker=".", label=scheme)
        ax.set(title=f"{stack}, {last}L-{last}L at init", xlabel="residual sublayer i", ylabel="beta_ii^2",
               yscale="log")
        ax.legend()
    fig.suptitle(f"Liu 2020 Sec. 4: dependency on the own branch ({df['size'].iloc[0]}, data {df['data'].iloc[0]})")
    common.save_figure(fig, out)


def main(argv=None) -> None:
    common.study_main(__doc__, run, figure, argv)


if __name__ == "__main__":
    common.run_cli(main)
