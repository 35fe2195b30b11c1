"""Benchmark: the whole default workflow at tiny scale (budget: 15 minutes on 2 CPU cores).

    python -m bench.workflow_tiny [--cores 2] [--keep DIR]

Runs `snakemake --profile workflow/profiles/default --cores N all` into a fresh results root
and prints the wall time, the CPU time its jobs recorded in their `benchmark:` files (by rule
kind), and the job count.
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.workflow_dag import REPO, snakemake_env


def cpu_by_rule(base: Path) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for tsv in (base / "benchmarks").rglob("*.tsv"):
        rows = list(csv.DictReader(tsv.open(), delimiter="\t"))
        if rows and rows[-1].get("cpu_time") not in (None, "", "NA"):
            out[tsv.relative_to(base / "benchmarks").parts[0]] += float(rows[-1]["cpu_time"])
    return dict(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="results root to use (kept); default: a temp dir")
    a = ap.parse_args(argv)
    root = a.keep or Path(tempfile.mkdtemp(prefix="normbench-tiny-"))
    cmd = ["snakemake", "--profile", "workflow/profiles/default", "--cores", str(a.cores), "all",
           "--config", f"results={root}"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=snakemake_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(f"workflow failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    cpu = cpu_by_rule(root / "tiny")
    print(f"tiny workflow: {wall:.0f} s wall on {a.cores} cores; jobs' CPU time {sum(cpu.values()):.0f} s")
    for rule, sec in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"  {rule:<16}{sec:8.0f} s CPU")
    print(f"results under {root / 'tiny'}")


if __name__ == "__main__":
    main()
