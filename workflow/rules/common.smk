# Grid and input functions only (house rule 9); every decision lives in tested Python
# (aggregate.spec, aggregate.datasets, tasks.resolve).
import hashlib
import json
import sys

sys.path.insert(0, workflow.basedir)

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from aggregate import datasets as ds
from aggregate import spec as sp
from tasks.resolve import load_scale
from tasks.resolve import resolve as resolve_run


validate(config, schema="../schemas/config.schema.yaml")

SCALE = config["scale"]
RESULTS = config["results"].rstrip("/")
P = f"{RESULTS}/{SCALE}"
SEEDS = config.get("seeds")
SCALE_CFG = load_scale(SCALE)
try:
    TABLES = {t: sp.load_table(t) for t in sp.table_ids()}
    ds.check_configured(config["datasets"])
except (ValueError, OSError) as e:
    raise WorkflowError(str(e))
TABLE_IDS = sorted(TABLES)
RUN = "{task}/{dataset}/{arch}/{scheme}/{variant}/seed{seed}"


def table_runs(table, key="runs"):
    return sp.run_ids(TABLES[table], SCALE, SEEDS, key)


def run_outputs(run_ids):
    return [f"{P}/runs/{r}/{name}" for r in run_ids for name in ("eval.json", "status.json")]


def data_dir(wildcards):
    return f"{P}/data/{wildcards.dataset}"


def raw_input(wildcards):
    """Generated raw data (tiny, or small without the key), else the configured dataset path."""
    try:
        source = ds.raw_source(wildcards.dataset, SCALE_CFG, config["datasets"])
    except ValueError as e:
        raise WorkflowError(str(e))
    return f"{P}/raw/{wildcards.dataset}" if source == "generated" else source


def raw_arg(wildcards, input):
    return ds.raw_argument(wildcards.dataset, str(input.raw), str(input.raw).startswith(f"{P}/raw/"))


def task_module(wildcards, entry):
    return f"tasks.{ds.task_of(wildcards.dataset)}.{entry}"


def make_tiny_module(wildcards):
    return task_module(wildcards, "make_tiny")


def prepare_module(wildcards):
    return task_module(wildcards, "prepare")


def generated_size(wildcards):
    return ds.generated_size(wildcards.dataset, SCALE_CFG)


def train_inputs(wildcards):
    inputs = {"config": f"{P}/runs/{RUN.format(**wildcards)}/config.yaml", "data": data_dir(wildcards)}
    if "admin" in wildcards.scheme.split("+"):
        inputs["omega"] = f"{P}/runs/{RUN.format(**wildcards)}/omega.json"
    return inputs


def config_digest(wildcards):
    """Hash of the resolved run config: a params rerun trigger, so editing a recipe, variant or
    scale reruns exactly the runs whose closed config changed (and nothing else)."""
    try:
        resolved = resolve_run(SCALE, RUN.format(**wildcards), RESULTS)
    except ValueError as e:
        raise WorkflowError(str(e))
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:16]


def run_dir(wildcards):
    return f"{P}/runs/{RUN.format(**wildcards)}"


def run_id(wildcards):
    return RUN.format(**wildcards)


def launcher(wildcards, resources):
    gpus = int(getattr(resources, "gpu", 0) or 0)
    if gpus > 1:
        return f"torchrun --standalone --nnodes=1 --nproc-per-node={gpus}"
    return "python"


def rule_resources(kind):
    """Per-scale resources (config/scales/<scale>.yaml); runtime grows with the attempt."""
    table = SCALE_CFG.get("resources") or {}
    res = {**(table.get("default") or {}), **(table.get(kind) or {})}
    minutes = int(res.get("runtime", 60))
    out = {"mem_mb": int(res.get("mem_mb", 2000)), "runtime": lambda wildcards, attempt: minutes * attempt}
    if int(res.get("gpu", 0)) > 0:
        out.update(gpu=int(res["gpu"]), cpus_per_gpu=int(res.get("cpus", 1)))
    else:
        out["cpus_per_task"] = int(res.get("cpus", 1))
    return out


def rule_threads(kind):
    table = SCALE_CFG.get("resources") or {}
    res = {**(table.get("default") or {}), **(table.get(kind) or {})}
    return int(res.get("cpus", 1)) * max(1, int(res.get("gpu", 0)))


def study_inputs(wildcards):
    """The runs a study reads (the `study_runs` of the tables that use it)."""
    runs = []
    for table in TABLE_IDS:
        if wildcards.study in TABLES[table].studies:
            runs += table_runs(table, "study_runs")
    return run_outputs(sorted(set(runs)))


def study_args(wildcards):
    """Studies that read training runs find them under the results root (--results)."""
    reads_runs = any(wildcards.study in TABLES[t].studies and TABLES[t].study_runs for t in TABLE_IDS)
    return f"--results {RESULTS}" if reads_runs else ""


def table_inputs(wildcards):
    spec = TABLES[wildcards.table]
    studies = [f"{P}/studies/{s}.csv" for s in spec.studies]
    return run_outputs(table_runs(wildcards.table)) + studies


def reference_inputs(wildcards):
    return [f"results/reference/{name}" for name in TABLES[wildcards.table].reference]


def claims_inputs(wildcards):
    studies = sorted({s for t in TABLE_IDS for s in TABLES[t].studies})
    return [f"{P}/studies/{s}.claims.json" for s in studies]


def target_files(table):
    return [f"{P}/tables/{table}.csv", f"{P}/figures/{table}.png", f"{P}/figures/{table}.pdf",
            f"{P}/compare/{table}.csv"]


def all_targets(wildcards):
    files = [f for t in TABLE_IDS for f in target_files(t)]
    return files + [f"{P}/compare/summary.md", f"{P}/compare/claims.csv"]


def seeds_arg(wildcards):
    return "--seeds " + ",".join(str(s) for s in SEEDS) if SEEDS else ""


def strict_arg(wildcards):
    return "--strict" if config.get("strict") else ""


def results_root(wildcards):
    return RESULTS
