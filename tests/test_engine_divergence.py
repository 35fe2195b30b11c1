"""The divergence monitor: non-finite values, a loss bound with patience, stuck at chance."""
import math

import torch

from tasks.config import DivergenceConfig
from tasks.engine.divergence import DivergenceMonitor

CPU = torch.device("cpu")
T = torch.tensor


def test_first_non_finite_update_is_reported():
    m = DivergenceMonitor(DivergenceConfig(), chance_loss=math.log(10), device=CPU)
    m.track(1, T(2.0), T(1.0))
    m.track(2, T(2.0), T(float("inf")))
    m.track(3, T(float("nan")), T(1.0))
    assert m.check(4, 2.0, 2.0) == (2, "non-finite loss or gradient norm")


def test_loss_bound_needs_patience_consecutive_log_steps():
    m = DivergenceMonitor(DivergenceConfig(loss_bound=10.0, patience=3), chance_loss=5.0, device=CPU)
    assert m.check(10, 11.0, 1.0) is None
    assert m.check(20, 11.0, 1.0) is None
    assert m.check(30, 9.0, 1.0) is None  # the streak breaks
    assert m.check(40, 11.0, 1.0) is None
    assert m.check(50, 11.0, 1.0) is None
    step, reason = m.check(60, 11.0, 1.0)
    assert step == 60 and "loss_bound=10.0" in reason


def test_stuck_at_chance_is_checked_once_after_chance_after():
    cfg = DivergenceConfig(chance_after=100, chance_margin=0.05)
    m = DivergenceMonitor(cfg, chance_loss=math.log(32), device=CPU)
    assert m.check(50, 3.4, 3.4) is None  # before chance_after: not judged
    step, reason = m.check(100, 3.4, 0.96 * math.log(32))
    assert step == 100 and reason.startswith("stuck at chance")
    learned = DivergenceMonitor(cfg, chance_loss=math.log(32), device=CPU)
    assert learned.check(120, 2.0, 2.0) is None
    assert learned.chance_checked and learned.check(140, 3.4, 3.4) is None  # judged once only
