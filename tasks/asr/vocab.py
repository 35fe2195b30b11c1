"""The CTC letter vocabulary: blank, word boundary, apostrophe and the 26 letters (29 labels).

The sigma-reparam speech model ends in a 29-way head (Zhai et al. 2023, public speech code);
that count matches flashlight's letter token set (wav2letter `ltr` targets: the letters of
each word, words separated by "|") plus the CTC blank. The order of the labels is our own
choice: blank first so that it is index 0 (torch's `ctc_loss` default, passed explicitly).

LibriSpeech transcripts are upper-case letters, apostrophes and single spaces. A transcript
is encoded as its words' letters with one "|" *between* words (no leading or trailing
separator: they carry no information and lengthen the target).
"""
from __future__ import annotations

import string

import numpy as np

BLANK_SYMBOL, SEP_SYMBOL = "<blank>", "|"
LABELS: tuple[str, ...] = (BLANK_SYMBOL, SEP_SYMBOL, "'") + tuple(string.ascii_lowercase)
BLANK, SEP = 0, 1
INDEX = {s: i for i, s in enumerate(LABELS)}
assert len(LABELS) == 29


def normalize(text: str) -> str:
    """Lower-case, single-spaced text (what WER and CER are computed on)."""
    return " ".join(text.lower().split())


def encode(text: str) -> np.ndarray:
    """Label ids (int64) of a transcript; a ValueError naming the first character outside
    the vocabulary (letters, apostrophe, space)."""
    ids: list[int] = []
    for w, word in enumerate(normalize(text).split(" ")):
        if not word:
            continue
        if w:
            ids.append(SEP)
        for ch in word:
            if ch not in INDEX or ch in (BLANK_SYMBOL, SEP_SYMBOL):
                raise ValueError(f"character {ch!r} is not in the letter vocabulary "
                                 f"(a-z, apostrophe, space) in transcript {text!r}")
            ids.append(INDEX[ch])
    return np.asarray(ids, dtype=np.int64)


def decode(ids) -> str:
    """Text of a label sequence (no CTC collapsing here): "|" -> space, blanks dropped,
    repeated/leading/trailing separators merged."""
    out = []
    for i in ids:
        i = int(i)
        if i == BLANK:
            continue
        out.append(" " if i == SEP else LABELS[i])
    return " ".join("".join(out).split())


def ctc_min_frames(ids: np.ndarray) -> int:
    """The fewest CTC output frames a target needs: one per label plus a blank between each
    pair of equal neighbours (a path cannot emit "ll" without a blank in between)."""
    ids = np.asarray(ids)
    return int(len(ids) + (np.count_nonzero(ids[1:] == ids[:-1]) if len(ids) > 1 else 0))
