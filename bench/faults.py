"""Fault injection on the toy task: do interrupted runs end exactly like the uninterrupted one?

    python -m bench.faults [--trials 30] [--concurrent 3] [--corrupt 4] [--seed S] [--workdir DIR]

One uninterrupted reference run, then:
- `--trials` runs, each hit by one fault and then resumed to the end: SIGKILL, SIGTERM or
  SIGINT at a random update, or at a named point inside the checkpoint writes
  (tasks/engine/checkpoint.py FAILPOINTS: a temp file written but not renamed, last rotated
  to prev but not rewritten, the epoch file written before last, ...). A resumed run counts
  as identical when every metrics record (all fields but wall-clock ones) and eval.json and
  status.json equal the reference. Lost updates = the last update logged before the fault
  minus the update the resume started from (bounded by train.checkpoint_every).
- `--concurrent` cases: two `tasks.train` started together on one directory; one must be
  refused at once (exit 3, naming the holder's pid and host), the other must finish identically.
- `--corrupt` cases, cycling last / all / last+prev / prev: a run stopped after two epochs gets
  those checkpoint files truncated or overwritten, then resumes; handled = identical results.
Ends with one line:
    faults: K/N resumed identically, max lost updates M, concurrent starts refused C/C,
    corrupt-checkpoint cases handled H/H
Exit status 0 when everything held, 1 otherwise. Each process start costs the torch import
(~2 s CPU); 30 trials take ~5-10 minutes on a quiet 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_UPDATES, CKPT_EVERY = 50, 4
WALL_CLOCK = ("units_per_s", "time", "peak_mem_mb")  # differ between any two runs
# (kind, where, signal): the first three are what the test suite's small run covers.
KINDS = [("failpoint", "epoch_last_rotated", "SIGKILL"), ("random", "", "SIGTERM"), ("random", "", "SIGINT"),
         ("random", "", "SIGKILL"), ("failpoint", "tmp_written", "SIGKILL"),
         ("failpoint", "epoch_file_written", "SIGKILL"), ("failpoint", "copy_tmp_written", "SIGKILL"),
         ("failpoint", "last_rotated", "SIGKILL"), ("failpoint", "epoch_last_rotated", "SIGTERM"),
         ("failpoint", "tmp_written", "SIGINT"), ("failpoint", "epoch_file_written", "SIGTERM"),
         ("failpoint", "copy_tmp_written", "SIGINT"), ("failpoint", "last_rotated", "SIGTERM")]
# How often each point is passed in one run of the config below (3 full epochs of ~14 updates,
# a partial 4th, a checkpoint every 4 updates): the n-th pass is drawn from 1..HITS[point].
HITS = {"tmp_written": 12, "copy_tmp_written": 4, "last_rotated": 10, "epoch_file_written": 4,
        "epoch_last_rotated": 4}
CORRUPT = ("last", "all", "last+prev", "prev")


def config() -> dict:
    """The toy run every case trains: dropout (the RNG state must be restored), RAdam (optimizer
    state), warm-up (schedule position), epochs of ~14 updates, averaging of 2 epoch checkpoints."""
    return {
        "task": "toy", "run_id": "toy/faults", "seed": 11,
        "batching": {"max_tokens": 512},
        "model": {"family": "toy", "size": "tiny", "encoder_scheme": "post_ln",
                  "overrides": {"dim": 16, "layers": 1, "dropout": 0.2}},
        "optim": {"name": "radam", "lr": 3e-3, "weight_decay": 0.01},
        "schedule": {"name": "inverse_sqrt", "warmup_updates": 8, "warmup_init_lr": 1e-7},
        "train": {"max_updates": MAX_UPDATES, "update_freq": 1, "log_every": 1, "checkpoint_every": CKPT_EVERY,
                  "keep_epoch_checkpoints": 2, "avg_last": 2, "precision": "fp32"},
    }


def new_run(workdir: Path, name: str) -> Path:
    from tasks.config import RunConfig

    run = workdir / name
    run.mkdir(parents=True)
    RunConfig.from_dict(config()).dump(run / "config.yaml")
    return run


def launch(run: Path, failpoint: str = "") -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "NORMBENCH_FAILPOINT": failpoint}
    return subprocess.Popen([sys.executable, "-m", "tasks.train", "--config", str(run / "config.yaml"),
                             "--out", str(run)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(p: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    _, err = p.communicate(timeout=timeout)
    return p.returncode, err


def train_steps(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    if not path.exists():
        return []
    steps = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by the kill
        if rec.get("kind") == "train":
            steps.append(rec["step"])
    return steps


def outcome(run: Path) -> dict:
    """Everything a table or a study could read from the run, minus wall-clock fields."""
    recs = [{k: v for k, v in json.loads(x).items() if k not in WALL_CLOCK}
            for x in (run / "metrics.jsonl").read_text().splitlines()]
    read = lambda name: json.loads((run / name).read_text()) if (run / name).exists() else None  # noqa: E731
    return {"records": recs, "eval": read("eval.json"), "status": read("status.json")}


def resume(run: Path) -> tuple[bool, int, str]:
    """Run to the end; (exit 0, the update it resumed from (0: from scratch), stderr)."""
    rc, err = finish(launch(run))
    m = re.search(r"resuming from .* \(update (\d+)\)", err)
    return rc == 0, int(m.group(1)) if m else 0, err


def fault_trial(run: Path, kind: tuple, rng: random.Random, ref: dict) -> tuple[bool, int, str]:
    """(identical to the reference, lost updates, a one-line description)."""
    how, point, sig = kind
    if how == "failpoint":
        n = rng.randint(1, HITS[point])
        what = f"{sig} at {point}#{n}"
        p = launch(run, f"{point}:{n}:{sig}")
    else:
        k = rng.randint(2, MAX_UPDATES - 6)
        what = f"{sig} after update ~{k}"
        p = launch(run)
        deadline = time.time() + 600
        while p.poll() is None and time.time() < deadline and len(train_steps(run)) < k:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.03))  # land anywhere in the update, the log or a checkpoint write
        if p.poll() is None:
            p.send_signal(getattr(signal, sig))
    rc, err = finish(p)
    expected = -signal.SIGKILL if sig == "SIGKILL" else 75
    steps = train_steps(run)
    before = max(steps, default=0)
    ok_exit = rc == expected or (rc == 0 and (run / "status.json").exists())
    if rc == 0:
        what += " (came after the end: not interrupted)"
    done, start, err2 = resume(run)
    lost = max(0, before - start) if rc != 0 else 0
    same = ok_exit and done and outcome(run) == ref
    detail = f"exit {rc}, resumed from update {start}, lost {lost}"
    if not same:
        detail += f"; DIFFERS (exit ok: {ok_exit}, resume exit 0: {done}) {err2.strip().splitlines()[-1:]}"
    return same, lost, f"{what}: {detail}"


def concurrent_case(run: Path, ref: dict) -> tuple[bool, str]:
    a, b = launch(run), launch(run)
    (ra, ea), (rb, eb) = finish(a), finish(b)
    codes = sorted([ra, rb])
    refused_err = ea if ra == 3 else eb
    named = bool(re.search(r"pid \d+ on host \S+", refused_err))
    ok = codes == [0, 3] and named and outcome(run) == ref
    return ok, f"exits {ra}/{rb}, holder named: {named}, " + ("identical" if ok else "DIFFERS")


def corrupt_case(run: Path, what: str, rng: random.Random, ref: dict) -> tuple[bool, str]:
    from tasks.engine import checkpoint as ckpt

    p = launch(run, "epoch_file_written:3:SIGTERM")  # stops after epoch 3: last, prev, 2 epoch files
    rc, _ = finish(p)
    d = run / "checkpoints"
    targets = {"last": [ckpt.LAST], "prev": [ckpt.PREV], "last+prev": [ckpt.LAST, ckpt.PREV],
               "all": [f.name for f in d.glob("checkpoint*.pt")]}[what]
    for name in targets:
        f = d / name
        data = f.read_bytes()
        if rng.random() < 0.5:
            f.write_bytes(data[: len(data) // 2])  # truncated
        else:
            f.write_bytes(b"\0" * 64 + data[64:])  # overwritten header
    done, start, err = resume(run)
    # every file the resume had to try (all but best; a corrupt prev behind a good last is not read)
    tried = [] if what == "prev" else [n for n in targets if n != ckpt.BEST]
    named = all(name in err for name in tried) and (what != "all" or "from update 0" in err)
    ok = rc == 75 and done and named and outcome(run) == ref
    return ok, f"{what} corrupt ({len(targets)} files): resumed from update {start}, " + (
        "identical" if ok else f"DIFFERS (stop exit {rc}, resume ok {done}, files named {named})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=30, help="signal/kill trials (default 30)")
    ap.add_argument("--concurrent", type=int, default=3, help="concurrent-start cases (default 3)")
    ap.add_argument("--corrupt", type=int, default=4, help="corrupt-checkpoint cases, cycling last/all/last+prev/prev (default 4)")
    ap.add_argument("--seed", type=int, default=None, help="random seed of the fault moments (default: fresh)")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the run directories here (default: a temp dir)")
    ap.add_argument("--jobs", type=int, default=1, help="cases run side by side (default 1)")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="normbench-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"fault injection, seed {seed}, runs in {work}", flush=True)
    t0 = time.time()
    ref_run = new_run(work, "reference")
    rc, err = finish(launch(ref_run))
    if rc != 0:
        print(f"error: the uninterrupted reference run failed (exit {rc}):\n{err}", file=sys.stderr)
        return 1
    ref = outcome(ref_run)
    # Every case gets its own run directory and its own RNG (drawn here, so --seed fixes them all
    # whatever --jobs is); cases are independent processes, so they may run side by side.
    cases = [("trial", i, lambda i=i, r=random.Random(rng.random()): fault_trial(
                 new_run(work, f"trial{i:02d}"), KINDS[i % len(KINDS)], r, ref)) for i in range(args.trials)]
    cases += [("concurrent", i, lambda i=i: concurrent_case(new_run(work, f"concurrent{i}"), ref))
              for i in range(args.concurrent)]
    cases += [("corrupt", i, lambda i=i, r=random.Random(rng.random()): corrupt_case(
                 new_run(work, f"corrupt{i}"), CORRUPT[i % len(CORRUPT)], r, ref)) for i in range(args.corrupt)]
    totals = {"trial": args.trials, "concurrent": args.concurrent, "corrupt": args.corrupt}
    good = {"trial": 0, "concurrent": 0, "corrupt": 0}
    max_lost = 0
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for (kind, i, _), result in zip(cases, pool.map(lambda c: c[2](), cases)):
            ok, line = result[0], result[-1]
            good[kind] += ok
            if kind == "trial":
                max_lost = max(max_lost, result[1])
            print(f"{kind} {i + 1}/{totals[kind]}: {line}", flush=True)
    identical, refused, handled = good["trial"], good["concurrent"], good["corrupt"]
    print(f"({time.time() - t0:.0f} s; checkpoint interval {CKPT_EVERY} updates)", flush=True)
    print(f"faults: {identical}/{args.trials} resumed identically, max lost updates {max_lost}, "
          f"concurrent starts refused {refused}/{args.concurrent}, "
          f"corrupt-checkpoint cases handled {handled}/{args.corrupt}", flush=True)
    held = identical == args.trials and refused == args.concurrent and handled == args.corrupt
    return 0 if held and max_lost <= CKPT_EVERY else 1


if __name__ == "__main__":
    sys.exit(main())
