"""The cluster path: both profiles dry-run every target at paper scale on stand-in data without
conda; `--sdm conda` works when asked; resources come from the scale files; envs pin only what
their rules import."""
import json
import os
import re
import stat
from pathlib import Path

import pytest
import yaml

from bench.workflow_dag import make_stand_in_datasets, snakemake
from tasks.registry import task_resources
from catalog.config import scale as load_scale

REPO = Path(__file__).resolve().parents[1]
PROFILES = ("workflow/profiles/default", "workflow/profiles/slurm")
pytestmark = pytest.mark.workflow


def _config(tmp: Path) -> dict:
    data = make_stand_in_datasets(tmp / "data")
    return {"scale": "paper", "results": str(tmp / "results"),
            "datasets": "{" + ", ".join(f"{k}: {v}" for k, v in data.items()) + "}"}


def _targets() -> list[str]:
    from experiments.registry import ids as table_ids

    return ["all", *table_ids()]


def _jobs(out: str) -> list[dict]:
    """Dry-run job blocks: rule name, wildcards and resources (as printed by snakemake -n)."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if not m:
            continue
        job = {"rule": m.group(1)}
        for key in ("wildcards", "resources"):
            line = re.search(rf"^\s+{key}: (.*)$", block, re.M)
            job[key] = dict(kv.split("=", 1) for kv in line.group(1).split(", ")) if line else {}
        jobs.append(job)
    return jobs


@pytest.mark.parametrize("profile", PROFILES)
def test_every_target_dry_runs_at_paper_scale_without_conda(tmp_path, profile):
    env_path = os.environ.get("PATH", "")
    assert not any((Path(p) / "conda").exists() for p in env_path.split(os.pathsep) if p), \
        "this test checks the path without conda; run it where conda is not on PATH"
    proc = snakemake(["--profile", profile, "-n", *_targets(), "--quiet", "rules"], _config(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r"^train\s+\d+", proc.stdout, re.M), proc.stdout[-2000:]


def _fake_conda(bin_dir: Path) -> None:
    """A stand-in `conda` answering the three questions Snakemake asks before a dry run."""
    bin_dir.mkdir()
    script = bin_dir / "conda"
    script.write_text("#!/bin/sh\n"
                      'case "$*" in\n'
                      f"  'info --json') echo '{json.dumps({'conda_prefix': str(bin_dir.parent), 'platform': 'linux-64'})}';;\n"
                      "  '--version') echo 'conda 24.11.3';;\n"
                      "  'config --get channel_priority --json') echo '{\"get\": {\"channel_priority\": \"strict\"}}';;\n"
                      "  *) echo \"fake conda: $*\" >&2; exit 1;;\n"
                      "esac\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_slurm_profile_with_sdm_conda_resolves_the_rules_envs(tmp_path, monkeypatch):
    _fake_conda(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    proc = snakemake(["--profile", "workflow/profiles/slurm", "--sdm", "conda", "-n", "admin_table2"],
                     _config(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "conda-env:" in proc.stdout or "envs/train.yaml" in proc.stdout


def test_slurm_jobs_take_resources_from_the_scale_file(tmp_path):
    proc = snakemake(["--profile", "workflow/profiles/slurm", "-n", "admin_table2"], _config(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    jobs = _jobs(proc.stdout)
    scale = load_scale("paper")
    seen = set()
    for job in jobs:
        rule, res = job["rule"], job["resources"]
        if rule not in ("prepare_data", "train", "admin_profile"):
            continue
        seen.add(rule)
        want = task_resources(scale, "translation", rule, job["wildcards"].get("variant"))
        assert int(res["mem_mb"]) == int(want["mem_mb"]), (rule, res)   # first attempt
        assert int(res["runtime"]) == int(want["runtime"]), (rule, res)
        assert int(res.get("gpu", 0)) == int(want.get("gpu", 0)), (rule, res)
        assert res.get("slurm_extra", "").strip("'\"") == "--signal=INT@300"
    assert seen == {"prepare_data", "train", "admin_profile"}
    prep = task_resources(scale, "translation", "prepare_data")
    assert prep["mem_mb"] >= 32000 and prep["runtime"] >= 600  # WMT'14 En-Fr preparation


def test_slurm_profile_forces_no_software_deployment_and_asks_for_a_warning_signal():
    prof = yaml.safe_load((REPO / "workflow/profiles/slurm/profile.yaml").read_text())
    assert "software-deployment-method" not in prof and "sdm" not in prof
    extra = prof["default-resources"]["slurm_extra"]
    assert re.fullmatch(r"--signal=INT@\d+", extra) and int(extra.rsplit("@", 1)[1]) >= 120


def _imports(folder: str) -> set[str]:
    names = set()
    for path in (REPO / folder).rglob("*.py"):
        for m in re.finditer(r"^\s*(?:import|from)\s+([A-Za-z_][\w]*)", path.read_text(), re.M):
            names.add(m.group(1))
    return names


def test_analysis_env_pins_only_what_aggregate_needs():
    env = yaml.safe_load((REPO / "envs/analysis.yaml").read_text())
    pins = [p.split("==")[0].lower() for d in env["dependencies"] if isinstance(d, dict) for p in d["pip"]]
    assert "torch" not in pins
    # what the analysis rules import: aggregate/ and the layers below it that it reads through
    # (aggregate.estimate/report are user commands, not rules)
    imported = set().union(*map(_imports, ("aggregate", "catalog", "experiments", "common"))) - {"torch"}
    for module, pin in (("pandas", "pandas"), ("numpy", "numpy"), ("matplotlib", "matplotlib"), ("yaml", "pyyaml")):
        assert (module in imported) == (pin in pins), module


def test_envs_pin_the_same_versions_as_the_lock():
    lock = dict(line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    lock = {k.lower().replace("_", "-"): v for k, v in lock.items()}
    for name in ("train", "analysis"):
        env = yaml.safe_load((REPO / f"envs/{name}.yaml").read_text())
        for dep in env["dependencies"]:
            if isinstance(dep, dict):
                for pin in dep["pip"]:
                    pkg, version = pin.split("==")
                    assert lock.get(pkg.lower().replace("_", "-")) == version, (name, pin)
