"""Liu et al. 2020, Fig. 5: gradients are unbalanced across parameters, Adam's updates are not.

Per logged update t and parameter tensor i: relative gradient norm |g_i^t| / max_j |g_j^t| and
relative update norm |w_i^{t+1} - w_i^t| / max_j |w_j^{t+1} - w_j^t|.
Sources, in order of preference:
  --runs DIR... : the probe records of training runs' metrics.jsonl that carry both
                 "grad_norms" and "update_norms" (engine probes with grad_norms/update_norms on);
                 the workflow passes the table's study_runs;
  without runs, a short training loop of its own: a freshly initialised Post-LN 6L-6L model
              (transformer_iwslt_de_en widths, Xavier init, dropout 0), torch.optim.Adam
              (lr 1e-4 constant, betas (0.9, 0.98)), label-smoothed loss, fresh batches each
              update (prepared data with --data, else synthetic), every update logged.

Claim admin_unbalanced_grads: spread = std of log10(relative norm) over the parameters with a
non-zero norm, per update, averaged over updates. Holds if the updates' spread is at most half
the gradients' spread. The log10 ranges are recorded too.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from models.scheme import get_scheme

from catalog.runs import read_metrics
from studies import common
from studies.numerics import log_spread, relative_norms

SIZE = "transformer_iwslt_de_en"
LR, BETAS = 1e-4, (0.9, 0.98)
SETTINGS = {
    "tiny": dict(steps=6, batch_size=4, depth=6, schemes=("post_ln",)),
    "small": dict(steps=100, batch_size=16, depth=6, schemes=("post_ln", "pre_ln", "admin")),
    "paper": dict(steps=500, batch_size=64, depth=18, schemes=("post_ln", "pre_ln", "admin")),
}
QUICK = dict(steps=3, batch_size=2, depth=1, size="translation_tiny", vocab=200, schemes=("post_ln",))


def read_run(run_dir: Path) -> tuple[list[dict], str]:
    """[{step, grad_norms, update_norms}] from RUN_DIR/metrics.jsonl."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise common.StudyError(f"--run {run_dir}: no metrics.jsonl (expected a training run directory)")
    out = []
    try:
        records = read_metrics(path)
    except ValueError as e:
        raise common.StudyError(str(e)) from None
    for n, rec in enumerate(records, start=1):
        if isinstance(rec, dict) and isinstance(rec.get("grad_norms"), dict) and isinstance(rec.get("update_norms"), dict):
            out.append({"step": rec.get("step", n), "grad_norms": rec["grad_norms"], "update_norms": rec["update_norms"]})
    if not out:
        raise common.StudyError(f"{path}: no record holds both 'grad_norms' and 'update_norms'; train with "
                                "probes.grad_norms and probes.update_norms on (and probes.every > 0)")
    return out, f"run:{Path(run_dir).name}"


def own_loop(cfg: dict, scheme: str, data, seed: int = 1) -> tuple[list[dict], str]:
    """A short Adam run from initialisation, logging per-parameter norms at every update."""
    batches, vocab, label = common.load_batches(data, cfg["steps"], cfg["batch_size"], seed=seed, vocab=cfg["vocab"])
    model = common.build_translation(cfg["size"], scheme, scheme, cfg["depth"], vocab, seed)
    if get_scheme(scheme).admin_omega:
        from studies.admin_output_change import profile_admin

        profile_admin(model, batches[0])
    model.train()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.Adam([p for _, p in named], lr=LR, betas=BETAS, eps=1e-8)
    records = []
    for step, batch in enumerate(batches, start=1):
        opt.zero_grad(set_to_none=True)
        loss = common.token_loss(model, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at update {step}")
        loss.backward()
        grads = {n: float(p.grad.norm()) if p.grad is not None else 0.0 for n, p in named}
        before = {n: p.detach().clone() for n, p in named}
        opt.step()
        upd = {n: float((p.detach() - before[n]).norm()) for n, p in named}
        records.append({"step": step, "grad_norms": grads, "update_norms": upd, "loss": float(loss.detach())})
    return records, label


def tidy(records: list[dict], source: str, scheme: str) -> pd.DataFrame:
    rows = []
    for rec in records:
        g = {k: _num(v) for k, v in rec["grad_norms"].items()}
        u = {k: _num(v) for k, v in rec["update_norms"].items()}
        keys = [k for k in g if k in u and math.isfinite(g[k]) and math.isfinite(u[k])]
        if not keys or max(g[k] for k in keys) == 0 or max(u[k] for k in keys) == 0:
            continue
        rg, ru = relative_norms({k: g[k] for k in keys}), relative_norms({k: u[k] for k in keys})
        rows += [dict(scheme=scheme, step=rec["step"], param=k, grad_norm=g[k], update_norm=u[k],
                      rel_grad_norm=rg[k], rel_update_norm=ru[k]) for k in keys]
    if not rows:
        raise common.StudyError(f"{source}: no update with finite, non-zero gradient and update norms")
    return pd.DataFrame(rows).assign(source=source)


def _num(v) -> float:
    try:
        return float(v)  # the engine writes non-finite values as "nan" / "inf"
    except (TypeError, ValueError):
        return float("nan")


def run(scale: str, seeds: int | None = None, data=None, quick: bool = False,
        run_dir: Path | list[Path] | None = None) -> tuple[pd.DataFrame, list[dict]]:
    cfg = dict(SETTINGS[scale], size=SIZE, vocab=common.SYNTHETIC_VOCAB)
    if quick:
        cfg.update(QUICK)
    run_dirs = [run_dir] if isinstance(run_dir, (str, Path)) else list(run_dir or [])
    if run_dirs:
        parts = []
        for d in run_dirs:
            records, source = read_run(d)
            scheme = Path(d).parts[-3] if len(Path(d).parts) >= 3 else "from_run"
            parts.append(tidy(records, source, scheme))
        df = pd.concat(parts, ignore_index=True)
    else:
        parts = []
        for scheme in cfg["schemes"]:
            records, label = own_loop(cfg, scheme, data)
            parts.append(tidy(records, f"own_loop:{label}", scheme))
        df = pd.concat(parts, ignore_index=True).assign(size=cfg["size"], depth=cfg["depth"], lr=LR,
                                                         optimizer="adam", batch_size=cfg["batch_size"])
    df = df.assign(study="admin_relative_norms")
    return df, [claim(df)]


def spreads(df: pd.DataFrame) -> dict:
    out = {}
    for scheme, d in df.groupby("scheme", sort=False):
        per_step = [(log_spread(g["rel_grad_norm"]), log_spread(g["rel_update_norm"])) for _, g in d.groupby("step")]
        out[scheme] = {"grad_log10_std": float(np.mean([a["log10_std"] for a, _ in per_step])),
                       "update_log10_std": float(np.mean([b["log10_std"] for _, b in per_step])),
                       "grad_log10_range": float(np.mean([a["log10_range"] for a, _ in per_step])),
                       "update_log10_range": float(np.mean([b["log10_range"] for _, b in per_step])),
                       "updates": len(per_step), "parameters": int(d.groupby("step").size().max())}
    return out


def claim(df: pd.DataFrame) -> dict:
    figs = spreads(df)
    ok = all(f["update_log10_std"] <= 0.5 * f["grad_log10_std"] for f in figs.values())
    detail = "; ".join(f"{s}: std log10 rel. grad {f['grad_log10_std']:.2f} vs update {f['update_log10_std']:.2f} "
                       f"(ranges {f['grad_log10_range']:.2f} vs {f['update_log10_range']:.2f} decades, "
                       f"{f['updates']} updates)" for s, f in figs.items()) + "; criterion update <= 0.5 x grad"
    return common.claim("admin_unbalanced_grads", common.verdict(ok), figs, detail)


def figure(df: pd.DataFrame, out) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, col, what in zip(axes, ("rel_grad_norm", "rel_update_norm"), ("gradient", "update")):
        for scheme, d in df.groupby("scheme", sort=False):
            v = np.log10(d[col][d[col] > 0])
            ax.hist(v, bins=40, alpha=0.6, label=scheme)
        ax.set(title=f"relative {what} norm per parameter", xlabel=f"log10 |{what}_i| / max_j |{what}_j|",
               ylabel="count (parameters x updates)")
        ax.legend()
    fig.suptitle(f"Liu 2020 Fig. 5 ({df['source'].iloc[0]})")
    common.save_figure(fig, out)


def main(argv=None) -> None:
    p = common.parser(__doc__.splitlines()[0], seeds=False, runs=True)
    args = p.parse_args(argv)
    out = common.check_out(args.out)
    started = time.time()
    runs = args.runs or []
    print(f"{len(runs)} training runs" + ("" if runs else "; running a short Adam loop of its own"))
    df, cl = run(args.scale, None, args.data, args.quick, runs)
    common.write_csv(df, out)
    figure(df, out)
    common.write_claims(out, cl)
    common.report(out, cl, started)


if __name__ == "__main__":
    common.run_cli(main)
