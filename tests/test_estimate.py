"""The cost estimate: update counts from recipes, finished and partial runs, throughput sources."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from aggregate import estimate as est

REPO = Path(__file__).resolve().parents[1]
RUN = "translation/iwslt14_de_en/transformer_iwslt_de_en-6L-6L/post_ln/admin_iwslt/seed1111"


def _cfg(**over):
    cfg = est.load_config()
    cfg = json.loads(json.dumps(cfg))  # a private copy
    cfg.update(over)
    return cfg


def _run(max_updates, max_epochs, tokens=4096, uf=1):
    return {"run_id": RUN, "task": "translation", "batching": {"max_tokens": tokens},
            "train": {"max_updates": max_updates, "max_epochs": max_epochs, "update_freq": uf}}


def test_updates_come_from_the_cap_or_the_epochs_whichever_ends_first():
    cfg = _cfg(batch_fill=1.0)
    cfg["datasets"]["iwslt14_de_en"]["train_units"] = 4096 * 100  # 100 updates per epoch
    assert est.updates_needed(cfg, _run(100000, 0), "iwslt14_de_en")[0] == 100000
    n, per_update, how = est.updates_needed(cfg, _run(100000, 50), "iwslt14_de_en")
    assert (n, per_update, how) == (5000, 4096.0, "50 epochs")
    assert est.updates_needed(cfg, _run(1000, 50), "iwslt14_de_en")[0] == 1000  # the cap ends it first
    # update_freq multiplies the units per update, so fewer updates make an epoch
    assert est.updates_needed(cfg, _run(0, 50, uf=4), "iwslt14_de_en")[0] == 1250


def test_a_missing_batch_size_names_the_key():
    run = _run(10, 0)
    del run["batching"]
    with pytest.raises(est.EstimateError, match="batching.max_tokens"):
        est.updates_needed(_cfg(), run, "iwslt14_de_en")


def test_measured_rows_are_scaled_by_flops_and_say_so():
    cfg = _cfg(measured=[{"task": "translation", "size": "transformer_iwslt_de_en", "device": "a100",
                          "units_per_s": 1000.0, "command": "python -m bench.translation_speed --device cuda",
                          "run": RUN}])
    same, how = est.throughput(cfg, "a100", "translation", {"size": "transformer_iwslt_de_en"}, 10.0, lambda r: 10.0)
    assert same == 1000.0 and how.startswith("measured")
    double, how = est.throughput(cfg, "a100", "translation", {"size": "transformer_wmt_en_de"}, 20.0, lambda r: 10.0)
    assert double == 500.0 and how.startswith("extrapolated by FLOPs")
    # no measurement on this device: peak FLOP/s x mfu / FLOPs per unit
    peak, how = est.throughput(cfg, "h100", "translation", {"size": "x"}, 1e9, lambda r: 1.0)
    assert peak == pytest.approx(989e12 * cfg["mfu"] / 1e9) and how.startswith("extrapolated:")


def test_finished_runs_are_left_out_and_partial_runs_count_what_is_left(tmp_path, monkeypatch):
    monkeypatch.setattr(est, "count_params", lambda task, model, kwargs: 10_000_000)
    runs = est.target_runs("xiong_warmup", "paper")
    assert len(runs) >= 3
    done, partial = (tmp_path / "paper" / "runs" / r for r in runs[:2])
    done.mkdir(parents=True)
    (done / "status.json").write_text('{"status": "ok", "step": 5, "reason": ""}')
    partial.mkdir(parents=True)
    (partial / "metrics.jsonl").write_text('{"kind": "train", "step": 40000}\n{"kind": "train", "st')
    costs, finished = est.estimate("xiong_warmup", "paper", "a100", str(tmp_path))
    assert finished == 1 and len(costs) == len(runs) - 1
    by_id = {c.run_id: c for c in costs}
    assert runs[0] not in by_id
    full = [c for c in costs if c.done.startswith("not started")][0]
    part = by_id[runs[1]]
    assert part.done.startswith("40000 of")
    assert part.updates == int(part.done.split(" of ")[1].split()[0]) - 40000
    assert all(c.gpu_hours > 0 for c in costs) and full.units > 0


def test_unknown_target_is_a_clear_error():
    with pytest.raises(est.EstimateError, match="unknown experiment .no_such_table."):
        est.target_runs("no_such_table", "paper")


def test_cli_prints_gpu_hours_for_admin_table2_at_paper_scale(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "aggregate.estimate", "admin_table2", "--scale", "paper",
                           "--results", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "GPU-hours" in proc.stdout
    total = float(proc.stdout.split("Total: ")[1].split(" GPU-hours")[0].replace(",", ""))
    assert total > 100  # 30 runs incl. WMT'14 En-Fr 60L-12L for 50 epochs
    assert "wmt14_en_fr/transformer_wmt_en_de-60L-12L" in proc.stdout
