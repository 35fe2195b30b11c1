"""Benchmark: time to build the paper-scale DAG (a dry run over every table target).

    python bench/workflow_dag.py            (or: python -m bench.workflow_dag)

Real datasets are not needed: stand-in files are created in a temp dir in the layouts
config/datasets.yaml expects, so the dry run sees a fully configured paper-scale workflow.
Prints the wall time of `snakemake -n all` and the number of jobs it would run.
"""
from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def paper_datasets() -> list[str]:
    """The datasets the paper scale requires (their task's `data: real` in config/scales/paper.yaml)."""
    reg = yaml.safe_load((REPO / "config" / "datasets.yaml").read_text())
    tasks = yaml.safe_load((REPO / "config" / "scales" / "paper.yaml").read_text())["tasks"]
    return [name for name, info in reg.items() if (tasks.get(info["task"]) or {}).get("data") == "real"]


def _stand_in_path(root: Path, pattern: str) -> Path:
    """A concrete file name for a layout glob (`news-commentary-v*.de-en.en*` -> `...-v9.de-en.en`)."""
    return root / pattern.replace("-v*", "-v9").replace("*", "")


def make_stand_in_datasets(root: Path) -> dict[str, str]:
    """Empty files in the expected layouts; returns the `datasets:` config mapping."""
    reg = yaml.safe_load((REPO / "config" / "datasets.yaml").read_text())
    out = {}
    for name in paper_datasets():
        info, base = reg[name], Path(root) / name
        if info["kind"] == "file":
            member = base / "content" / "stand-in.txt"
            member.parent.mkdir(parents=True, exist_ok=True)
            member.write_text("stand-in\n")
            archive = base / info.get("file_name", f"{name}.tgz")
            with tarfile.open(archive, "w:gz") as tar:
                tar.add(member.parent, arcname="content")
            out[name] = str(archive)
            continue
        base.mkdir(parents=True, exist_ok=True)
        # `stand_in` (config/datasets.yaml): files that make the layout check pass when `required`
        # globs alone cannot say it (a layout with alternatives)
        for pattern in list(info["required"]) + list(info.get("stand_in") or []):
            path = _stand_in_path(base, pattern)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
        out[name] = str(base)
    return out


def snakemake_env() -> dict:
    """Rules call `python -m ...`: put this interpreter's bin dir first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def snakemake(args: list[str], config: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "snakemake"), *args]
    if config:
        cmd += ["--config", *(f"{k}={v}" for k, v in config.items())]
    return subprocess.run(cmd, cwd=REPO, env=snakemake_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def dry_run_paper(tmp: Path, targets: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds of the snakemake process, the process) of a paper-scale dry run.

    CPU time is what the DAG build costs; wall time also counts waiting for a busy machine.
    """
    datasets = make_stand_in_datasets(tmp / "data")
    ds = "{" + ", ".join(f"{k}: {v}" for k, v in datasets.items()) + "}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = snakemake(["-n", *targets, "--quiet", "rules"],
                     {"scale": "paper", "results": str(tmp / "results"), "datasets": ds})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def job_count(output: str) -> int | None:
    m = re.search(r"^total\s+(\d+)", output, re.M)
    return int(m.group(1)) if m else None


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu, proc = dry_run_paper(Path(tmp), ["all"])
    if proc.returncode != 0:
        print(proc.stdout, file=sys.stderr)
        return 1
    print(f"paper-scale DAG, dry run of `all` (every table target): {wall:.2f} s wall, {cpu:.2f} s CPU, "
          f"{job_count(proc.stdout)} jobs; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
