"""Wall time of each initialisation study: `python -m bench.studies_time [--scale tiny] [--only NAME...]`.

Runs each study's measurement (`studies.<name>.run`, the same code as `python -m
studies.<name>`, without writing files) at the given scale, which keeps the papers' widths
(d = 512) at every scale, and prints per study: wall seconds, CPU seconds of this process
(all threads) and their ratio. On a shared machine the wall time includes waiting for the
CPU; CPU seconds / threads is what the study would take alone. The total is what the tiny
workflow spends on the studies.
"""
from __future__ import annotations

import argparse
import importlib
import time

import torch

INIT_STUDIES = ("xiong_gradnorm", "admin_table1_vanishing", "admin_output_change", "admin_dependency",
                "hessian_spectrum", "entropy_bound", "admin_relative_norms")


def time_study(name: str, scale: str) -> dict:
    mod = importlib.import_module(f"studies.{name}")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    _, claims = mod.run(scale)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"study": name, "wall_s": wall, "cpu_s": cpu, "verdicts": ",".join(c["verdict"] for c in claims)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="tiny", choices=("tiny", "small", "paper"))
    p.add_argument("--only", nargs="*", default=None, choices=INIT_STUDIES, help="time only these studies")
    args = p.parse_args(argv)
    names = args.only or list(INIT_STUDIES)
    threads = torch.get_num_threads()
    print(f"scale {args.scale}, torch threads {threads}")
    print(f"{'study':26s} {'wall s':>8s} {'cpu s':>8s} {'cpu/threads':>11s}  verdicts")
    total_wall = total_cpu = 0.0
    for name in names:
        r = time_study(name, args.scale)
        total_wall += r["wall_s"]
        total_cpu += r["cpu_s"]
        print(f"{name:26s} {r['wall_s']:8.1f} {r['cpu_s']:8.1f} {r['cpu_s'] / threads:11.1f}  {r['verdicts']}", flush=True)
    print(f"{'total':26s} {total_wall:8.1f} {total_cpu:8.1f} {total_cpu / threads:11.1f}")


if __name__ == "__main__":
    main()
