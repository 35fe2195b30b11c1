"""The engine's side of the data contract (tasks/base.py): sharding, DataLoader, seeding.

`rank_batches` gives rank r the batches r, r+W, r+2W, ... of the epoch's list (a trailing group
shorter than the world size is dropped, so every rank takes the same number of steps and DDP's
collectives never hang). A resume at global batch position `start` (a multiple of W at update
boundaries) skips start // W entries of that list: nothing skipped is built.

`make_loader` builds a torch DataLoader over those index arrays: `build_batch` runs in
`data.workers` worker processes (or in the main process when 0), batches are pinned for a
non-blocking copy to the GPU, and `data.prefetch` batches are prepared ahead per worker.
"""
from __future__ import annotations

import contextlib
import hashlib
import random
import signal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


def rank_batches(batches: list, rank: int, world: int, start: int = 0) -> list:
    """Rank `rank`'s batches of an epoch, from global position `start` on."""
    usable = len(batches) - len(batches) % world
    mine = batches[rank:usable:world]
    return mine[start // world:]


class _Builder(Dataset):
    """Maps an index array to a built batch; the DataLoader's sampler yields the arrays."""

    def __init__(self, task, epoch: int):
        self.task, self.epoch = task, epoch

    def __getitem__(self, indices):
        return self.task.build_batch(np.asarray(indices), self.epoch)

    def __len__(self):  # not used: the sampler decides what is built
        return 0


def make_loader(task, batches: list, epoch: int, workers: int, prefetch: int, pin: bool):
    """An iterable of built batches, in the order of `batches` (whatever the worker count)."""
    if workers <= 0:
        return (task.build_batch(np.asarray(b), epoch) for b in batches)
    return DataLoader(_Builder(task, epoch), sampler=batches, batch_size=None, num_workers=workers,
                      pin_memory=pin, prefetch_factor=max(1, prefetch), persistent_workers=False,
                      collate_fn=_identity, worker_init_fn=_worker_init,
                      # the loader's own seed, so starting workers never draws from the global RNG
                      # (which would shift dropout and resume); batches seed themselves (`seeded`)
                      generator=torch.Generator().manual_seed(epoch))


def _identity(x):
    return x


def _worker_init(worker_id: int) -> None:
    """Workers ignore SIGINT and SIGTERM: Ctrl-C or the cluster's warning signal goes to the whole
    process group, and the trainer must keep fetching batches until it has checkpointed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def batch_seed(seed: int, epoch: int, indices) -> int:
    """A 63-bit seed determined by (run seed, epoch, the batch's example indices)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(np.asarray([seed, epoch], dtype=np.int64).tobytes())
    h.update(np.asarray(indices, dtype=np.int64).tobytes())
    return int.from_bytes(h.digest(), "little") >> 1


@contextlib.contextmanager
def seeded(seed: int, epoch: int, indices):
    """Seed Python's, NumPy's and torch's global RNGs from (seed, epoch, indices) for the
    duration of the block, then restore them: augmentation libraries that draw from the global
    RNGs (timm, torchvision) become a function of the batch, in a worker or in the main process.
    Yields a numpy Generator seeded the same way."""
    s = batch_seed(seed, epoch, indices)
    py, npy, th = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    random.seed(s)
    np.random.seed(s % 2**32)
    torch.manual_seed(s)
    try:
        yield np.random.default_rng(s)
    finally:
        random.setstate(py)
        np.random.set_state(npy)
        torch.random.set_rng_state(th)
