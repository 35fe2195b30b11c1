"""Failure detection (DESIGN "Runs, results, tables"): the ways a run fails, on by default.

Checked at log steps on the window's mean train loss and NLL (per unit, nats); P is the run's
planned number of updates, log V the task's chance loss (uniform prediction).
1. Non-finite: a NaN/inf loss or gradient norm at any update (tracked on the device, read at
   log steps only, so ordinary steps need no host synchronisation).
2. Exploding: the loss above min(divergence.loss_bound, explode_factor * log V) for
   divergence.patience consecutive log steps, or at the run's last log step (a tiny run may
   have fewer log steps than the patience). Adam at lr 30 sits at ~90 nats for log V ~3.5.
3. Stuck at chance: from update max(warm-up, judge_after * P) on, the best NLL of the last
   progress_window * P updates is still >= (1 - chance_margin) * log V and improved by less
   than progress_margin (relative) on the best NLL before that window.
4. No progress: the same flat window while the NLL is >= progress_level * log V: how deep
   Post-LN fails at small scale, stalled near the unigram entropy rather than at log V.
   A converged healthy run is flat too, but far below half of log V (toy ~0.2, translation
   ~0.25-0.4 log V), and a healthy run in training improves by more than 1% per half run.
5. Optional, absolute (divergence.chance_after > 0): at the first log step at or after that
   update, the NLL must be below (1 - chance_margin) * log V (judged once).
NLL, not the smoothed loss, for 3-5: both equal log V for the uniform prediction, but the
smoothed loss of a trained model stays above its NLL. Rules 3-4 need P (from train.max_updates
or max_epochs); they are off when the warm-up lasts the whole run (nothing to judge yet).
"""
from __future__ import annotations

import math

import torch

from tasks.config import DivergenceConfig


def planned_updates(cfg, task=None, world: int = 1) -> int:
    """The run's planned updates P: train.max_updates, or max_epochs * updates per epoch
    (from the task's epoch-1 batch list) when that ends the run first; 0 if unknown."""
    t = cfg.train
    limits = [t.max_updates] if t.max_updates > 0 else []
    if t.max_epochs > 0 and task is not None and hasattr(task, "epoch_batches"):
        per_epoch = (len(task.epoch_batches(1)) // max(world, 1)) // max(t.update_freq, 1)
        if per_epoch > 0:
            limits.append(t.max_epochs * per_epoch)
    return min(limits) if limits else 0


class DivergenceMonitor:
    def __init__(self, cfg: DivergenceConfig, chance_loss: float, device: torch.device,
                 over_bound: int = 0, chance_checked: bool = False, *, planned: int = 0,
                 warmup: int = 0, state: dict | None = None):
        self.cfg = cfg
        self.chance_loss = chance_loss
        self.over_bound = over_bound
        self.chance_checked = chance_checked
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.bound = cfg.loss_bound
        if cfg.explode_factor > 0 and math.isfinite(chance_loss) and chance_loss > 0:
            self.bound = min(cfg.loss_bound, cfg.explode_factor * chance_loss)
        # Rules 3-4: judged from `start` over `window` updates (both 0 = off).
        self.window = max(1, round(cfg.progress_window * planned)) if planned > 0 and cfg.progress_window > 0 else 0
        self.start = max(warmup, math.ceil(cfg.judge_after * planned)) if self.window else 0
        if self.start > planned:
            self.window = self.start = 0  # the warm-up fills the run
        self.ref_best = math.inf  # best NLL logged before the current window
        self.recent: list[list[float]] = []  # [step, nll] of the log steps inside the window
        self.last = None  # (step, loss) of the last check, for the end-of-run rule
        if state:
            self.over_bound, self.chance_checked = state["over_bound"], state["chance_checked"]
            self.ref_best, self.recent = state.get("ref_best", math.inf), [list(r) for r in state.get("recent", [])]
            self.last = tuple(state["last"]) if state.get("last") else None

    def track(self, step: int, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        """Record `step` as the first bad update if loss or grad norm is non-finite (on device)."""
        bad = ~torch.isfinite(loss + grad_norm)  # one check for both (a sum with inf/nan is not finite)
        self.first_bad = torch.where(bad & (self.first_bad < 0), step, self.first_bad)

    def check(self, step: int, window_loss: float, window_nll: float) -> tuple[int, str] | None:
        """At a log step: (step, reason) when the run has failed, else None."""
        first_bad = int(self.first_bad.item())
        if first_bad >= 0:
            return first_bad, "non-finite loss or gradient norm"
        if not (math.isfinite(window_loss) and math.isfinite(window_nll)):
            return step, "non-finite loss"
        self.last = (step, window_loss)
        if window_loss > self.bound:
            self.over_bound += 1
            if self.over_bound >= self.cfg.patience:
                return step, self._explode_reason(step, window_loss)
        else:
            self.over_bound = 0
        c = self.cfg
        if c.chance_after > 0 and not self.chance_checked and step >= c.chance_after:
            self.chance_checked = True
            limit = (1.0 - c.chance_margin) * self.chance_loss
            if window_nll >= limit:
                return step, (f"stuck at chance: train nll {window_nll:.4f} >= {limit:.4f} "
                              f"((1 - divergence.chance_margin={c.chance_margin}) * log V) at update {step} "
                              f"(divergence.chance_after={c.chance_after})")
        return self._flat(step, window_nll)

    def _flat(self, step: int, nll: float) -> tuple[int, str] | None:
        """Rules 3-4 (see the module docstring)."""
        if not self.window:
            return None
        self.recent.append([step, nll])
        while self.recent and self.recent[0][0] <= step - self.window:
            self.ref_best = min(self.ref_best, self.recent.pop(0)[1])
        if step < self.start or not math.isfinite(self.ref_best):
            return None
        best = min(n for _, n in self.recent)
        gain = (self.ref_best - best) / self.ref_best if self.ref_best > 0 else 0.0
        c = self.cfg
        if gain >= c.progress_margin:
            return None
        since = step - self.window + 1
        flat = (f"its best train nll over updates {since}-{step} changed by {-100 * gain:+.2f}% on the best "
                f"before them ({self.ref_best:.4f} -> {best:.4f}; needed: -{100 * c.progress_margin:g}%, "
                f"divergence.progress_margin={c.progress_margin} over divergence.progress_window="
                f"{c.progress_window} of the run, judged from update {self.start})")
        at_chance = (1.0 - c.chance_margin) * self.chance_loss
        if best >= at_chance:
            return step, (f"stuck at chance: best train nll {best:.4f} >= {at_chance:.4f} = (1 - divergence."
                          f"chance_margin={c.chance_margin}) * log V {self.chance_loss:.4f}, and {flat}")
        level = c.progress_level * self.chance_loss
        if best >= level:
            return step, (f"no progress: best train nll {best:.4f} >= {level:.4f} = divergence.progress_level="
                          f"{c.progress_level} * log V {self.chance_loss:.4f}, and {flat}")
        return None

    def at_end(self) -> tuple[int, str] | None:
        """At the end of training: a run whose last logged loss is above the explosion bound has
        diverged even if it ran out of log steps before the patience."""
        if self.last is not None and self.over_bound > 0 and self.last[1] > self.bound:
            return self.last[0], self._explode_reason(*self.last, at_end=True)
        return None

    def _explode_reason(self, step: int, loss: float, at_end: bool = False) -> str:
        c = self.cfg
        what = ("at the run's last log step" if at_end and self.over_bound < c.patience else
                f"for {self.over_bound} consecutive log steps (divergence.patience={c.patience})")
        return (f"exploding loss: train loss {loss:.4g} > {self.bound:.4g} = min(divergence.loss_bound="
                f"{c.loss_bound}, divergence.explode_factor={c.explode_factor} * log V {self.chance_loss:.4f}) "
                f"{what}, at update {step}")

    def state(self) -> dict:
        return {"over_bound": self.over_bound, "chance_checked": self.chance_checked,
                "ref_best": self.ref_best, "recent": [list(r) for r in self.recent],
                "last": list(self.last) if self.last else None}
