"""The interface every task implements; the training loop (`tasks.engine.loop`) sees only this.

A batch is a dict of CPU tensors (and plain numbers); the loop moves it to the device with
`move_to`. By convention `batch["net_input"]` holds the model's keyword arguments and
`batch["target"]` the targets, but only the task's own `loss` reads them.
"""
from __future__ import annotations

import abc
import itertools
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from tasks.config import RunConfig


class Task(abc.ABC):
    """One training problem: data, model, loss and evaluation, built from a RunConfig.

    Subclasses set `chance_loss` (the per-unit loss of the uniform prediction, log V in
    nats; the "stuck at chance" divergence check compares with it) and `units_name`
    ("tokens" or "samples": what the loss is normalised by and throughput counts).
    """

    chance_loss: float
    units_name: str = "tokens"

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg

    @abc.abstractmethod
    def build_model(self) -> nn.Module:
        """A freshly initialised model (the caller seeds the RNG before calling)."""

    @abc.abstractmethod
    def train_batches(self, epoch: int) -> Iterator[dict]:
        """Batches of epoch `epoch` (1-based), deterministic given (cfg.seed, epoch).

        The order must not depend on the global RNG: the loop resumes an epoch by skipping
        the batches it already consumed.
        """

    @abc.abstractmethod
    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        """(summed loss over the batch's units, logs).

        logs holds at least "units" (number of target tokens or samples; int or 0-d
        tensor) and "nll_sum" (summed negative log-likelihood in nats, a tensor).
        """

    @abc.abstractmethod
    def valid_loss(self, model: nn.Module) -> dict:
        """{"valid_loss": per-unit loss, "valid_nll": per-unit NLL} on the validation split."""

    @abc.abstractmethod
    def final_eval(self, model: nn.Module, run_dir: Path) -> dict:
        """The run's final scores (BLEU, accuracy, ...); the loop writes them to eval.json."""

    def train_batches_from(self, epoch: int, start: int) -> Iterator[dict]:
        """The batches of `epoch` from position `start` on (a resume mid-epoch).

        The default skips through `train_batches`; a task whose batches are costly to build
        can override this to skip without building them.
        """
        return itertools.islice(self.train_batches(epoch), start, None)

    def probe_batch(self) -> dict:
        """A fixed batch for the probes: the first training batch of epoch 1."""
        return next(iter(self.train_batches(1)))

    def forward_for_probe(self, model: nn.Module, batch: dict) -> None:
        """One forward pass on `batch`, used by probes that hook into the attention."""
        model(**batch["net_input"])


def move_to(batch, device: torch.device):
    """Recursively move the tensors of a batch to `device` (non-blocking from pinned memory)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device) for v in batch)
    return batch
