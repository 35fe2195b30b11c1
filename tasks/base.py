"""The interface every task implements; the training loop (`tasks.engine.loop`) sees only this.

Data contract: a task says *which* examples form each batch of an epoch (`epoch_batches`,
a pure function of (cfg.seed, epoch)) and *how* to turn a list of indices into a batch
(`build_batch`: read, decode, augment, collate). The engine (`tasks.engine.data`) owns the
DataLoader: it shards the epoch's batches over ranks so each rank builds only its share, runs
`build_batch` in worker processes with pinned memory, and resumes mid-epoch by skipping indices
without building the skipped batches.

A batch is a dict of CPU tensors (and plain numbers); the loop moves it to the device with
`move_to`. By convention `batch["net_input"]` holds the model's keyword arguments and
`batch["target"]` the targets, but only the task's own `loss` reads them.
"""
from __future__ import annotations

import abc
from pathlib import Path

import numpy as np
import torch
from torch import nn


class Task(abc.ABC):
    """One training problem: data, model, loss and evaluation, built from a RunConfig.

    Subclasses set `chance_loss`: the per-unit loss of the uniform prediction (log V or
    log n_classes, in nats); the "stuck at chance" failure check compares with it.
    """

    chance_loss: float

    def __init__(self, cfg):
        self.cfg = cfg

    @abc.abstractmethod
    def build_model(self) -> nn.Module:
        """A freshly initialised model (the caller seeds the RNG before calling)."""

    @abc.abstractmethod
    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The batches of epoch `epoch` (1-based) as arrays of training-example indices.

        A function of (cfg.seed, epoch) only: never of the global RNG or of the rank.
        """

    @abc.abstractmethod
    def build_batch(self, indices: np.ndarray, epoch: int) -> dict:
        """The training batch of these examples. Runs in a DataLoader worker: any randomness
        (augmentation) must come from `tasks.engine.data.seeded(cfg.seed, epoch, indices)`."""

    @abc.abstractmethod
    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        """(summed loss over the batch's units, logs).

        logs holds at least "units" (number of target tokens, frames or samples; int or 0-d
        tensor) and "nll_sum" (summed negative log-likelihood in nats, a tensor).
        """

    @abc.abstractmethod
    def valid_loss(self, model: nn.Module) -> dict:
        """{"valid_loss": per-unit loss, "valid_nll": per-unit NLL, ...} on the validation split."""

    @abc.abstractmethod
    def final_eval(self, model: nn.Module, run_dir: Path) -> dict:
        """The run's final scores (the keys of the task record's metrics); written to eval.json."""

    def probe_batch(self) -> dict:
        """A fixed batch for the probes and Admin profiling: the first training batch of epoch 1."""
        return self.build_batch(self.epoch_batches(1)[0], 1)

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
