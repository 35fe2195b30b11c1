"""bench.gpu_check's e2e section: one table target through snakemake on CUDA, end to end.

In a scratch copy of the repository (the working tree is never touched), the small scale's
settings for the table's tasks are reduced -- updates capped at --steps, a checkpoint every
steps/2, bf16 autocast -- and then:
 1. snakemake --profile workflow/profiles/default <table> --config scale=small results=R
    (one seed: the scale's max_seeds set to 1) with NORMBENCH_FAILPOINT set, so every training job is stopped (SIGTERM) right after its
    first checkpoint is written, and exits 75 ("resume me");
 2. the same command again, unset: each run resumes from its checkpoint (its log says
    "resuming from ...") and the table's CSV is written; it is printed;
 3. one of the table's run configs trained again under `torchrun --nproc-per-node=1`
    (the DDP code path with one process) into a scratch run directory.
--cpu-smoke: the copy, the scale edit and a snakemake dry run (-n) only. --e2e-scale tiny runs
all three steps at the tiny scale on a CPU (the same commands; fp32, no GPU requirement).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def tracked_files(repo: Path) -> list[str]:
    """Tracked and untracked-but-not-ignored files (what a clone plus the current edits holds)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=repo,
                         check=True, capture_output=True).stdout.decode()
    return [f for f in out.split("\0") if f and (repo / f).is_file()]


def scratch_copy(dst: Path) -> Path:
    for rel in tracked_files(REPO):
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dst / rel)
    return dst


def table_tasks(repo: Path, table: str) -> list[str]:
    path = repo / "experiments" / table / "experiment.yaml"
    if not path.is_file():
        raise SystemExit(f"e2e: no table {table!r} ({path} is missing)")
    return sorted({block["task"] for block in yaml.safe_load(path.read_text())["runs"]})


def reduce_scale(repo: Path, tasks: list[str], steps: int, scale: str = "small") -> None:
    """config/scales/<scale>.yaml of the copy: one seed, updates capped at `steps`, checkpoint at
    steps/2, bf16 (small; tiny keeps its CPU precision)."""
    path = repo / "config" / "scales" / f"{scale}.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["max_seeds"] = 1  # the first seed of every run block
    for task in tasks:
        t = cfg["tasks"][task]
        t["max_updates_cap"] = steps
        t.setdefault("floors", {}).update(max_updates=min(steps, t.get("floors", {}).get("max_updates", steps)),
                                          probes_every=max(1, steps // 4))
        train = t.setdefault("overrides", {}).setdefault("train", {})
        train.update(checkpoint_every=max(1, steps // 2), log_every=max(1, steps // 4))
        if scale != "tiny":
            train["precision"] = "bf16"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def snakemake(repo: Path, table: str, results: Path, extra_env: dict, dry: bool, timeout: float, scale="small"):
    exe = shutil.which("snakemake", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    cmd = [exe or "snakemake", "--profile", "workflow/profiles/default", table,
           "--config", f"scale={scale}", f"results={results}"] + (["-n", "--quiet", "rules"] if dry else [])
    env = dict(os.environ, PYTHONPATH=str(repo), **extra_env)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    print("$ " + " ".join(cmd) + "".join(f"  [{k}={v}]" for k, v in extra_env.items()), flush=True)
    t = time.monotonic()
    rc, text = _run_group(cmd, repo, env, timeout)
    print("\n".join("    " + line for line in text.strip().splitlines()[-15:]))
    print(f"  exit {rc} after {time.monotonic() - t:.0f} s", flush=True)
    return rc


def _run_group(cmd, cwd, env, timeout) -> tuple[int | str, str]:
    """Run cmd in its own process group; at `timeout` kill the whole group (snakemake and the
    jobs it started) and return ("timeout", the output so far)."""
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)

    def stop(signum, frame):  # bench.gpu_check's section limit: take the group down with us
        os.killpg(p.pid, signal.SIGKILL)
        sys.exit(124)
    signal.signal(signal.SIGTERM, stop)
    try:
        out, _ = p.communicate(timeout=max(1, timeout))
        return p.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        return f"timeout after {timeout:.0f} s (process group killed)", out


def run(a) -> None:
    t_end = time.monotonic() + 0.95 * (a.limit or 600)
    with tempfile.TemporaryDirectory(prefix="gpu_e2e_") as tmp:
        repo = scratch_copy(Path(tmp) / "repo")
        tasks = table_tasks(repo, a.table)
        scale = a.e2e_scale
        reduce_scale(repo, tasks, a.steps, scale)
        results = Path(tmp) / "results"
        print(f"scratch copy {repo}; table {a.table} (tasks {', '.join(tasks)}); {scale} scale with "
              f"{a.steps} updates per run, checkpoint every {max(1, a.steps // 2)}"
              f"{', bf16' if scale != 'tiny' else ''}", flush=True)
        if a.cpu_smoke:
            rc = snakemake(repo, a.table, results, {}, dry=True, timeout=t_end - time.monotonic(), scale=scale)
            if rc:
                raise SystemExit(f"e2e: snakemake dry run failed (exit {rc})")
            return
        # 1: stopped right after each run's first checkpoint (exit 75; keep-going carries on)
        snakemake(repo, a.table, results, {"NORMBENCH_FAILPOINT": "last_rotated:1:SIGTERM"}, dry=False,
                  timeout=0.45 * (t_end - time.monotonic()), scale=scale)
        # 2: resumed to the end, tables written
        rc = snakemake(repo, a.table, results, {}, dry=False, timeout=0.8 * (t_end - time.monotonic()), scale=scale)
        logs = sorted((results / scale / "logs" / "train").rglob("*.log"))
        resumed = [p for p in logs if "resuming from" in p.read_text(errors="replace")]
        print(f"resume: {len(resumed)} of {len(logs)} training logs say 'resuming from' a checkpoint", flush=True)
        csv = results / scale / "tables" / f"{a.table}.csv"
        if csv.is_file():
            print(f"CSV {csv}:")
            print(csv.read_text())
        else:
            print(f"CSV missing: {csv} (snakemake exit {rc})")
        # 3: one run again under torchrun with one process
        configs = sorted((results / scale / "runs").rglob("config.yaml"))
        if not configs:
            raise SystemExit("e2e: no run config to retrain under torchrun")
        out = Path(tmp) / "torchrun_run"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc-per-node=1",
               "-m", "tasks.train", "--config", str(configs[0]), "--out", str(out)] + (["--require-gpu"] if scale != "tiny" else [])
        print("$ " + " ".join(cmd), flush=True)
        trc, text = _run_group(cmd, repo, dict(os.environ, PYTHONPATH=str(repo)), t_end - time.monotonic())
        print("\n".join("    " + line for line in text.strip().splitlines()[-8:]))
        ev = out / "eval.json"
        print(f"torchrun (1 process): exit {trc}; eval.json {'written: ' + ev.read_text()[:300] if ev.is_file() else 'missing'}")
        if rc or not csv.is_file() or trc:
            raise SystemExit("e2e: not every step succeeded (see above)")
