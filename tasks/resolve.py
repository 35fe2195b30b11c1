"""Resolve a run id into the closed run config that `tasks.train` reads.

    python -m tasks.resolve --scale tiny --run RUN_ID --out RUN_DIR/config.yaml [--results results]

A run id is `{task}/{dataset}/{arch}/{scheme}/{variant}/seed{seed}` (docs/ARCHITECTURE.md).
The config is built in layers, each overriding the one before:
  1. the recipe named by the variant        (config/recipes.yaml)
  2. the variant's overrides                 (config/variants.yaml)
  3. the scale: step counts multiplied by `steps_factor` (with floors and a cap), then the
     scale's per-task overrides, then its per-variant overrides (config/scales/<scale>.yaml:
     tasks.<task>.overrides, tasks.<task>.variant_overrides.<variant>)
  4. the run id itself: depth, schemes, seed, data dir, and omega.json for Admin runs.
  5. the run's GPU count (tasks.registry.run_gpus): `train.update_freq` is written for one GPU
     (the micro-batches one GPU accumulates for the recipe's batch); a run on N GPUs gets
     update_freq / N per GPU, so GPUs x per-GPU batch x update_freq stays the recipe's batch.
"""
from __future__ import annotations

import argparse
import copy
import sys

from catalog import config as catalog
from catalog.config import CatalogError, deep_merge, task_scale, variant_config
from common.io import digest
from catalog.runid import RunId, RunIdError, parse_arch, parse_scheme, run_dir
from catalog.words import SCALES


class ResolveError(ValueError):
    """A run id, variant, recipe or scale that cannot be resolved; the message says why."""


def _scaled(value: int, factor: float, floor: int) -> int:
    if value <= 0:  # 0 means "off" (no warm-up, no epoch limit): keep it off at every scale
        return value
    return max(int(round(value * factor)), floor)


def scale_steps(cfg: dict, task_scale: dict) -> dict:
    """Multiply every step count of a recipe by the scale's steps_factor, with floors and a cap."""
    factor = float(task_scale.get("steps_factor", 1.0))
    floors = task_scale.get("floors") or {}
    cfg = copy.deepcopy(cfg)
    train, sched, probes = cfg.setdefault("train", {}), cfg.setdefault("schedule", {}), cfg.get("probes")
    if "max_updates" in train:
        train["max_updates"] = _scaled(train["max_updates"], factor, floors.get("max_updates", 1))
        cap = task_scale.get("max_updates_cap")
        if cap:
            train["max_updates"] = min(train["max_updates"], int(cap))
    if "max_epochs" in train:
        train["max_epochs"] = _scaled(train["max_epochs"], factor, floors.get("epochs", 1))
    if "warmup_updates" in sched:
        sched["warmup_updates"] = _scaled(sched["warmup_updates"], factor, floors.get("warmup_updates", 1))
    if sched.get("step_epochs"):
        sched["step_epochs"] = [_scaled(e, factor, floors.get("epochs", 1)) for e in sched["step_epochs"]]
    if sched.get("total_updates"):
        sched["total_updates"] = _scaled(sched["total_updates"], factor, floors.get("max_updates", 1))
    if probes and probes.get("every"):
        probes["every"] = _scaled(probes["every"], factor, floors.get("probes_every", 1))
    return cfg


def per_gpu_update_freq(cfg: dict, run_id: str, gpus: int) -> dict:
    """Divide the one-GPU `train.update_freq` among the run's `gpus` processes; a ResolveError when
    it does not divide (the effective batch would change)."""
    if gpus <= 1:
        return cfg
    train = cfg.setdefault("train", {})
    freq = int(train.get("update_freq", 1))
    if freq % gpus:
        rid = RunId.parse(run_id)
        raise ResolveError(f"run {run_id}: train.update_freq {freq} (written for one GPU) does not divide by the "
                           f"run's {gpus} GPUs, so the batch per update would not be the recipe's; give the run "
                           f"a GPU count that divides {freq} (tasks.{rid.task}.variant_resources.{rid.variant}.train.gpu "
                           "in the scale file) or change update_freq and the per-GPU batch together")
    train["update_freq"] = freq // gpus
    return cfg


def depth_overrides(rec, family: str, arch: str) -> tuple[str, dict]:
    """(size, {depth field: N}) for an arch string, through the task record's depth_fields."""
    try:
        size, depths = parse_arch(arch)
    except RunIdError as e:
        raise ResolveError(str(e)) from None
    fields = rec.depth_fields.get(family) if isinstance(rec.depth_fields, dict) else rec.depth_fields
    if fields is None:
        raise ResolveError(f"task {rec.name!r} does not say where the depth of model family {family!r} goes "
                           f"(record depth_fields: {rec.depth_fields})")
    if len(depths) != len(fields):
        shape = "-".join(f"<{f}>L" for f in fields)
        raise ResolveError(f"arch {arch!r}: task {rec.name!r} (family {family}) expects <size>-{shape}, "
                           f"got {len(depths)} depth(s)")
    return size, dict(zip(fields, depths))


def check_model(task: str, model: dict) -> None:
    """Fail at resolve time (before any job is queued) on an unknown size or override, or a
    scheme whose flags the model family does not implement."""
    from models.scheme import check_family
    from tasks.registry import resolve_size

    try:
        resolve_size(task, model["family"], model["size"], model.get("overrides") or {})
        for scheme in (model.get("encoder_scheme"), model.get("decoder_scheme")):
            if scheme is not None:
                check_family(scheme, model["family"])
    except ValueError as e:
        raise ResolveError(f"model (family {model['family']}, size {model['size']}): {e}") from None


def resolve(scale: str, run_id: str, results: str = "results") -> dict:
    """The closed run config of `run_id` at `scale`, as a plain dict (not yet validated)."""
    from models.scheme import get_scheme
    from tasks import registry

    try:
        rid = RunId.parse(run_id)
    except RunIdError as e:
        raise ResolveError(str(e)) from None
    try:
        rec = registry.record(rid.task)
    except KeyError as e:
        raise ResolveError(str(e.args[0])) from None
    try:
        ds_task = catalog.dataset(rid.dataset).task
        scale_cfg = catalog.scale(scale)
        ts = task_scale(scale_cfg, rid.task)
        cfg = scale_steps(variant_config(rid.variant), ts)
    except CatalogError as e:
        raise ResolveError(str(e)) from None
    if ds_task != rid.task:
        raise ResolveError(f"run {run_id}: dataset {rid.dataset!r} belongs to task {ds_task!r}, not {rid.task!r} "
                           "(config/datasets.yaml)")
    cfg = deep_merge(cfg, ts.get("overrides") or {})
    # A scale may recalibrate single variants (e.g. tiny runs long enough for a training claim);
    # the scale file says what it changes and why.
    cfg = deep_merge(cfg, (ts.get("variant_overrides") or {}).get(rid.variant) or {})
    cfg = per_gpu_update_freq(cfg, run_id, registry.run_gpus(scale_cfg, rid.task, rid.variant))
    try:
        enc_scheme, dec_scheme = parse_scheme(rid.scheme)
    except RunIdError as e:
        raise ResolveError(str(e)) from None
    model = cfg.setdefault("model", {})
    family = model.get("family") or rec.family
    size, depth = depth_overrides(rec, family, rid.arch)
    two_stacks = len(depth) == 2
    if "+" in rid.scheme and not two_stacks:
        raise ResolveError(f"run {run_id}: scheme {rid.scheme!r} names an encoder and a decoder scheme but "
                           f"arch {rid.arch!r} has one stack")
    # The arch in the run id (size and depth) wins over the recipe's default size.
    model.update(family=family, size=size, encoder_scheme=enc_scheme,
                 decoder_scheme=dec_scheme if two_stacks else None)
    model["overrides"] = {**(model.get("overrides") or {}), **depth}
    check_model(rid.task, model)
    rdir = run_dir(results, scale, run_id)
    uses_omega = any(get_scheme(s).admin_omega for s in (enc_scheme, dec_scheme))
    model["omega"] = f"{rdir}/omega.json" if uses_omega else None
    cfg.setdefault("data", {})["dir"] = f"{results}/{scale}/data/{rid.dataset}"
    return {"run_id": run_id, "scale": scale, "task": rid.task, "seed": rid.seed, **cfg}


def inputs_digest(scale: str, run_id: str, results: str = "results") -> str:
    """A hash of every config entry `resolve` reads for this run (its variant and recipe, the
    scale's settings of its task and its resources, its dataset's entry): the workflow's rerun
    trigger, so editing a recipe, variant or scale reruns exactly the runs it touches, without
    resolving each run a second time in the Snakemake head (the run_config job resolves it)."""
    rid = RunId.parse(run_id)
    scale_cfg = catalog.scale(scale)
    v = catalog.variant(rid.variant)
    return digest({"run": run_id, "results": results, "variant": v.__dict__, "recipe": catalog.recipes()[v.recipe],
                   "task_scale": task_scale(scale_cfg, rid.task), "resources": scale_cfg.get("resources"),
                   "dataset": catalog.dataset(rid.dataset).__dict__})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tasks.resolve", description=__doc__.split("\n")[0])
    ap.add_argument("--scale", required=True, choices=SCALES)
    ap.add_argument("--run", required=True, help="run id: {task}/{dataset}/{arch}/{scheme}/{variant}/seed{N}")
    ap.add_argument("--out", required=True, help="where to write the closed config (YAML)")
    ap.add_argument("--results", default="results", help="results root (default: results)")
    args = ap.parse_args(argv)
    from tasks.config import ConfigError, RunConfig

    try:
        cfg = RunConfig.from_dict(resolve(args.scale, args.run, args.results))
    except (ResolveError, ConfigError) as e:
        print(f"tasks.resolve: run {args.run} at scale {args.scale}: {e}", file=sys.stderr)
        return 2
    cfg.dump(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
