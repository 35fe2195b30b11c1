"""fairseq's token dictionary: `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, then symbols by count.

`dict.txt` holds one "symbol count" line per non-special symbol, as fairseq-preprocess
writes it. `Dictionary.build` counts whitespace tokens of the training files (both sides
for a joined dictionary, fairseq's --joined-dictionary), orders them by descending count with
ties in alphabetical order (fairseq's `finalize`: a sorted Counter's most_common), and pads
the size to a multiple of 8 with "madeupword0000", ... (padding_factor=8).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from common.tokens import BOS, EOS, PAD, UNK  # noqa: F401  (fairseq ids)

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
PADDING_FACTOR = 8


class DictionaryError(ValueError):
    """A dict.txt that is not in fairseq's "symbol count" format."""


class Dictionary:
    bos, pad, eos, unk = BOS, PAD, EOS, UNK

    def __init__(self, symbols: Sequence[str], counts: Sequence[int]):
        self.symbols = list(SPECIALS) + list(symbols)
        self.counts = [0] * len(SPECIALS) + list(counts)
        self.index = {s: i for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    @classmethod
    def build(cls, lines: Iterable[str]) -> "Dictionary":
        """Count the tokens of `lines` and finalise like fairseq (threshold 0, padding 8)."""
        counter: Counter = Counter()
        for line in lines:
            counter.update(line.split())
        for s in SPECIALS:
            counter.pop(s, None)
        ordered = Counter(dict(sorted(counter.items()))).most_common()  # count desc, ties a-z
        symbols = [s for s, _ in ordered]
        counts = [c for _, c in ordered]
        i = 0
        while (len(symbols) + len(SPECIALS)) % PADDING_FACTOR:
            symbols.append(f"madeupword{i:04d}")
            counts.append(0)
            i += 1
        return cls(symbols, counts)

    @classmethod
    def load(cls, path: Path) -> "Dictionary":
        if not Path(path).is_file():
            raise DictionaryError(f"{path}: dictionary not found; expected dict.txt written by "
                                  "tasks.translation.prepare")
        symbols, counts = [], []
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").split("\n"), 1):
            if not line:
                continue
            sym, _, count = line.rpartition(" ")
            if not sym or not count.isdigit():
                raise DictionaryError(f"{path}:{n}: expected 'symbol count', got {line!r}")
            symbols.append(sym)
            counts.append(int(count))
        return cls(symbols, counts)

    def text(self) -> str:
        """The dict.txt content (special symbols are implicit, as in fairseq)."""
        return "".join(f"{s} {c}\n" for s, c in zip(self.symbols[4:], self.counts[4:]))

    def encode_line(self, line: str) -> np.ndarray:
        """Token ids of a whitespace-tokenised line followed by eos; unknown symbols -> unk."""
        ids = [self.index.get(tok, UNK) for tok in line.split()]
        ids.append(EOS)
        return np.asarray(ids, dtype=np.int64)

    def string(self, ids: Iterable[int], escape_unk: bool = False) -> str:
        """Symbols joined by spaces, without bos/pad/eos. escape_unk renders unk as "<<unk>>"
        (fairseq does this for references, so an unknown reference word never matches)."""
        out = []
        for i in ids:
            i = int(i)
            if i in (BOS, PAD, EOS):
                continue
            out.append("<<unk>>" if i == UNK and escape_unk else self.symbols[i])
        return " ".join(out)


def remove_bpe(line: str, symbol: str = "@@ ") -> str:
    """fairseq's --remove-bpe for subword-nmt: (line + " ").replace("@@ ", "").rstrip()."""
    return (line + " ").replace(symbol, "").rstrip()
