"""Zhai et al. 2023, Fig. 1 and Sec. 3: attention entropy, loss and spectral norms over training.

Reads the run directories of the sigma_entropy table (`--runs DIR...`, passed by the workflow:
the table's study_runs), each holding
config.yaml (scheme, variant, lr, warm-up), metrics.jsonl (train records with "loss"; probe
records with "entropy" {layer: per-head entropy}, "spectral" {module: ||W||_2 of the
effective weight}) and status.json. Draws, per variant, the loss curves, the per-layer
attention entropy (mean over heads) and the mean spectral norm, for every scheme.

Claims (a baseline scheme B is paired with "sigma_reparam_B" if present, else "sigma_reparam"):
  sigma_entropy_collapse: at the variant with the highest learning rate that both ran, the
    baseline's minimum entropy over layers and probe steps is < 0.5 x the sigma-reparam
    run's, and the baseline's final loss is higher or it diverged. Holds if true for every pair.
  sigma_spectral_growth: growth = geometric mean over weight matrices of
    ||W||_2 (last probe) / ||W||_2 (first probe). Holds if the baseline's growth exceeds
    the sigma-reparam run's at every variant both ran.
  sigma_entropy_bound: runs do not log ||X X^T||_2 of each layer's input, so the bound is
    checked as `studies.entropy_bound` does: the self-attention heads of a d = 512 model at
    init, and of every run's last checkpoint when it has one, on Gaussian and embedded X
    (rows with part = "bound_check" in the CSV). It needs no training, so the tiny default run
    always gives it a verdict.
A training claim with no run to judge it is "not_run".
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from studies import common
from catalog.runid import RunId, RunIdError
from catalog.runs import RunRecord, read_metrics


def load_run(run_dir: Path) -> tuple[dict, pd.DataFrame]:
    """(info {run, scheme, variant, lr, warmup, status}, tidy rows of loss/entropy/spectral)."""
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        raise common.StudyError(f"--runs {run_dir}: no metrics.jsonl (expected a training run directory)")
    try:
        rid = RunId.from_dir(run_dir)
        named = {"scheme": rid.scheme, "variant": rid.variant}
    except RunIdError:
        named = {"scheme": "?", "variant": "?"}
    info = {"run": str(run_dir), **named, "lr": float("nan"),
            "warmup": float("nan"), "status": "unknown"}
    if (run_dir / "config.yaml").is_file():
        from tasks.config import RunConfig

        cfg = RunConfig.load(run_dir / "config.yaml")
        rid = RunId.parse(cfg.run_id)
        info.update(scheme=rid.scheme, variant=rid.variant, lr=cfg.optim.lr, warmup=cfg.schedule.warmup_updates)
    status = RunRecord(None, run_dir, strict=False).status
    if status:
        info["status"] = status.get("status", "unknown")
    rows = []
    try:
        records = read_metrics(metrics)
    except ValueError as e:
        raise common.StudyError(str(e)) from None
    for rec in records:
        step = rec.get("step", 0)
        if rec.get("kind") == "train" and "loss" in rec:
            rows.append(dict(step=step, metric="loss", layer="", head=-1, value=_num(rec["loss"])))
        for layer, heads in (rec.get("entropy") or {}).items():
            heads = heads if isinstance(heads, list) else [heads]
            rows += [dict(step=step, metric="entropy", layer=layer, head=h, value=_num(v)) for h, v in enumerate(heads)]
        for module, v in (rec.get("spectral") or {}).items():
            rows.append(dict(step=step, metric="spectral", layer=module, head=-1, value=_num(v)))
    df = pd.DataFrame(rows, columns=["step", "metric", "layer", "head", "value"])
    return info, df.assign(**{k: v for k, v in info.items()})


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def pairs(schemes: set[str]) -> list[tuple[str, str]]:
    out = []
    for b in sorted(s for s in schemes if not s.startswith("sigma_reparam")):
        s = f"sigma_reparam_{b}" if f"sigma_reparam_{b}" in schemes else "sigma_reparam"
        if s in schemes:
            out.append((b, s))
    return out


def min_entropy(d: pd.DataFrame) -> float:
    e = d[d["metric"] == "entropy"].groupby(["step", "layer"])["value"].mean()
    return float(e.min()) if len(e) else float("nan")


def final_loss(d: pd.DataFrame) -> float:
    loss = d[d["metric"] == "loss"].sort_values("step")["value"]
    return float(loss.iloc[-1]) if len(loss) else float("nan")


def spectral_growth(d: pd.DataFrame) -> float:
    s = d[d["metric"] == "spectral"]
    if s.empty or s["step"].nunique() < 2:
        return float("nan")
    first, last = s[s["step"] == s["step"].min()], s[s["step"] == s["step"].max()]
    r = pd.merge(first, last, on="layer")
    r = r[(r["value_x"] > 0) & (r["value_y"] > 0)]
    return float(np.exp(np.log(r["value_y"] / r["value_x"]).mean())) if len(r) else float("nan")


def bound_check(scale: str, run_dirs: list[Path], quick: bool) -> tuple[pd.DataFrame, dict]:
    """Theorem 3.1 on init weights and on each run's last checkpoint (studies.entropy_bound)."""
    from studies import entropy_bound

    frames = [entropy_bound.run(scale, quick=quick)[0]]
    for d in run_dirs:  # trained weights of the runs whose model the bound check can rebuild
        if entropy_bound.can_load(Path(d)):
            frames.append(entropy_bound.run(scale, quick=quick, checkpoint=Path(d))[0])
    df = pd.concat(frames, ignore_index=True)
    return df.assign(part="bound_check"), entropy_bound.claim(df)


def claims(df: pd.DataFrame, bound: dict) -> list[dict]:
    if df.empty:
        return [common.claim(c, "not_run", {}, "no training records (loss, entropy, spectral norms) in the runs given")
                for c in ("sigma_entropy_collapse", "sigma_spectral_growth")] + [bound]
    runs = {key: d for key, d in df.groupby(["scheme", "variant"])}
    prs = pairs(set(df["scheme"]))
    collapse, growth = {}, {}
    for b, s in prs:
        common_variants = [v for (sch, v) in runs if sch == b and (s, v) in runs]
        if not common_variants:
            continue
        lr = {v: float(runs[(b, v)]["lr"].iloc[0]) for v in common_variants}
        hi = max(common_variants, key=lambda v: (np.nan_to_num(lr[v], nan=-1.0), v))
        db, ds = runs[(b, hi)], runs[(s, hi)]
        fb, fs = final_loss(db), final_loss(ds)
        diverged = db["status"].iloc[0] == "diverged"
        eb, es = min_entropy(db), min_entropy(ds)
        collapse[f"{b}_vs_{s}@{hi}"] = {"baseline_min_entropy": eb, "sigma_min_entropy": es, "baseline_final_loss": fb,
                                        "sigma_final_loss": fs, "baseline_diverged": diverged, "lr": lr[hi],
                                        "ok": bool(eb < 0.5 * es and (diverged or fb > fs))}
        for v in common_variants:
            gb, gs = spectral_growth(runs[(b, v)]), spectral_growth(runs[(s, v)])
            growth[f"{b}_vs_{s}@{v}"] = {"baseline_growth": gb, "sigma_growth": gs, "ok": bool(gb > gs)}
    out = []
    for cid, figs, what in (("sigma_entropy_collapse", collapse, "min entropy baseline < 0.5 x sigma and loss worse"),
                            ("sigma_spectral_growth", growth, "baseline spectral growth > sigma's")):
        if not figs:
            out.append(common.claim(cid, "not_run", {}, "no baseline / sigma-reparam pair with a common variant"))
            continue
        ok = all(f["ok"] for f in figs.values())
        detail = f"{what}: " + "; ".join(f"{k} {'ok' if f['ok'] else 'no'}" for k, f in figs.items())
        out.append(common.claim(cid, common.verdict(ok), figs, detail))
    return out + [bound]


def run(run_dirs: list[Path], scale: str = "tiny", quick: bool = False,
        check_bound: bool = True) -> tuple[pd.DataFrame, list[dict]]:
    frames = [load_run(Path(d))[1] for d in run_dirs]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["step", "metric", "layer", "head", "value", "run", "scheme", "variant", "lr", "warmup", "status"])
    df = df.assign(part="training")
    if check_bound:
        bdf, bound = bound_check(scale, run_dirs, quick)
    else:
        bdf, bound = pd.DataFrame(), common.claim("sigma_entropy_bound", "not_run", {}, "bound check skipped")
    out = pd.concat([df, bdf], ignore_index=True) if len(bdf) else df
    return out.assign(study="sigma_entropy"), claims(df, bound)


def figure(df: pd.DataFrame, out) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = sorted(df["variant"].unique()) if not df.empty else []
    fig, axes = plt.subplots(max(len(variants), 1), 3, figsize=(15, 3.2 * max(len(variants), 1)), squeeze=False)
    if not variants:
        axes[0][0].text(0.5, 0.5, "no runs given", ha="center")
    for row, v in zip(axes, variants):
        for scheme, d in df[df["variant"] == v].groupby("scheme"):
            loss = d[d["metric"] == "loss"]
            row[0].plot(loss["step"], loss["value"], label=scheme)
            ent = d[d["metric"] == "entropy"].groupby(["layer", "step"])["value"].mean().reset_index()
            for i, (layer, e) in enumerate(ent.groupby("layer")):
                row[1].plot(e["step"], e["value"], lw=0.8, color=f"C{sorted(df['scheme'].unique()).index(scheme)}",
                            alpha=0.6, label=scheme if i == 0 else None)
            sp = d[d["metric"] == "spectral"].groupby("step")["value"].mean()
            row[2].plot(sp.index, sp.values, label=scheme)
        row[0].set(title=f"{v}: training loss", xlabel="update")
        row[1].set(title=f"{v}: attention entropy per layer (mean over heads)", xlabel="update", ylabel="nats")
        row[2].set(title=f"{v}: mean spectral norm of the weights", xlabel="update")
        for ax in row:
            ax.legend(fontsize=7)
    fig.suptitle("Zhai 2023 Fig. 1: entropy collapse and spectral norms")
    common.save_figure(fig, out)


def main(argv=None) -> None:
    p = common.parser(__doc__.splitlines()[0], data=False, seeds=False, runs=True)
    args = p.parse_args(argv)
    out = common.check_out(args.out)
    started = time.time()
    runs = args.runs or []
    print(f"{len(runs)} training runs")
    df, cl = run(runs, args.scale, args.quick)
    common.write_csv(df, out)
    figure(df[df["part"] == "training"], out)
    common.write_claims(out, cl)
    common.report(out, cl, started)


if __name__ == "__main__":
    common.run_cli(main)
