# Grid and input functions only (house rule 9); every decision lives in tested Python
# (catalog: config/ and run ids; experiments.registry: the experiments; tasks.datasets, tasks.resolve).
import sys

sys.path.insert(0, workflow.basedir)

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from catalog import config as catalog
from catalog.experiment import run_ids
from catalog.runid import RUN_PATTERN, RunId
from catalog.words import SCALES
from experiments import registry as experiments
from models.scheme import get_scheme
from tasks import datasets as ds
from tasks import registry
from tasks.resolve import inputs_digest


validate(config, schema="../schemas/config.schema.yaml")

SCALE = config["scale"]
RESULTS = config["results"].rstrip("/")
P = f"{RESULTS}/{SCALE}"
SEEDS = config.get("seeds")
try:
    if SCALE not in SCALES:
        raise ValueError(f"config key scale: {SCALE!r}; expected one of {list(SCALES)}")
    SCALE_CFG = catalog.scale(SCALE)
    TABLES = {t: e.spec for t, e in experiments.experiments().items()}
    ds.check_configured(config["datasets"])
except (ValueError, OSError) as e:
    raise WorkflowError(str(e))
TABLE_IDS = sorted(TABLES)
RUN = RUN_PATTERN


def table_runs(table, key="runs"):
    return run_ids(TABLES[table], SCALE, SEEDS, key)


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


def dataset_record(wildcards):
    return registry.record(ds.task_of(wildcards.dataset))


def make_tiny_module(wildcards):
    return dataset_record(wildcards).make_tiny


def prepare_module(wildcards):
    return dataset_record(wildcards).prepare


def generated_size(wildcards):
    return ds.generated_size(wildcards.dataset, SCALE_CFG)


def train_inputs(wildcards):
    inputs = {"config": f"{P}/runs/{RUN.format(**wildcards)}/config.yaml", "data": data_dir(wildcards)}
    if any(get_scheme(s).admin_omega for s in wildcards.scheme.split("+")):
        inputs["omega"] = f"{P}/runs/{RUN.format(**wildcards)}/omega.json"
    return inputs


def config_digest(wildcards):
    """Hash of the config entries the run is resolved from (tasks.resolve.inputs_digest): a params
    rerun trigger, so editing a recipe, variant or scale reruns exactly the runs it touches; the
    run is resolved once, by its run_config job."""
    try:
        return inputs_digest(SCALE, RUN.format(**wildcards), RESULTS)
    except ValueError as e:
        raise WorkflowError(str(e))


def run_dir(wildcards):
    return f"{P}/runs/{RUN.format(**wildcards)}"


def run_id(wildcards):
    return RUN.format(**wildcards)


def launcher(wildcards):
    """torchrun with one process per GPU of the run (the count its config's update_freq was divided
    by: tasks.registry.run_gpus), not the job's granted `gpu`, which a local profile may clip."""
    gpus = registry.run_gpus(SCALE_CFG, wildcards.task, wildcards.variant)
    if gpus > 1:
        return f"torchrun --standalone --nnodes=1 --nproc-per-node={gpus}"
    return "python"


def gpu_flag(wildcards, resources):
    """--require-gpu when the job was given GPUs and the scale does not allow training on CPU."""
    wants_gpu = int(getattr(resources, "gpu", 0) or 0) > 0
    return "--require-gpu" if wants_gpu and not SCALE_CFG.get("allow_cpu", False) else ""


def rule_task(wildcards):
    """The task a job works for (from its task or dataset wildcard), or None (studies, tables)."""
    if "task" in wildcards.keys():
        return wildcards.task
    if "dataset" in wildcards.keys():
        return ds.task_of(wildcards.dataset)
    return None


def _res(kind, wildcards):
    variant = wildcards.variant if "variant" in wildcards.keys() else None
    return registry.task_resources(SCALE_CFG, rule_task(wildcards), kind, variant)


def rule_resources(kind):
    """Resources of a job by kind, task and variant (config/scales/<scale>.yaml, `resources.<kind>`,
    overridden by `tasks.<task>.resources.<kind>`, then `tasks.<task>.variant_resources.<variant>.<kind>`);
    memory and runtime grow with the attempt up to the scale's `resources.max_mem_mb` / `max_runtime`.
    cpus_per_task counts every CPU of the job (cpus per GPU x GPUs)."""
    return {
        "mem_mb": lambda wildcards, attempt: registry.retry_resource(
            SCALE_CFG, "mem_mb", _res(kind, wildcards).get("mem_mb", 2000), attempt),
        "runtime": lambda wildcards, attempt: registry.retry_resource(
            SCALE_CFG, "runtime", _res(kind, wildcards).get("runtime", 60), attempt),
        "gpu": lambda wildcards: int(_res(kind, wildcards).get("gpu", 0)),
        "cpus_per_task": lambda wildcards: rule_threads(kind)(wildcards),
    }


def rule_threads(kind):
    def threads(wildcards):
        res = _res(kind, wildcards)
        return int(res.get("cpus", 1)) * max(1, int(res.get("gpu", 0)))

    return threads


def study_tables(study):
    return [t for t in TABLE_IDS if study in TABLES[t].studies]


def study_runs(wildcards):
    """Exactly the runs the study reads: the `study_runs` of the tables that list it."""
    return sorted({r for t in study_tables(wildcards.study) for r in table_runs(t, "study_runs")})


def study_data(wildcards):
    """The prepared dataset the study measures on (the tables' `study_data`), or None."""
    names = sorted({TABLES[t].study_data for t in study_tables(wildcards.study) if TABLES[t].study_data})
    if len(names) > 1:
        raise WorkflowError(f"study {wildcards.study}: its tables name different study_data {names}")
    return names[0] if names else None


def study_inputs(wildcards):
    inputs = run_outputs(study_runs(wildcards))
    name = study_data(wildcards)
    return inputs + ([f"{P}/data/{name}"] if name else [])


def study_args(wildcards):
    """--runs DIR... (the runs it reads) and --data DIR (the prepared data it measures on)."""
    runs = [str(RunId.parse(r).run_dir(RESULTS, SCALE)) for r in study_runs(wildcards)]
    name = study_data(wildcards)
    return " ".join((["--runs " + " ".join(runs)] if runs else []) + ([f"--data {P}/data/{name}"] if name else []))


def table_inputs(wildcards):
    spec = TABLES[wildcards.table]
    studies = [f"{P}/studies/{s}.csv" for s in spec.studies]
    return run_outputs(table_runs(wildcards.table)) + studies


def reference_inputs(wildcards):
    path = TABLES[wildcards.table].reference
    return [str(path)] if path.is_file() else []


def own_claims(table):
    """The experiment's claims.py, when it has one (a changed claim re-decides its verdicts)."""
    path = TABLES[table].dir / "claims.py"
    return [str(path)] if path.is_file() else []


def claims_inputs(wildcards):
    """The studies' verdicts and every experiment's claims.py."""
    studies = sorted({s for t in TABLE_IDS for s in TABLES[t].studies})
    return [f"{P}/studies/{s}.claims.json" for s in studies] + [f for t in TABLE_IDS for f in own_claims(t)]


def table_claims_inputs(wildcards):
    """What one experiment's verdicts read besides its table: its studies' verdicts, its claims.py."""
    return [f"{P}/studies/{s}.claims.json" for s in TABLES[wildcards.table].studies] + own_claims(wildcards.table)


STUDY_IDS = sorted({s for t in TABLE_IDS for s in TABLES[t].studies})
HAS_CLAIMS = {t for t in TABLE_IDS if own_claims(t)}


def target_files(table):
    own = [f"{P}/compare/{table}.claims.csv"] if table in HAS_CLAIMS else []
    return [f"{P}/tables/{table}.csv", f"{P}/figures/{table}.png", f"{P}/figures/{table}.pdf",
            f"{P}/compare/{table}.csv"] + own


def all_targets(wildcards):
    files = [f for t in TABLE_IDS for f in target_files(t) + [f"{P}/report/{t}.html"]]
    return files + [f"{P}/compare/summary.md", f"{P}/compare/claims.csv"]


def seeds_arg(wildcards):
    return "--seeds " + ",".join(str(s) for s in SEEDS) if SEEDS else ""


def strict_arg(wildcards):
    return "--strict" if config.get("strict") else ""


def results_root(wildcards):
    return RESULTS
