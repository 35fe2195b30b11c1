"""GPUs per run: the scale file's count per variant, update_freq divided by it at resolve time (the
batch per update stays the recipe's), torchrun with one process per GPU, retries capped."""
import copy
import re

import pytest

import catalog.config as catalog
from bench.workflow_dag import make_stand_in_datasets, snakemake
from tasks.registry import retry_resource, run_gpus, task_resources
from catalog.config import scale as load_scale
from catalog.config import variant_config
from tasks.resolve import ResolveError, resolve

ENFR = "translation/wmt14_en_fr/transformer_wmt_en_de-6L-6L/post_ln/admin_wmt_enfr/seed1111"
IWSLT = "translation/iwslt14_de_en/transformer_iwslt_de_en-6L-6L/post_ln/admin_iwslt/seed1111"


@pytest.mark.parametrize("run_id, gpus, per_gpu", [
    (ENFR, 8, 10),   # 8 GPUs x 8000 tokens x update-freq 10 (docs/recipes.md 1.2)
    ("translation/wmt14_en_fr/transformer_wmt_en_de-60L-12L/admin/admin_wmt_enfr_deep/seed1111", 8, 32),
    ("translation/wmt14_en_de/transformer_wmt_en_de-6L-6L/pre_ln/admin_wmt_ende/seed1111", 4, 1),
    (IWSLT, 1, 1),
    ("vit/imagenet/vit_b16-12L/pre_ln/deit_b16/seed1", 8, 1),
    ("asr/librispeech/asr_sigma_36x768-36L/sigma_reparam/asr_adagrad_wu64k/seed1", 8, 2),
    ("lm/wikitext103/lm_wiki103-16L/pre_ln/lm_wiki103/seed1", 8, 3),
])
def test_paper_runs_keep_the_recipe_batch_on_their_gpus(run_id, gpus, per_gpu):
    scale = load_scale("paper")
    task, variant = run_id.split("/")[0], run_id.split("/")[4]
    assert run_gpus(scale, task, variant) == gpus
    cfg = resolve("paper", run_id)
    assert cfg["train"]["update_freq"] == per_gpu
    assert gpus * per_gpu == variant_config(variant)["train"]["update_freq"]  # the one-GPU batch


def test_an_update_freq_that_does_not_divide_fails_at_resolve(monkeypatch):
    scale = copy.deepcopy(load_scale("paper"))
    scale["tasks"]["translation"]["variant_resources"]["admin_wmt_enfr"]["train"]["gpu"] = 3
    monkeypatch.setattr(catalog, "scale", lambda name: scale)
    with pytest.raises(ResolveError) as e:
        resolve("paper", ENFR)
    msg = str(e.value)
    assert ENFR in msg and "update_freq 80" in msg and "3 GPUs" in msg
    assert "tasks.translation.variant_resources.admin_wmt_enfr.train.gpu" in msg


def test_variant_resources_override_the_task_entry_for_that_variant_only():
    scale = load_scale("paper")
    enfr = task_resources(scale, "translation", "train", "admin_wmt_enfr")
    assert enfr["gpu"] == 8 and enfr["runtime"] == task_resources(scale, "translation", "train")["runtime"]
    assert task_resources(scale, "translation", "train", "admin_iwslt") == task_resources(scale, "translation", "train")
    assert run_gpus(load_scale("tiny"), "translation", "admin_wmt_enfr") == 1  # gpu 0: one CPU process


def test_retry_runtime_is_capped_at_the_scale_maximum():
    paper = load_scale("paper")
    cap = paper["resources"]["max_runtime"]
    assert retry_resource(paper, "runtime", 2880, 1) == 2880
    assert retry_resource(paper, "runtime", 2880, 3) == cap < 3 * 2880
    assert retry_resource(paper, "mem_mb", 64000, 3) == 3 * 64000  # no max_mem_mb: grows freely
    assert retry_resource(load_scale("tiny"), "runtime", 15, 3) == 45  # no cap at tiny


def test_a_job_with_fewer_gpus_than_processes_fails_clearly(monkeypatch):
    import torch

    from tasks.train import require_gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    msg = require_gpu()
    assert msg and "torchrun started 8 processes" in msg and "sees 1 GPU" in msg
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert require_gpu() is None


@pytest.mark.workflow
def test_paper_dry_run_launches_torchrun_with_the_runs_gpus(tmp_path):
    data = make_stand_in_datasets(tmp_path / "data")
    config = {"scale": "paper", "results": str(tmp_path / "results"),
              "datasets": "{" + ", ".join(f"{k}: {v}" for k, v in data.items()) + "}"}
    runs = tmp_path / "results" / "paper" / "runs"
    proc = snakemake(["--profile", "workflow/profiles/slurm", "-n", "-p",
                      str(runs / ENFR / "eval.json"), str(runs / IWSLT / "eval.json")], config, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    train = {m.group(2): m.group(1) for m in
             re.finditer(r"(python|torchrun(?: --\S+)*) -m tasks\.train --config \S+/runs/(\S+)/config\.yaml", proc.stdout)}
    assert train[ENFR] == "torchrun --standalone --nnodes=1 --nproc-per-node=8", proc.stdout[-3000:]
    assert train[IWSLT] == "python"
    assert re.search(r"resources: .*gpu=8", proc.stdout)
