r"""The Moses text steps of the fairseq/TC preparation scripts, in Python.

Each function mirrors one Moses script as the recipes call it (docs/recipes.md §1, §4):
- `tokenize`: tokenizer.perl -l L [-a] via sacremoses. The perl tokenizer escapes XML
  special characters by default (& -> &amp;, " -> &quot;, ' -> &apos;, | -> &#124;, ...),
  and the recipes do not pass -no-escape, so neither do we (escape=True);
- `normalize_punctuation`: normalize-punctuation.perl L (sacremoses MosesPunctNormalizer);
- `remove_non_printing`: remove-non-printing-char.perl, every \p{C} character -> space;
- `lowercase`: lowercase.perl (Perl `lc`; Python `str.lower` agrees on the scripts we see);
- `clean_pairs`: clean-corpus-n.perl [-ratio R] corpus l1 l2 out MIN MAX.
Tokenisation of large files runs in a process pool (the scripts use -threads 8).

sacremoses 0.2.0 differs from the perl scripts (mosesdecoder scripts/tokenizer/, checked at
commit 34452895, Feb 2025; the two files last changed in 2019) in three ways, which the thin
layer below (`PerlTokenizer`, `normalize_punctuation`) puts right:
 1. normalize-punctuation.perl reads each line WITH its newline, and its German/Spanish/French
    rule s/(\.+)\"(\s*[^<])/\"$1$2/ then also fires on a line-final ." (the newline matches
    [^<]): `„eine Reform für alle.“` -> `"eine Reform für alle".`. sacremoses normalises the
    line without it, so the rule never sees a character after the quote. We normalise
    line + newline (sacremoses strips the newline again at the end).
 2. perl's normaliser maps a `’` that is not between two ASCII letters to `"` (`banks’ losses`
    -> `banks" losses`, tokenised `banks &quot; losses`); sacremoses maps it to `'` (tokenised
    `&apos;`) unless built with perl_parity=True, which changes exactly that rule (and the
    spaced French quotes « / », which perl also turns into ` "` / `" `).
 3. tokenizer.perl always splits the final period off the LAST word of a line ("split last
    words independently as they are unlikely to be non-breaking prefixes"), before the
    non-breaking-prefix tests: `9 a.m.` -> `9 a.m .`, `Nr. 5.` -> `Nr. 5 .`. sacremoses runs
    the prefix tests on the last word too and keeps `a.m.` / `5.` whole.
"""
from __future__ import annotations

import os
import re
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from collections import deque
from itertools import chain, islice
from typing import Iterable, Iterator

from sacremoses import MosesPunctNormalizer, MosesTokenizer

from common.procs import context

CHUNK = 2000  # lines per task sent to a worker process


_FINAL_PERIOD = re.compile(r"^(\S+)\.$")  # tokenizer.perl's `$word =~ /^(\S+)\.$/`


class PerlTokenizer(MosesTokenizer):
    """MosesTokenizer whose non-breaking-prefix step splits the last word's period the way
    tokenizer.perl does (difference 3 in the module docstring)."""

    def handles_nonbreaking_prefixes(self, text: str) -> str:
        out = super().handles_nonbreaking_prefixes(text)
        words = text.split()
        m = _FINAL_PERIOD.match(words[-1]) if words else None
        # sacremoses returns the words joined by " " and rewrites a split word "X." as "X .";
        # if the last word came back unchanged, the prefix rules kept it: split it anyway.
        if m and out.endswith(words[-1]) and not out.endswith(" ."):
            out = out[: len(out) - len(words[-1])] + m.group(1) + " ."
        return out


@lru_cache(maxsize=None)
def _tokenizer(lang: str) -> MosesTokenizer:
    return PerlTokenizer(lang=lang)


@lru_cache(maxsize=None)
def _normalizer(lang: str) -> MosesPunctNormalizer:
    # perl_parity: a `’` outside a word becomes `"` as in the perl script (difference 2)
    return MosesPunctNormalizer(lang=lang, perl_parity=True)


def normalize_punctuation(line: str, lang: str) -> str:
    """normalize-punctuation.perl -l lang on one line (no newline in the input or output).

    The perl script sees the line's newline; appending it lets the German/Spanish/French
    quote-period rule fire at the end of the line as in perl (difference 1)."""
    return _normalizer(lang).normalize(line + "\n")


def remove_non_printing(line: str) -> str:
    """remove-non-printing-char.perl: s/\\p{C}/ /g (control, format, unassigned characters)."""
    return "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in line)


def lowercase(line: str) -> str:
    return line.lower()


def _process_chunk(args: tuple[list[str], str, bool, bool]) -> list[str]:
    lines, lang, aggressive, normalize = args
    tok = _tokenizer(lang)
    out = []
    for line in lines:
        if normalize:  # normalize-punctuation.perl | remove-non-printing-char.perl
            line = remove_non_printing(normalize_punctuation(line, lang))
        out.append(tok.tokenize(line, aggressive_dash_splits=aggressive, return_str=True, escape=True))
    return out


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(lines)
    while chunk := list(islice(it, size)):
        yield chunk


def tokenize(lines: Iterable[str], lang: str, aggressive: bool = False, normalize: bool = False,
             workers: int = 0) -> Iterator[str]:
    """Moses-tokenise lines (optionally normalising punctuation first), order preserved.

    workers=0 uses all CPUs; an input of one chunk runs in-process. At most 4 chunks per
    worker are in flight, so memory stays bounded on WMT-sized files.
    """
    chunks = ((c, lang, aggressive, normalize) for c in _chunks(lines, CHUNK))
    head = list(islice(chunks, 2))
    workers = workers or os.cpu_count() or 1
    if len(head) < 2 or workers == 1:
        for args in chain(head, chunks):
            yield from _process_chunk(args)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=context()) as pool:
        pending: deque = deque()
        for args in chain(head, chunks):
            pending.append(pool.submit(_process_chunk, args))
            if len(pending) >= 4 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def clean_pairs(pairs: Iterable[tuple[str, str]], min_len: int, max_len: int, ratio: float = 9.0,
                max_word_length: int = 1000) -> Iterator[tuple[str, str]]:
    """clean-corpus-n.perl on (l1, l2) line pairs: collapse whitespace, drop pairs with an empty
    side, a side outside [min_len, max_len] words, a length ratio above `ratio` either way,
    or a word longer than max_word_length characters. "|" is deleted unless the first pair
    contains one (the script's factored-corpus guess)."""
    factored = None
    for f, e in pairs:
        if factored is None:
            factored = "|" in f or "|" in e
        f, e = _squeeze(f, factored), _squeeze(e, factored)
        if not f or not e:
            continue
        fc, ec = f.count(" ") + 1, e.count(" ") + 1
        if not (min_len <= fc <= max_len and min_len <= ec <= max_len):
            continue
        if ec / fc > ratio or fc / ec > ratio:
            continue
        if max(map(len, f.split(" "))) > max_word_length or max(map(len, e.split(" "))) > max_word_length:
            continue
        yield f, e


def _squeeze(line: str, factored: bool) -> str:
    if not factored:
        line = line.replace("|", "")
    return " ".join(line.split())
