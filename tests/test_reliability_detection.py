"""Issue 10, failure detection on by default: a healthy tiny run stays ok, Adam at lr 30 and a
stalled run are caught with the default config, and the reason names the rule and the numbers."""
import json
import math

import pytest
import torch

from tasks.config import ConfigError, DivergenceConfig, RunConfig
from tasks.engine.divergence import DivergenceMonitor
from tasks.engine.loop import Trainer

CPU = torch.device("cpu")
LOG_V = math.log(32)


def toy_cfg(lr, schedule="constant", warmup=0, updates=60):
    """Default divergence section: nothing here sets a threshold."""
    return RunConfig.from_dict({
        "task": "toy", "run_id": "toy/detect", "seed": 2,
        "batching": {"max_tokens": 1024},
        "model": {"family": "toy", "size": "tiny", "encoder_scheme": "post_ln",
                  "overrides": {"dim": 32, "layers": 2, "dropout": 0.1}},
        "optim": {"name": "adam", "lr": lr},
        "schedule": {"name": schedule, "warmup_updates": warmup, "warmup_init_lr": 1e-7},
        "train": {"max_updates": updates, "log_every": 5, "checkpoint_every": 1000},
    })


def status(run):
    return json.loads((run / "status.json").read_text())


def test_a_healthy_tiny_run_is_ok_with_the_rules_active(tmp_path):
    tr = Trainer(toy_cfg(3e-3, "inverse_sqrt", warmup=10, updates=100), tmp_path / "run")
    assert tr.run() == 0
    assert status(tmp_path / "run")["status"] == "ok"
    assert 0 < tr.monitor.start <= 100 and tr.monitor.window > 0  # the rules did judge this run


def test_adam_at_lr_30_is_caught_as_exploding(tmp_path):
    """Issue 10: lr 30 ended "ok" at loss 94 nats (chance 3.47): far below the 1e4 loss_bound."""
    assert Trainer(toy_cfg(30.0), tmp_path / "run").run() == 0
    st = status(tmp_path / "run")
    assert st["status"] == "diverged" and st["reason"].startswith("exploding loss")
    assert "explode_factor=4.0" in st["reason"] and "log V 3.4657" in st["reason"]
    ev = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert ev["computed"] is False


def test_a_stalled_run_is_caught_as_stuck_at_chance(tmp_path):
    """Issue 10: chance_after defaulted to 0 (off) and nothing set it."""
    assert Trainer(toy_cfg(1e-7), tmp_path / "run").run() == 0
    st = status(tmp_path / "run")
    assert st["status"] == "diverged" and st["reason"].startswith("stuck at chance")
    assert "chance_margin=0.05" in st["reason"] and "progress_margin=0.01" in st["reason"]
    assert 30 <= st["step"] <= 60


def feed(monitor, curve, every=10):
    """Log steps every `every` updates with the NLLs of `curve`; the first failure or None."""
    for i, nll in enumerate(curve, 1):
        out = monitor.check(i * every, nll + 0.05, nll)
        if out:
            return out
    return None


def monitor(planned=1000, warmup=100, **cfg):
    return DivergenceMonitor(DivergenceConfig(**cfg), LOG_V, CPU, planned=planned, warmup=warmup)


def test_no_progress_catches_a_plateau_above_half_of_chance():
    """Deep Post-LN at small scale: a quick fall to the unigram entropy, then flat."""
    curve = [3.4, 3.0, 2.6] + [2.4 + 0.005 * ((-1) ** i) for i in range(97)]  # 2.4 = 0.69 log V
    step, reason = feed(monitor(), curve)
    assert step == 540  # the plateau starts at update 40: a full window of 500 updates later
    assert reason.startswith("no progress: best train nll 2.3950 >= 1.7329")
    assert "progress_level=0.5" in reason and "updates 41-540" in reason


def test_no_progress_spares_healthy_curves():
    converged = [LOG_V * (0.2 + 0.8 * math.exp(-i / 5)) for i in range(100)]  # flat, but at 0.2 log V
    slow = [LOG_V * 0.9 * (1 - 0.0004 * i) for i in range(100)]  # 2% better per half run
    assert feed(monitor(), converged) is None
    assert feed(monitor(), slow) is None


def test_rules_wait_for_the_warmup_and_the_judging_point():
    flat = [LOG_V] * 100
    assert feed(monitor(warmup=2000), flat) is None  # warm-up longer than the run: not judged
    step, reason = feed(monitor(judge_after=0.8), flat)
    assert step == 800 and reason.startswith("stuck at chance")


def test_explosion_at_the_last_log_step_of_a_short_run():
    m = monitor(planned=20, warmup=0)
    assert m.check(10, 20.0, 20.0) is None  # above 4 log V once: patience 5 not reached
    step, reason = m.at_end()
    assert step == 10 and "last log step" in reason


def test_monitor_state_survives_a_resume():
    curve = [3.4, 3.0, 2.6] + [2.4] * 97
    a = monitor()
    for i, nll in enumerate(curve[:30], 1):
        assert a.check(i * 10, nll, nll) is None
    b = monitor()
    b.__init__(a.cfg, LOG_V, CPU, planned=1000, warmup=100, state=a.state())
    rest = [(i * 10, nll) for i, nll in enumerate(curve, 1)][30:]
    assert [a.check(s, n, n) for s, n in rest] == [b.check(s, n, n) for s, n in rest]


@pytest.mark.parametrize("key,value", [("judge_after", 1.5), ("progress_margin", 1.0), ("explode_factor", 0.5),
                                       ("progress_window", -0.1)])
def test_divergence_thresholds_are_validated(key, value):
    with pytest.raises(ConfigError, match=f"divergence.{key}"):
        toy_cfg(1e-3).replace(divergence={key: value})
