"""What a target still costs: the runs it needs that are not finished, and their GPU-hours.

    python -m aggregate.estimate admin_table2 --scale paper            # GPU-hours on an A100 (default)
    python -m aggregate.estimate all --scale small --gpu h100 --results results

For every training run of the target (its tables' `runs` and `study_runs`): the resolved run
config (`tasks.resolve.resolve`) gives the update count — `train.max_updates`, or the epochs
(`train.max_epochs` x the dataset's units per epoch / units per update) when they end the run
first — and the units per update (the task's per-GPU batch size, e.g. `batching.max_tokens`, x
`train.update_freq` per GPU x the run's GPUs (`tasks.registry.run_gpus`) x `batch_fill`).
Units per second on the device: a measured figure from config/estimate.yaml scaled by the
model's training FLOPs per unit, or the device's peak FLOP/s x `mfu` / FLOPs per unit
("extrapolated"); either way the row says which. FLOPs per unit = 6 x parameters (counted on
the meta device, no memory) x positions per unit x the scheme's relative cost.
A run with status.json is finished and left out; a run with a metrics.jsonl counts only the
updates it has left. GPU-hours count every GPU of a run (perfect scaling over them); wall hours
divide by them.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from catalog import config as catalog
from catalog.config import CONFIG_DIR, CatalogError, load_yaml
from catalog.experiment import run_ids
from catalog.runs import RunRecord
from catalog.words import SCALES
from experiments.registry import ids as table_ids
from experiments.registry import spec as load_table
from tasks.resolve import resolve
from catalog.runid import RunId

CONFIG = CONFIG_DIR / "estimate.yaml"


class EstimateError(ValueError):
    """Missing or malformed estimate input; the message names the file and key."""


@dataclass
class RunCost:
    run_id: str
    updates: int  # updates left to train
    units: float  # units (tokens, images) left
    units_per_s: float
    source: str  # "measured ..." or "extrapolated ..."
    gpus: int
    done: str  # "not started" or "k of n updates"

    @property
    def gpu_hours(self) -> float:
        return self.units / self.units_per_s / 3600.0


def load_config(path: Path = CONFIG) -> dict:
    cfg = load_yaml(Path(path))
    for key in ("flops_per_param_per_position", "batch_fill", "mfu", "devices", "tasks", "datasets"):
        if key not in cfg:
            raise EstimateError(f"{path}: missing key {key!r}")
    return cfg


def target_runs(target: str, scale: str, seeds=None) -> list[str]:
    """Training runs of a target: one table id, or `all`."""
    tables = table_ids() if target == "all" else [target]
    out: list[str] = []
    for t in tables:
        try:
            spec = load_table(t)
        except CatalogError as e:
            raise EstimateError(f"{e} (or `all`)") from None
        for key in ("runs", "study_runs"):
            out += [r for r in run_ids(spec, scale, seeds, key) if r not in out]
    return out


def _section(cfg: dict, key: str, name: str, where: str) -> dict:
    try:
        return cfg[key][name]
    except (KeyError, TypeError):
        raise EstimateError(f"{CONFIG}: no {key}.{name} entry ({where}); expected one per {key[:-1]}") from None


def count_params(task: str, model: dict, kwargs: dict) -> int:
    """Parameters of the run's model, built on the meta device (shapes only, no memory)."""
    import torch

    from models import build_model
    from models.scheme import get_scheme

    def build(enc: str, dec: str | None):
        with torch.device("meta"):
            net = build_model(model["family"], model["size"], encoder_scheme=enc, decoder_scheme=dec,
                              share=model.get("share", "all"), **kwargs, **(model.get("overrides") or {}))
        return sum(p.numel() for p in net.parameters())

    def plain(name: str | None) -> str | None:
        # sigma-reparam's construction-time SVD needs real values; its extra parameters are one
        # scalar per matrix, so the same stack without it has the same count to < 1e-5.
        if name is None:
            return None
        s = get_scheme(name)
        return name if not s.sigma_reparam else ("pre_ln" if s.pre_norm else "post_ln")

    return build(plain(model["encoder_scheme"]), plain(model.get("decoder_scheme")))


def flops_per_unit(cfg: dict, task: str, model: dict, params: int) -> float:
    t = _section(cfg, "tasks", task, "what a unit is")
    scheme_cost = cfg.get("scheme_cost") or {}
    schemes = [s for s in (model["encoder_scheme"], model.get("decoder_scheme")) if s]
    cost = max(float(scheme_cost.get(s, 1.0)) for s in schemes)
    return float(cfg["flops_per_param_per_position"]) * params * float(t["positions_per_unit"]) * cost


def updates_needed(cfg: dict, run: dict, dataset: str, gpus: int = 1) -> tuple[int, float, str]:
    """(updates, units per update, how the count was found) of a resolved run config trained on
    `gpus` GPUs (the engine's batch: GPUs x per-GPU batch x update_freq)."""
    train = run.get("train") or {}
    task = _section(cfg, "tasks", run["task"], "where the batch size is")
    key = task["batch_key"]
    node = run
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    fill = float(task.get("batch_fill", cfg["batch_fill"]))
    per_update = float(node or 0) * int(train.get("update_freq", 1)) * max(1, gpus) * fill
    if per_update <= 0:
        raise EstimateError(f"run {run['run_id']}: {key} is {node!r}; expected a positive batch size "
                            f"(config/estimate.yaml tasks.{run['task']}.batch_key)")
    max_updates, max_epochs = int(train.get("max_updates") or 0), int(train.get("max_epochs") or 0)
    by_epochs = None
    if max_epochs > 0:
        ds = _section(cfg, "datasets", dataset, "units per epoch")
        by_epochs = round(max_epochs * float(ds["train_units"]) / per_update)
    if by_epochs is not None and (max_updates <= 0 or by_epochs < max_updates):
        return by_epochs, per_update, f"{max_epochs} epochs"
    if max_updates <= 0:
        raise EstimateError(f"run {run['run_id']}: neither train.max_updates nor train.max_epochs is set")
    return max_updates, per_update, f"{max_updates} updates"


def updates_done(run: RunRecord) -> int:
    """Largest update count logged in metrics.jsonl (0 when the run has not started); a line cut
    by a kill is skipped (the resumed run rewrites it)."""
    best = 0
    for line in run.lines("metrics.jsonl") or []:
        try:
            best = max(best, int(json.loads(line).get("step", 0)))
        except (ValueError, AttributeError):
            continue  # a line cut by a kill: the resumed run rewrites it
    return best


def depth(model: dict) -> int:
    """Residual layers of a resolved model (the run id's depth fields, e.g. encoder_layers)."""
    over = model.get("overrides") or {}
    return sum(int(v) for k, v in over.items() if k.endswith("layers") and isinstance(v, int)) or 1


def throughput(cfg: dict, device: str, task: str, model: dict, fpu: float, flops_of,
               batch_units: float = 0.0) -> tuple[float, str]:
    """(units/s, where it comes from) on `device` for a model of `fpu` training FLOPs per unit,
    trained in micro-batches of `batch_units` units."""
    rows = [m for m in cfg.get("measured") or [] if m.get("device") == device and m.get("task") == task]
    if rows:
        same = [m for m in rows if m.get("size") == model["size"]]
        ref = (same or rows)[0]
        ref_fpu = flops_of(ref)
        ups = float(ref["units_per_s"]) * ref_fpu / fpu
        exact = ref_fpu == fpu
        how = "measured" if exact else "extrapolated by FLOPs from measured"
        return ups, f"{how} {ref['size']} {ref.get('arch', '')} {ref.get('scheme', '')} ({ref['command']})"
    dev = _section(cfg, "devices", device, "peak FLOP/s")
    if not dev.get("peak_tflops"):
        raise EstimateError(f"{CONFIG}: device {device!r} has no peak FLOP/s and no measured row for task {task!r}")
    ups = float(dev["peak_tflops"]) * 1e12 * float(cfg["mfu"]) / fpu
    how = f"extrapolated: {dev['peak_tflops']} TFLOP/s {dev['precision']} x mfu {cfg['mfu']}"
    floor = float(cfg.get("seconds_per_layer_floor") or 0.0) * depth(model)
    if batch_units > 0 and floor > batch_units / ups:
        # small models do not fill the device: a micro-batch costs at least the per-layer latency
        return batch_units / floor, how + f", latency floor {floor * 1000:.0f} ms per micro-batch"
    return ups, how


def estimate(target: str, scale: str, device: str, results: str = "results", cfg: dict | None = None,
             seeds=None) -> tuple[list[RunCost], int]:
    """(cost of each unfinished run, number of finished runs) of `target` at `scale`."""
    from tasks.registry import run_gpus

    cfg = cfg or load_config()
    scale_cfg = catalog.scale(scale)
    costs, finished, params_cache = [], 0, {}

    def params_of(task: str, model: dict, dataset: str) -> int:
        kwargs = _section(cfg, "datasets", dataset, "model keyword arguments").get("model_kwargs") or {}
        key = json.dumps([task, model, kwargs], sort_keys=True, default=str)
        if key not in params_cache:
            params_cache[key] = count_params(task, model, kwargs)
        return params_cache[key]

    def flops_of_measured(row: dict) -> float:
        run = resolve("paper", row["run"], results)  # bench figures are at the papers' sizes
        model = run["model"]
        return flops_per_unit(cfg, run["task"], model, params_of(run["task"], model, RunId.parse(row["run"]).dataset))

    for rid in target_runs(target, scale, seeds):
        record = RunRecord.read(results, scale, rid, strict=False)
        if record.status:  # the run has ended
            finished += 1
            continue
        run = resolve(scale, rid, results)
        dataset = RunId.parse(rid).dataset
        model = run["model"]
        fpu = flops_per_unit(cfg, run["task"], model, params_of(run["task"], model, dataset))
        gpus = run_gpus(scale_cfg, run["task"], RunId.parse(rid).variant)
        total, per_update, how = updates_needed(cfg, run, dataset, gpus)
        done = min(updates_done(record), total)
        micro = per_update / gpus / max(1, int((run.get("train") or {}).get("update_freq", 1)))  # per GPU
        ups, source = throughput(cfg, device, run["task"], model, fpu, flops_of_measured, micro)
        costs.append(RunCost(rid, total - done, (total - done) * per_update, ups, source, gpus,
                             f"{done} of {total} updates ({how})" if done else f"not started ({how})"))
    return costs, finished


def report(target: str, scale: str, device: str, costs: list[RunCost], finished: int) -> str:
    lines = [f"Cost of `{target}` at {scale} scale on {device}: {len(costs)} runs to train, {finished} finished.", ""]
    if costs:
        lines += ["| run | progress | updates left | units left | units/s | GPUs | GPU-hours | throughput from |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in costs:
            lines.append(f"| {c.run_id} | {c.done} | {c.updates:,} | {c.units:.3g} | {c.units_per_s:,.0f} | {c.gpus} | "
                         f"{c.gpu_hours:,.1f} | {c.source} |")
        gpu_h = sum(c.gpu_hours for c in costs)
        wall = sum(c.gpu_hours / c.gpus for c in costs)
        lines += ["", f"Total: {gpu_h:,.1f} GPU-hours ({wall:,.1f} job-hours if run one after another; "
                  f"Admin profiling and the initialization studies are minutes and not counted)."]
    if any(c.source.startswith("extrapolated") for c in costs):
        lines += ["Extrapolated figures assume the model-FLOPs utilisation in config/estimate.yaml; add a measured "
                  "row there (e.g. from `python -m bench.translation_speed --device cuda`) to replace them."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aggregate.estimate", description=__doc__.split("\n")[0])
    ap.add_argument("target", help="a table target (e.g. admin_table2) or `all`")
    ap.add_argument("--scale", required=True, choices=SCALES)
    ap.add_argument("--gpu", default=None, help="device kind of config/estimate.yaml `devices` (default: default_gpu)")
    ap.add_argument("--results", default="results")
    ap.add_argument("--json", action="store_true", help="print one JSON object per run instead of the table")
    args = ap.parse_args(argv)
    try:
        cfg = load_config()
        device = args.gpu or cfg.get("default_gpu", "a100")
        if device not in cfg["devices"]:
            raise EstimateError(f"--gpu {device!r}: expected one of {sorted(cfg['devices'])} ({CONFIG})")
        costs, finished = estimate(args.target, args.scale, device, args.results, cfg)
    except (EstimateError, ValueError, FileNotFoundError) as e:
        print(f"aggregate.estimate: {e}", file=sys.stderr)
        return 2
    if args.json:
        for c in costs:
            print(json.dumps({**c.__dict__, "gpu_hours": c.gpu_hours}))
        return 0
    print(report(args.target, args.scale, device, costs, finished), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
