"""Length-bucketed batches by token budget, like fairseq's --max-tokens.

`make_batches` is built once per dataset: examples sorted by length (ties broken by a
seeded shuffle), then packed greedily so that max_len * n_sentences <= max_tokens (the
padded size of the batch) and n_sentences <= max_sentences when set. `epoch_order`
shuffles the batch order per epoch with seed + epoch. Both are deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class TokenBatching:
    """Config section `batching` of token tasks: fairseq's --max-tokens."""
    max_tokens: int = 4096  # padded tokens per batch (per GPU, before update_freq)
    max_sentences: int = 0  # 0 = no cap on sentences per batch
    max_positions: int = 1024  # longer examples are left out of training (with a note)

    def validate(self) -> None:
        if self.max_tokens <= 0:
            raise ValueError(f"max_tokens: expected a positive number, got {self.max_tokens}")
        if self.max_sentences < 0:
            raise ValueError(f"max_sentences: expected a number >= 0, got {self.max_sentences}")
        if self.max_positions <= 0:
            raise ValueError(f"max_positions: expected a positive number, got {self.max_positions}")


def make_batches(lengths: Sequence[int], max_tokens: int, max_sentences: int = 0,
                 seed: int = 1) -> list[np.ndarray]:
    """Indices of each batch (int64 arrays), shortest examples first.

    lengths[i] is the padded size example i needs (for a pair: max(source, target) tokens).
    An example longer than max_tokens cannot fit any batch and is an error.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be a flat list of example lengths, got shape {lengths.shape}")
    if max_tokens <= 0:
        raise ValueError(f"batching.max_tokens must be positive, got {max_tokens}")
    too_long = np.flatnonzero(lengths > max_tokens)
    if too_long.size:
        i = int(too_long[0])
        raise ValueError(f"example {i} has {int(lengths[i])} tokens, more than batching.max_tokens="
                         f"{max_tokens} ({too_long.size} such examples); raise batching.max_tokens or "
                         "filter long examples (batching.max_positions)")
    rng = np.random.default_rng(seed)
    tie_break = rng.permutation(len(lengths))
    order = np.lexsort((tie_break, lengths))  # by length, ties in seeded random order
    batches, start, longest = [], 0, 0
    for pos, idx in enumerate(order):
        n = pos - start + 1
        longest_if_added = max(longest, int(lengths[idx]))
        full = longest_if_added * n > max_tokens or (max_sentences and n > max_sentences)
        if full:
            batches.append(order[start:pos])
            start, longest = pos, int(lengths[idx])
        else:
            longest = longest_if_added
    if start < len(order):
        batches.append(order[start:])
    return batches


def epoch_order(n_batches: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation of batch indices used in `epoch` (seeded by seed + epoch)."""
    return np.random.default_rng(seed + epoch).permutation(n_batches)


def pad_right(seqs: Sequence[Sequence[int]], pad: int = 1):
    """(B, max_len) int64 array of sequences padded on the right with `pad` (fairseq convention)."""
    width = max((len(s) for s in seqs), default=0)
    out = np.full((len(seqs), width), pad, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out
