"""Sentence pairs from a prepared translation directory (written by tasks.translation.prepare).

The studies take the first pairs of the training split in file order (no shuffling, so every
study and scheme sees the same pairs), skipping pairs longer than `max_len` tokens on either
side so that a fixed batch stays affordable at the papers' widths.
"""
from __future__ import annotations

from pathlib import Path

import torch

from studies.common import StudyError


def prepared_pairs(data_dir: Path, n: int, split: str = "train",
                   max_len: int = 64) -> tuple[list[torch.Tensor], list[torch.Tensor], int]:
    """(sources, targets, vocabulary size): n pairs as id tensors without their final eos."""
    from tasks.translation.dataset import DataDirError, PairDataset, read_meta

    try:
        meta = read_meta(data_dir)
        ds = PairDataset(data_dir, split)
    except (DataDirError, KeyError, ValueError) as e:
        raise StudyError(f"--data {data_dir}: {e}") from None
    vocab = int(meta.get("vocab_size", 0))
    if vocab <= 0:
        raise StudyError(f"--data {data_dir}: meta.json has no vocab_size")
    src, tgt = [], []
    for i in range(len(ds)):
        s, t = ds.src[i], ds.tgt[i]  # each ends with eos
        if len(s) < 2 or len(t) < 2 or len(s) > max_len or len(t) > max_len:
            continue
        src.append(torch.from_numpy(s[:-1].copy()))
        tgt.append(torch.from_numpy(t[:-1].copy()))
        if len(src) == n:
            break
    if len(src) < n:
        raise StudyError(f"--data {data_dir}: the {split} split has only {len(src)} pairs of 1..{max_len - 1} "
                         f"tokens, the study needs {n}")
    return src, tgt, vocab
