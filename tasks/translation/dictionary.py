"""The translation task's fairseq dictionary (common.dictionary): `<s>`=0, `<pad>`=1, `</s>`=2,
`<unk>`=3, then symbols by count, in fairseq-preprocess's dict.txt format.

`Dictionary.build` counts whitespace tokens of the training files (both sides for a joined
dictionary, fairseq's --joined-dictionary) and finalises like fairseq (count descending, ties
alphabetical, padded to a multiple of 8 with "madeupword0000", ...). Unknown words encode as
`<unk>`.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

import numpy as np

from common.dictionary import DictionaryError, FairseqDictionary  # noqa: F401  (raised by load)
from common.tokens import BOS, EOS, PAD, UNK  # noqa: F401  (fairseq ids)


class Dictionary(FairseqDictionary):
    written_by = "tasks.translation.prepare"

    @classmethod
    def build(cls, lines: Iterable[str]) -> "Dictionary":
        """Count the tokens of `lines` and finalise like fairseq (threshold 0, padding 8)."""
        counter: Counter = Counter()
        for line in lines:
            counter.update(line.split())
        return cls.from_counts(counter)

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
