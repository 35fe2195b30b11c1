"""bench.gpu_check runs on a CPU (--cpu-smoke: tiny sizes, the same code paths), its FLOP count is
the known ViT-B/16 figure, and a section past its time limit is killed and reported, not hung."""
import subprocess
import sys

from bench import gpu_check


def test_vit_b16_training_flops_match_the_known_count():
    # ViT-B/16 at 224: 17.56 GMACs per forward (timm / fvcore count) -> x2 FLOPs x3 for training
    flops = gpu_check.vit_train_flops()
    assert abs(flops / 6 - 17.56e9) / 17.56e9 < 0.01
    assert gpu_check.vit_train_flops(image=448) > 4 * flops  # attention grows faster than linear
    assert gpu_check.peak_flops("NVIDIA H200") == gpu_check.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert gpu_check.peak_flops("some CPU") is None


def test_cpu_smoke_runs_every_measured_section_and_prints_the_goals():
    out = subprocess.run([sys.executable, "-m", "bench.gpu_check", "--cpu-smoke", "--sections", "env", "wmt", "vit",
                          "e2e"], capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    summary = out.stdout.split("=== summary ===")[1]
    for section in ("env", "wmt", "vit", "e2e"):
        assert f"{section:<8}ok" in summary, summary
    # the goal lines of both families reach the summary, with the torch / timm baselines timed
    assert "goal: Pre-LN at least as fast as the reference" in summary
    assert "goal: sigma_reparam overhead over Pre-LN" in summary and "goal: admin overhead over Pre-LN" in summary
    assert "torch.nn.Transformer norm_first=True" in out.stdout and "timm VisionTransformer (tiny)" in out.stdout
    assert "This was a dry-run" in out.stdout  # the e2e snakemake command resolved its DAG


def test_a_section_past_its_limit_is_killed_and_reported():
    ns = type("A", (), dict(cpu_smoke=True, repeats=1, table="xiong_warmup", steps=2, peak_tflops=0.0,
                            e2e_scale="small"))()
    status, lines = gpu_check.run_section("wmt", ns, limit=1)  # importing torch alone takes longer
    assert status.startswith("TIMED OUT after 1 s")
    assert "goal:" not in "\n".join(lines)
