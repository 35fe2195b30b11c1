"""Resolve a run id into the closed run config that `tasks.train` reads.

    python -m tasks.resolve --scale tiny --run RUN_ID --out RUN_DIR/config.yaml [--results results]

A run id is `{task}/{dataset}/{arch}/{scheme}/{variant}/seed{seed}` (docs/ARCHITECTURE.md).
The config is built in layers, each overriding the one before:
  1. the recipe named by the variant        (config/recipes.yaml)
  2. the variant's overrides                 (config/variants.yaml)
  3. the scale: step counts multiplied by `steps_factor` (with floors and a cap), then the
     scale's per-task overrides             (config/scales/<scale>.yaml)
  4. the run id itself: depth, schemes, seed, data dir, and omega.json for Admin runs.
"""
from __future__ import annotations

import argparse
import copy
import functools
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "config"
SCALES = ("tiny", "small", "paper")
RUN_ID_RE = re.compile(r"^(?P<task>[a-z0-9_]+)/(?P<dataset>[a-z0-9_]+)/(?P<arch>[A-Za-z0-9_.-]+)/"
                       r"(?P<scheme>[a-z0-9_+]+)/(?P<variant>[A-Za-z0-9_.+-]+)/seed(?P<seed>\d+)$")
ARCH_RE = re.compile(r"^(?P<size>[a-z0-9_]+?)-(?P<enc>\d+)L(?:-(?P<dec>\d+)L)?$")


class ResolveError(ValueError):
    """A run id, variant, recipe or scale that cannot be resolved; the message says why."""


def load_yaml(path: Path) -> dict:
    """A YAML mapping (a fresh copy: callers may modify it; files are parsed once per process)."""
    return copy.deepcopy(_load_yaml(str(path)))


@functools.lru_cache(maxsize=None)
def _load_yaml(path: str) -> dict:
    if not Path(path).is_file():
        raise ResolveError(f"{path}: file not found")
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise ResolveError(f"{path}: expected a YAML mapping, got {type(data).__name__}")
    return data


def load_scale(scale: str) -> dict:
    if scale not in SCALES:
        raise ResolveError(f"unknown scale {scale!r}; expected one of {list(SCALES)}")
    return load_yaml(CONFIG_DIR / "scales" / f"{scale}.yaml")


def recipes() -> dict:
    return load_yaml(CONFIG_DIR / "recipes.yaml")


def variants() -> dict:
    return load_yaml(CONFIG_DIR / "variants.yaml")


def deep_merge(base: dict, over: dict) -> dict:
    """A copy of `base` with `over` merged in; nested mappings merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_run_id(run_id: str) -> dict:
    m = RUN_ID_RE.match(run_id)
    if not m:
        raise ResolveError(f"malformed run id {run_id!r}; expected "
                           "{task}/{dataset}/{arch}/{scheme}/{variant}/seed{N}, e.g. "
                           "translation/iwslt14_de_en/transformer_iwslt_de_en-6L-6L/post_ln/admin_iwslt/seed1")
    parts = m.groupdict()
    parts["seed"] = int(parts["seed"])
    return parts


def parse_arch(arch: str) -> tuple[str, int, int | None]:
    """`transformer_wmt_en_de-18L-18L` -> (size, 18, 18); `vit_b16-12L` -> (size, 12, None)."""
    m = ARCH_RE.match(arch)
    if not m:
        raise ResolveError(f"malformed arch {arch!r}; expected <size>-<N>L-<M>L (encoder-decoder) "
                           "or <size>-<N>L, e.g. transformer_wmt_en_de-18L-18L")
    dec = m.group("dec")
    return m.group("size"), int(m.group("enc")), (int(dec) if dec else None)


def parse_scheme(scheme: str) -> tuple[str, str]:
    """`post_ln` -> (post_ln, post_ln); `post_ln+pre_ln` -> encoder post_ln, decoder pre_ln."""
    from models.scheme import SCHEMES

    parts = scheme.split("+")
    if len(parts) > 2:
        raise ResolveError(f"scheme {scheme!r}: expected one name or encoder+decoder")
    for name in parts:
        if name not in SCHEMES:
            raise ResolveError(f"unknown scheme {name!r} in run scheme {scheme!r}; "
                               f"expected one of {sorted(SCHEMES)}")
    return parts[0], parts[-1]


def variant_config(name: str) -> dict:
    """Recipe <- variant overrides, as a partial run-config dict."""
    all_variants = variants()
    if name not in all_variants:
        raise ResolveError(f"unknown variant {name!r}; expected one of {sorted(all_variants)} "
                           "(config/variants.yaml)")
    v = all_variants[name]
    all_recipes = recipes()
    if v.get("recipe") not in all_recipes:
        raise ResolveError(f"variant {name!r} names recipe {v.get('recipe')!r}, which is not in "
                           f"config/recipes.yaml (known: {sorted(all_recipes)})")
    return deep_merge(all_recipes[v["recipe"]], v.get("overrides") or {})


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


def run_dir(results: str, scale: str, run_id: str) -> str:
    return f"{results}/{scale}/runs/{run_id}"


def resolve(scale: str, run_id: str, results: str = "results") -> dict:
    """The closed run config of `run_id` at `scale`, as a plain dict (not yet validated)."""
    rid = parse_run_id(run_id)
    scale_cfg = load_scale(scale)
    task_scale = (scale_cfg.get("tasks") or {}).get(rid["task"])
    if task_scale is None:
        raise ResolveError(f"config/scales/{scale}.yaml has no settings for task {rid['task']!r}; "
                           f"expected a key tasks.{rid['task']}")
    cfg = scale_steps(variant_config(rid["variant"]), task_scale)
    cfg = deep_merge(cfg, task_scale.get("overrides") or {})
    size, enc_layers, dec_layers = parse_arch(rid["arch"])
    enc_scheme, dec_scheme = parse_scheme(rid["scheme"])
    model = cfg.setdefault("model", {})
    # The arch in the run id (size and depth) wins over the recipe's default size.
    model.update(family=rid["task"], size=size, encoder_scheme=enc_scheme,
                 decoder_scheme=dec_scheme if dec_layers is not None else None)
    layers = {"encoder_layers": enc_layers}
    if dec_layers is not None:
        layers["decoder_layers"] = dec_layers
    model["overrides"] = {**(model.get("overrides") or {}), **layers}
    rdir = run_dir(results, scale, run_id)
    model["omega"] = f"{rdir}/omega.json" if "admin" in (enc_scheme, dec_scheme) else None
    cfg.setdefault("data", {})["dir"] = f"{results}/{scale}/data/{rid['dataset']}"
    return {"run_id": run_id, "scale": scale, "task": rid["task"], "seed": rid["seed"], **cfg}


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
