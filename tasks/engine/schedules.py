"""Learning-rate schedules as pure functions of (update count, epoch).

Convention (fairseq's): `step` is the number of updates already done, so the first update
uses lr(0) = warmup_init_lr. Epochs are 1-based. After warm-up every schedule is floored at min_lr
(fairseq uses --min-lr as a stop criterion instead; at the recipes' 1e-9 it never fires).

- constant: lr, after an optional linear warm-up.
- inverse_sqrt (fairseq `inverse_square_root_schedule.py`, docs/recipes.md §3.2): for step < W,
  init + step*(lr - init)/W; then lr*sqrt(W)/sqrt(step). With W = 0: lr/sqrt(max(step, 1)).
- linear: warm-up, then linear decay from lr to min_lr at the horizon T.
- cosine (DeiT, docs/recipes.md §7): warm-up, then min_lr + (lr - min_lr)(1 + cos(pi (step-W)/(T-W)))/2.
- step (Xiong sec. 4): lr * gamma^(number of step_epochs <= epoch); with `then:
  inverse_sqrt`, from the last decay epoch on, lr_decayed*sqrt(s0)/sqrt(step) where s0 is
  the update count at which that epoch began ("decayed at the 6th epoch followed by the
  inverse square root scheduler").
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from tasks.config import RunConfig, ScheduleConfig


@dataclass(frozen=True)
class Schedule:
    """A schedule bound to its peak lr and horizon; `lr(step, epoch, epoch_starts)`."""

    cfg: ScheduleConfig
    peak_lr: float
    total_updates: int

    def lr(self, step: int, epoch: int = 1, epoch_starts: dict[int, int] | None = None) -> float:
        """The lr for the update after `step` updates, in epoch `epoch`.

        epoch_starts maps epoch -> update count at its start (only `step` + `then` uses it).
        """
        fn = _SCHEDULES[self.cfg.name]
        value = fn(self, step, epoch, epoch_starts or {})
        if step < self.cfg.warmup_updates:
            return value  # warm-up may start below min_lr (DeiT: from 1e-6 with min-lr 1e-5)
        return max(value, self.cfg.min_lr)


def build_schedule(cfg: RunConfig) -> Schedule:
    """The run's schedule; linear/cosine need a horizon (schedule.total_updates or train.max_updates)."""
    s = cfg.schedule
    total = s.total_updates or cfg.train.max_updates
    if s.name in ("linear", "cosine"):
        if total <= 0:
            raise ValueError(f"schedule.name={s.name} needs a horizon: set schedule.total_updates "
                             "or train.max_updates to a positive number of updates")
        if total <= s.warmup_updates:
            raise ValueError(f"schedule.total_updates ({total}) must exceed schedule.warmup_updates "
                             f"({s.warmup_updates}) for schedule.name={s.name}")
    if s.name != "step" and (s.step_epochs or s.then != "none"):
        raise ValueError(f"schedule.step_epochs/then only apply to schedule.name=step, got name={s.name}")
    return Schedule(cfg=s, peak_lr=cfg.optim.lr, total_updates=total)


def _warmup(sch: Schedule, step: int) -> float | None:
    """Linear warm-up from warmup_init_lr to the peak over W updates; None once it is over."""
    w = sch.cfg.warmup_updates
    if step < w:
        init = sch.cfg.warmup_init_lr
        return init + step * (sch.peak_lr - init) / w
    return None


def _constant(sch: Schedule, step: int, epoch: int, starts: dict) -> float:
    warm = _warmup(sch, step)
    return sch.peak_lr if warm is None else warm


def _inverse_sqrt(sch: Schedule, step: int, epoch: int, starts: dict) -> float:
    warm = _warmup(sch, step)
    if warm is not None:
        return warm
    w = sch.cfg.warmup_updates
    if w == 0:
        return sch.peak_lr / math.sqrt(max(step, 1))
    return sch.peak_lr * math.sqrt(w) / math.sqrt(step)


def _linear(sch: Schedule, step: int, epoch: int, starts: dict) -> float:
    warm = _warmup(sch, step)
    if warm is not None:
        return warm
    w, t, lo = sch.cfg.warmup_updates, sch.total_updates, sch.cfg.min_lr
    frac = min(max((step - w) / (t - w), 0.0), 1.0)
    return sch.peak_lr + (lo - sch.peak_lr) * frac


def _cosine(sch: Schedule, step: int, epoch: int, starts: dict) -> float:
    warm = _warmup(sch, step)
    if warm is not None:
        return warm
    w, t, lo = sch.cfg.warmup_updates, sch.total_updates, sch.cfg.min_lr
    frac = min(max((step - w) / (t - w), 0.0), 1.0)
    return lo + 0.5 * (sch.peak_lr - lo) * (1.0 + math.cos(math.pi * frac))


def _step(sch: Schedule, step: int, epoch: int, starts: dict) -> float:
    warm = _warmup(sch, step)
    if warm is not None:
        return warm
    passed = [e for e in sch.cfg.step_epochs if epoch >= e]
    lr = sch.peak_lr * sch.cfg.step_gamma ** len(passed)
    if sch.cfg.then == "inverse_sqrt" and passed:
        last = max(passed)
        if last not in starts:
            raise ValueError(f"schedule then=inverse_sqrt: the update count at the start of epoch {last} "
                             "is unknown (epoch_starts must record it)")
        s0 = max(starts[last], 1)
        lr = lr * math.sqrt(s0) / math.sqrt(max(step, s0))
    return lr


_SCHEDULES = {
    "constant": _constant,
    "inverse_sqrt": _inverse_sqrt,
    "linear": _linear,
    "cosine": _cosine,
    "step": _step,
}
