"""Every GPU figure in one prepared run (one H100/H200, <= 8 minutes), and the GPU path end to end.

    python -m bench.gpu_check                    # on the GPU machine
    python -m bench.gpu_check --cpu-smoke        # seconds on a CPU: tiny sizes, same code paths
    python -m bench.gpu_check --sections wmt vit # a subset

Sections (each in its own process with its own time limit, so a hang or a crash in one costs
only that section; output streams as it comes, and a summary of every goal line ends the run):
  env     GPU, torch, CUDA, bf16, the peak bf16 FLOP/s the MFU figures divide by;
  wmt     bf16 training tokens/s per scheme at WMT base beside torch.nn.Transformer
          (bench.side_by_side: 4,096 target tokens, label-smoothed CE, Adam), peak memory;
  vit     ViT-B/16 images/s per scheme beside timm, batch 32, with MFU (analytic FLOPs), peak memory;
  probes  the cost of the probes: a Pre-LN step with probes switched off vs the attention-entropy
          probe on, and the amortised cost at the small scale's probe cadence;
  loader  the translation DataLoader's throughput (batches/s, sentences/s) on generated data;
  e2e     one table target through snakemake at a reduced small scale on CUDA (bf16 autocast,
          capped updates, a checkpoint, an injected stop and a resume), ending with its CSV; then
          one of its runs again under torchrun with one process.
Goals printed beside the figures: Pre-LN >= 1.0x the torch/timm baselines (step-time ratio
<= 1.00), sigma-reparam and Admin <= 1.10x Pre-LN, ViT-B/16 MFU >= 40%.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

# seconds per section on the GPU (sum 480 s = 8 min); --cpu-smoke uses its own small limits
BUDGET = {"env": 15, "wmt": 80, "vit": 80, "probes": 25, "loader": 35, "e2e": 245}
SMOKE_BUDGET = {"env": 30, "wmt": 60, "vit": 60, "probes": 40, "loader": 60, "e2e": 30}
SECTIONS = tuple(BUDGET)
GOAL_MFU = 0.40
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense bf16 tensor-core peaks


def vit_train_flops(image=224, patch=16, d=768, layers=12, mlp=3072, classes=1000) -> float:
    """Training FLOPs per image of a ViT (forward x 3: backward is twice the forward's matmuls).

    Forward, multiply-adds x 2: patch embedding n*(3 p^2)*d; per block q,k,v,o projections
    4 N d^2, MLP 2 N d mlp, attention scores and weighted sum 2 N^2 d (N = n + 1 with the class
    token); head d*classes. ViT-B/16: 17.6 GMACs forward, 105 GFLOPs per training image."""
    n = (image // patch) ** 2
    tokens = n + 1
    fwd_macs = n * 3 * patch * patch * d + layers * (4 * tokens * d * d + 2 * tokens * d * mlp
                                                      + 2 * tokens * tokens * d) + d * classes
    return 3 * 2 * fwd_macs


def peak_flops(device_name: str) -> float | None:
    return next((v for k, v in PEAK_BF16.items() if k in device_name), None)


# ------------------------------------------------------------------------------ sections
def section_env(a) -> None:
    import torch
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA build {torch.version.cuda}")
    if a.cpu_smoke:
        print("cpu-smoke: no GPU figures; tiny sizes on the CPU exercise the same code")
        return
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible (use --cpu-smoke on a CPU)")
    name = torch.cuda.get_device_name(0)
    free, total = torch.cuda.mem_get_info()
    peak = a.peak_tflops * 1e12 if a.peak_tflops else peak_flops(name)
    print(f"GPU {name}, {total / 2**30:.0f} GiB ({free / 2**30:.0f} free), bf16 {torch.cuda.is_bf16_supported()}, "
          f"peak bf16 dense {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s assumed for MFU")


def _side_args(a, extra: list[str]):
    from bench import side_by_side as sbs
    argv = ["--device", "cpu" if a.cpu_smoke else "cuda"] + extra
    argv += ["--batched-sigma"]  # the per-layer and the batched power steps, side by side
    if a.cpu_smoke:
        argv += ["--model-scale", "tiny", "--repeats", "1", "--schemes", "pre_ln", "admin", "sigma_reparam"]
    else:
        argv += ["--repeats", str(a.repeats)]
    return sbs, sbs.parser().parse_args(argv)


def _memory_line(entries, device) -> None:
    import torch
    if device.type != "cuda":
        return
    print(f"  peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB allocated over the section "
          f"(all its models resident), {torch.cuda.max_memory_reserved() / 2**30:.1f} GiB reserved")


def section_wmt(a) -> None:
    import torch
    sbs, args = _side_args(a, ["--families", "wmt"] + ([] if a.cpu_smoke else ["--tokens", "4096"]))
    device = torch.device(args.device)
    deadline = time.monotonic() + 0.8 * a.limit
    entries = sbs.run_wmt(args, device, amp=device.type == "cuda", log=lambda s: print(s, flush=True),
                          deadline=deadline)
    _memory_line(entries, device)


def section_vit(a) -> None:
    import torch
    sbs, args = _side_args(a, ["--families", "vit"] + (["--vit-batch", "2"] if a.cpu_smoke else ["--vit-batch", "32"]))
    device = torch.device(args.device)
    cfg = sbs.VIT_SIZES[args.model_scale]["timm"]
    flops = vit_train_flops(cfg["img_size"], cfg["patch_size"], cfg["embed_dim"], cfg["depth"],
                            int(cfg["embed_dim"] * cfg["mlp_ratio"]))
    peak = None if a.cpu_smoke else (a.peak_tflops * 1e12 if a.peak_tflops else peak_flops(torch.cuda.get_device_name(0)))

    def mfu(entry, step_s):
        """MFU"""
        if not peak:
            return "-"
        m = args.vit_batch * flops / step_s / peak
        return f"{100 * m:.1f}% ({'met' if m >= GOAL_MFU else 'NOT met'}; goal >= {100 * GOAL_MFU:.0f}%)"
    print(f"analytic training FLOPs per image: {flops / 1e9:.1f} GFLOP")
    deadline = time.monotonic() + 0.8 * a.limit
    entries = sbs.run_vit(args, device, amp=device.type == "cuda", log=lambda s: print(s, flush=True),
                          deadline=deadline, extra=mfu)
    best = [e for e in entries if e.scheme == "pre_ln" and e.times]
    if best and peak:
        m = args.vit_batch * flops / sbs.median(best[0]) / peak
        print(f"  goal: ViT-B/16 Pre-LN MFU {100 * m:.1f}% ({'met' if m >= GOAL_MFU else 'NOT met'}; goal >= 40%)")
    _memory_line(entries, device)


def section_probes(a) -> None:
    import statistics

    import torch
    from bench import side_by_side as sbs
    from models.probes import attention_entropy

    device = torch.device("cpu" if a.cpu_smoke else "cuda")
    scale = "tiny" if a.cpu_smoke else "paper"
    cfg = dict(sbs.WMT_SIZES[scale])
    size = cfg.pop("size")
    from models import build_model
    torch.manual_seed(0)
    model = build_model("translation", size, encoder_scheme="pre_ln", src_vocab=cfg["vocab"], share="all").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    batch = sbs.wmt_batch(64 if a.cpu_smoke else 4096, 32, cfg["vocab"], device)
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else \
        (lambda: torch.autocast("cpu", enabled=False))

    def step(probe: bool):
        with amp():
            if probe:  # the probe's own forward (as the engine runs it at its cadence) + the step
                with torch.no_grad():
                    attention_entropy(model, lambda: model(batch["src"], batch["prev"]))
            loss = sbs.smoothed_ce(model(batch["src"], batch["prev"]), batch["tgt"]) / batch["ntokens"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    times = {False: [], True: []}
    rounds = 1 if a.cpu_smoke else a.repeats
    step(False), step(True)  # warm-up both
    for _ in range(rounds):
        for probe in (False, True):
            sbs.sync(device)
            t = time.perf_counter()
            step(probe)
            sbs.sync(device)
            times[probe].append(time.perf_counter() - t)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    every = 50  # config/scales/small.yaml: translation probes_every floor
    print(f"WMT {size} Pre-LN step: probes off {off:.4f} s, attention-entropy probe on {on:.4f} s "
          f"(+{100 * (on / off - 1):.1f}% on a probe step); amortised at one probe step per {every}: "
          f"+{100 * (on / off - 1) / every:.2f}%")
    print("  switched off, a probe is one attribute check per attention call: the 'off' step is the "
          "plain training step timed in the wmt section")


def section_loader(a) -> None:
    import tempfile
    from pathlib import Path

    from tasks.engine.data import make_loader
    from tasks.translation import make_tiny
    from tasks.translation.prepare import prepare

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_tiny.make("iwslt14_de_en", root / "raw", "tiny", seed=1)
        prepare("iwslt14_de_en", root / "raw", root / "data", "admin", bpe_merges=300, workers=1)
        task = _translation_task(root / "data", max_tokens=4096)
        batches = task.epoch_batches(0)
        n_sent = sum(len(b) for b in batches)
        for workers in ((0, 2) if a.cpu_smoke else (0, 4, 8)):
            t = time.perf_counter()
            n = epochs = 0
            while epochs == 0 or (not a.cpu_smoke and time.perf_counter() - t < 3.0):
                for _ in make_loader(task, task.epoch_batches(epochs), epochs, workers, 4, pin=not a.cpu_smoke):
                    n += 1
                epochs += 1
            dt = time.perf_counter() - t
            print(f"DataLoader, {workers} workers: {n} batches ({epochs} epochs of {len(batches)} batches, "
                  f"{n_sent} sentences, max_tokens 4096) in {dt:.2f} s: {n / dt:.1f} batches/s, "
                  f"{epochs * n_sent / dt:.0f} sentences/s (worker start-up each epoch included)", flush=True)


LOADER_RUN = "translation/iwslt14_de_en/transformer_iwslt_de_en-6L-6L/pre_ln/xiong_adam_wu4000_lr5e-4/seed1"


def _translation_task(data_dir, max_tokens):
    """A translation Task on prepared data, from a run config resolved by `python -m tasks.resolve`
    (the workflow's own entry point) with data.dir and batching.max_tokens replaced."""
    import tempfile

    import yaml
    from tasks.config import RunConfig
    from tasks.registry import build_task

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "config.yaml")
        subprocess.run([sys.executable, "-m", "tasks.resolve", "--scale", "tiny", "--run", LOADER_RUN,
                        "--results", tmp, "--out", path], check=True, capture_output=True, text=True)
        with open(path) as f:
            cfg = yaml.safe_load(f)
        cfg["data"]["dir"] = str(data_dir)
        cfg.setdefault("batching", {})["max_tokens"] = max_tokens
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f)
        return build_task(RunConfig.load(path))


def section_e2e(a) -> None:
    from bench import gpu_e2e
    gpu_e2e.run(a)


RUNNERS = {"env": section_env, "wmt": section_wmt, "vit": section_vit, "probes": section_probes,
           "loader": section_loader, "e2e": section_e2e}


# ------------------------------------------------------------------------------- driver
def run_section(name: str, a, limit: int) -> tuple[str, list[str]]:
    """Run one section in a child process (own process group), streaming its output; kill it at
    `limit` seconds. Returns (status, its output lines)."""
    cmd = [sys.executable, "-m", "bench.gpu_check", "--section", name, "--limit", str(limit),
           "--repeats", str(a.repeats), "--table", a.table, "--steps", str(a.steps), "--e2e-scale", a.e2e_scale]
    cmd += (["--cpu-smoke"] if a.cpu_smoke else []) + (["--peak-tflops", str(a.peak_tflops)] if a.peak_tflops else [])
    print(f"\n=== {name} (limit {limit} s) ===", flush=True)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            start_new_session=True)
    lines: list[str] = []
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    status = None
    while status is None:
        left = limit - (time.monotonic() - t0)
        if left <= 0:  # SIGTERM first: the e2e section then kills the snakemake group it started
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            status = f"TIMED OUT after {limit} s (partial output above)"
            break
        if sel.select(timeout=min(left, 1.0)):
            line = proc.stdout.readline()
            if line:
                lines.append(line.rstrip("\n"))
                print("  " + lines[-1], flush=True)
                continue
        if proc.poll() is not None:
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                print("  " + lines[-1], flush=True)
            status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
    print(f"=== {name}: {status} in {time.monotonic() - t0:.0f} s ===", flush=True)
    return status, lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu-smoke", "--dry", dest="cpu_smoke", action="store_true",
                    help="CPU, tiny sizes, one round: checks the script runs (seconds to a minute)")
    ap.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    ap.add_argument("--repeats", type=int, default=10, help="timed rounds per model on the GPU")
    ap.add_argument("--table", default="xiong_warmup", help="the table target of the e2e section")
    ap.add_argument("--steps", type=int, default=30, help="updates per run in the e2e section")
    ap.add_argument("--e2e-scale", default="small", choices=("small", "tiny"),
                    help="scale of the e2e section (tiny: the full e2e on a CPU, for checking it)")
    ap.add_argument("--peak-tflops", type=float, default=0.0, help="peak bf16 TFLOP/s (default: by GPU name)")
    ap.add_argument("--section-limit", type=int, default=0, help="seconds per section, replacing the budgets")
    ap.add_argument("--section", choices=SECTIONS, help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.section:  # child: one section
        import warnings
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.nn\.modules\.transformer")
        RUNNERS[a.section](a)
        return 0
    budget = SMOKE_BUDGET if a.cpu_smoke else BUDGET
    if a.section_limit:
        budget = {s: a.section_limit for s in SECTIONS}
    t0 = time.monotonic()
    print(f"bench.gpu_check: sections {' '.join(a.sections)}; {'CPU smoke' if a.cpu_smoke else 'GPU'}; "
          f"limit {sum(budget[s] for s in a.sections)} s", flush=True)
    results = {s: run_section(s, a, budget[s]) for s in a.sections}
    print("\n=== summary ===")
    for s, (status, lines) in results.items():
        print(f"{s:<8}{status}")
        for line in lines:
            if "goal:" in line or "peak GPU memory" in line or line.startswith("DataLoader") or "probes off" in line \
                    or line.startswith("CSV") or line.startswith("resume:"):
                print(f"        {line.strip()}")
    print(f"total {time.monotonic() - t0:.0f} s")
    return 0 if all(st == "ok" for st, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
