"""Each schedule matches its formula at chosen steps."""
import math

import pytest

from tasks.config import RunConfig
from tasks.engine.schedules import build_schedule


def sched(**s):
    cfg = RunConfig(task="toy").replace(optim={"lr": 1e-3}, schedule=s, train={"max_updates": 1000})
    return build_schedule(cfg)


def test_inverse_sqrt_fairseq_formula():
    s = sched(name="inverse_sqrt", warmup_updates=100, warmup_init_lr=1e-7)
    assert s.lr(0) == pytest.approx(1e-7)
    assert s.lr(50) == pytest.approx(1e-7 + 50 * (1e-3 - 1e-7) / 100)
    assert s.lr(100) == pytest.approx(1e-3)
    assert s.lr(400) == pytest.approx(1e-3 * math.sqrt(100) / math.sqrt(400))


def test_inverse_sqrt_without_warmup():
    s = sched(name="inverse_sqrt", warmup_updates=0)
    assert s.lr(0) == s.lr(1) == pytest.approx(1e-3)
    assert s.lr(16) == pytest.approx(1e-3 / 4)


def test_constant_with_and_without_warmup():
    assert sched(name="constant", warmup_updates=0).lr(777) == pytest.approx(1e-3)
    s = sched(name="constant", warmup_updates=10, warmup_init_lr=0.0)
    assert s.lr(5) == pytest.approx(5e-4) and s.lr(10) == s.lr(999) == pytest.approx(1e-3)


def test_linear_decay():
    s = sched(name="linear", warmup_updates=100, warmup_init_lr=0.0, min_lr=1e-5, total_updates=1100)
    assert s.lr(50) == pytest.approx(5e-4)
    assert s.lr(100) == pytest.approx(1e-3)
    assert s.lr(600) == pytest.approx(1e-3 + (1e-5 - 1e-3) * 0.5)
    assert s.lr(1100) == s.lr(5000) == pytest.approx(1e-5)


def test_cosine_with_warmup_and_min_lr():
    s = sched(name="cosine", warmup_updates=10, warmup_init_lr=1e-6, min_lr=1e-5, total_updates=110)
    assert s.lr(0) == pytest.approx(1e-6)
    assert s.lr(10) == pytest.approx(1e-3)
    assert s.lr(60) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * 0.5)))
    assert s.lr(110) == pytest.approx(1e-5)


def test_step_decay_xiong_pre_ln():
    """Xiong sec. 4, IWSLT Pre-LN: lr 5e-4 with no warm-up, x0.1 at epoch 8."""
    cfg = RunConfig(task="toy").replace(optim={"lr": 5e-4}, schedule={"name": "step", "warmup_updates": 0,
                                                                      "step_epochs": [8], "step_gamma": 0.1})
    s = build_schedule(cfg)
    assert s.lr(123, epoch=7) == pytest.approx(5e-4)
    assert s.lr(456, epoch=8) == pytest.approx(5e-5)
    assert s.lr(999, epoch=20) == pytest.approx(5e-5)


def test_step_then_inverse_sqrt_xiong_wmt():
    """Xiong sec. 4, WMT: decayed at the 6th epoch followed by inverse sqrt."""
    s = sched(name="step", warmup_updates=0, step_epochs=[6], step_gamma=0.1, then="inverse_sqrt")
    starts = {6: 500}
    assert s.lr(400, epoch=5, epoch_starts=starts) == pytest.approx(1e-3)
    assert s.lr(500, epoch=6, epoch_starts=starts) == pytest.approx(1e-4)
    assert s.lr(2000, epoch=7, epoch_starts=starts) == pytest.approx(1e-4 * math.sqrt(500) / math.sqrt(2000))


def test_min_lr_floors_every_schedule():
    s = sched(name="inverse_sqrt", warmup_updates=0, min_lr=1e-4)
    assert s.lr(10**8) == pytest.approx(1e-4)


def test_bad_schedule_settings_are_named():
    with pytest.raises(ValueError, match="schedule.total_updates"):
        sched(name="linear", warmup_updates=2000, total_updates=1000)
    with pytest.raises(ValueError, match="schedule.step_epochs"):
        sched(name="cosine", warmup_updates=0, step_epochs=[3])
