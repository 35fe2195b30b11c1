"""fairseq's token dictionary (`fairseq.data.Dictionary`), shared by the token-based tasks.

Indices: `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3 (common.tokens), then the symbols by
descending count, ties in alphabetical order (fairseq's `finalize(threshold=0)`), padded with
"madeupword0000", ... to a multiple of 8 (padding_factor=8). `dict.txt` holds one
"symbol count" line per non-special symbol, as fairseq-preprocess writes it (the specials
are implicit). A task subclasses `FairseqDictionary` for its own encoding and error type.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

from common.tokens import BOS, EOS, N_SPECIAL, PAD, UNK

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
PADDING_FACTOR = 8


class DictionaryError(ValueError):
    """A dict.txt that is missing or not in fairseq's "symbol count" format."""


class FairseqDictionary:
    """Symbols and counts in fairseq's order. Subclasses set `error` (the exception they raise)
    and `written_by` (the entry point that writes their dict.txt, named in messages)."""

    bos, pad, eos, unk = BOS, PAD, EOS, UNK
    error: type[ValueError] = DictionaryError
    written_by = "the task's prepare step"

    def __init__(self, symbols: Sequence[str], counts: Sequence[int]):
        self.symbols = list(SPECIALS) + list(symbols)
        self.counts = [0] * N_SPECIAL + list(counts)
        self.index = {s: i for i, s in enumerate(self.symbols)}
        if len(self.index) != len(self.symbols):
            dup = [s for s, c in Counter(self.symbols).items() if c > 1][:3]
            raise self.error(f"dictionary has duplicate symbols {dup}")

    def __len__(self) -> int:
        return len(self.symbols)

    @classmethod
    def from_counts(cls, counter: Counter, padding_factor: int = PADDING_FACTOR):
        """fairseq's finalize(threshold=0): count descending, ties alphabetical, then padding."""
        counter = Counter({s: c for s, c in counter.items() if s not in SPECIALS})
        ordered = sorted(counter.items(), key=lambda sc: (-sc[1], sc[0]))
        symbols, counts = [s for s, _ in ordered], [c for _, c in ordered]
        i = 0
        while (len(symbols) + N_SPECIAL) % padding_factor:
            symbols.append(f"madeupword{i:04d}")
            counts.append(0)
            i += 1
        return cls(symbols, counts)

    @classmethod
    def load(cls, path: Path):
        path = Path(path)
        if not path.is_file():
            raise cls.error(f"{path}: dictionary not found; expected dict.txt written by {cls.written_by}")
        symbols, counts = [], []
        for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            if not line:
                continue
            sym, _, count = line.rpartition(" ")
            if not sym or not count.isdigit():
                raise cls.error(f"{path}:{n}: expected 'symbol count', got {line!r}")
            symbols.append(sym)
            counts.append(int(count))
        return cls(symbols, counts)

    def text(self) -> str:
        """The dict.txt content (special symbols are implicit, as in fairseq)."""
        return "".join(f"{s} {c}\n" for s, c in zip(self.symbols[N_SPECIAL:], self.counts[N_SPECIAL:]))
