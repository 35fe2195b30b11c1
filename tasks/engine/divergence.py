"""Divergence as a result (DESIGN "Runs, results, tables"): the two ways a run fails.

1. It explodes: a non-finite loss or gradient norm at any update, or a logged loss above
   divergence.loss_bound for divergence.patience consecutive log steps.
2. It never leaves chance: at the first log step at or after divergence.chance_after
   updates, the window's mean train NLL is still >= (1 - chance_margin) * log V.
   (NLL, not the smoothed loss: both equal log V for the uniform prediction, but the
   smoothed loss of a trained model stays above its NLL.)
Non-finite values are tracked on the device (first bad update) and read at log steps only,
so ordinary steps need no host synchronisation.
"""
from __future__ import annotations

import math

import torch

from tasks.config import DivergenceConfig


class DivergenceMonitor:
    def __init__(self, cfg: DivergenceConfig, chance_loss: float, device: torch.device,
                 over_bound: int = 0, chance_checked: bool = False):
        self.cfg = cfg
        self.chance_loss = chance_loss
        self.over_bound = over_bound
        self.chance_checked = chance_checked
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)

    def track(self, step: int, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        """Record `step` as the first bad update if loss or grad norm is non-finite (on device)."""
        bad = ~torch.isfinite(loss + grad_norm)  # one check for both (a sum with inf/nan is not finite)
        self.first_bad = torch.where(bad & (self.first_bad < 0), step, self.first_bad)

    def check(self, step: int, window_loss: float, window_nll: float) -> tuple[int, str] | None:
        """At a log step: (step, reason) when the run has diverged, else None."""
        first_bad = int(self.first_bad.item())
        if first_bad >= 0:
            return first_bad, "non-finite loss or gradient norm"
        if not math.isfinite(window_loss):
            return step, "non-finite loss"
        if window_loss > self.cfg.loss_bound:
            self.over_bound += 1
            if self.over_bound >= self.cfg.patience:
                return step, (f"loss above divergence.loss_bound={self.cfg.loss_bound} for "
                              f"{self.cfg.patience} consecutive log steps")
        else:
            self.over_bound = 0
        if self.cfg.chance_after > 0 and not self.chance_checked and step >= self.cfg.chance_after:
            self.chance_checked = True
            limit = (1.0 - self.cfg.chance_margin) * self.chance_loss
            if window_nll >= limit:
                return step, (f"stuck at chance: train nll {window_nll:.4f} >= {limit:.4f} "
                              f"((1 - {self.cfg.chance_margin}) * log V) at update {step}")
        return None

    def state(self) -> dict:
        return {"over_bound": self.over_bound, "chance_checked": self.chance_checked}
