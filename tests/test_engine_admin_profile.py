"""Admin profiling entry point: omega for every sublayer, written as JSON, loaded by training."""
import json

import pytest

from tasks.admin_profile import main
from tasks.config import RunConfig
from tasks.engine.loop import Trainer

pytest.importorskip("models.admin")


def admin_cfg(omega=None):
    return RunConfig.from_dict({
        "task": "toy", "seed": 5, "batching": {"max_tokens": 256},
        "model": {"family": "lm", "size": "lm_tiny", "encoder_scheme": "admin", "omega": omega,
                  "overrides": {"layers": 3}},
        "optim": {"name": "radam", "lr": 1e-3},
        "train": {"max_updates": 2, "log_every": 1},
    })


def test_profile_writes_omega_and_training_loads_it(tmp_path):
    cfg_path = tmp_path / "c.yaml"
    admin_cfg().dump(cfg_path)
    out = tmp_path / "omega.json"
    assert main(["--config", str(cfg_path), "--out", str(out)]) == 0
    omega = json.loads(out.read_text())
    values = omega["decoder"]
    assert len(values) == 6 and values[0] == 1.0  # 3 layers x (attn, ffn); omega_1 = 1 (docs/methods.md §3.2)
    assert all(b > a for a, b in zip(values, values[1:]))  # variances accumulate with depth
    tr = Trainer(admin_cfg(str(out)), tmp_path / "run")
    from models.probes import omega_stats
    means = [s["mean"] for s in omega_stats(tr.model).values()]
    assert means == pytest.approx(values)


def test_profile_refuses_a_non_admin_scheme(tmp_path, capsys):
    cfg_path = tmp_path / "c.yaml"
    admin_cfg().replace(model={"encoder_scheme": "pre_ln"}).dump(cfg_path)
    assert main(["--config", str(cfg_path), "--out", str(tmp_path / "o.json")]) == 2
    assert "needs a stack whose scheme has admin_omega" in capsys.readouterr().err
