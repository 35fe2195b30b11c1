"""WikiText files, the fairseq dictionary, and the binarised token stream of a prepared LM directory.

The word-level WikiText release (Merity et al. 2016, `wikitext-103-v1.zip` / `wikitext-2-v1.zip`)
holds `wiki.{train,valid,test}.tokens`: one paragraph or heading per line (` = Title = `,
` = = Section = = `), blank lines between them, tokens separated by spaces, hyphens and
number separators split off as ` @-@ `, ` @,@ `, ` @.@ `, and every word outside the
vocabulary (train count < 3) already replaced by `<unk>`. The valid and test files use only
words of the training vocabulary (a closed vocabulary): 267,735 types including `<unk>` for
WikiText-103, 33,278 for WikiText-2. The raw release (`wikitext-103-raw-v1.zip`:
`wiki.*.raw`) keeps the original words and punctuation; it is a different task and is refused.

fairseq conventions (fairseq-preprocess --only-source; fairseq's language_modeling task):
- dictionary (common.dictionary): `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, then the symbols by
  descending training count, ties alphabetical, padded with madeupwordNNNN to a multiple of 8
  (267,735 types -> 4 + 267,734 + 6 = 267,744 entries for WikiText-103);
- every line (blank lines included) is encoded as its tokens followed by `</s>`, so a line
  ending counts as one token: the stream lengths are the published token counts
  (WikiText-103: train 103,227,021, valid 217,646, test 245,569).

On disk (DATA = a prepared directory): `dict.txt` ("symbol count" lines, specials implicit),
`{split}.bin` (int32 token ids, the whole split as one stream), `{split}.idx` (int64 offsets of
the line starts, n_lines + 1), `meta.json` (counts, checksums: see tasks.lm.prepare).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from common.dictionary import FairseqDictionary
from common.tokens import EOS, N_SPECIAL, PAD

SPLITS = ("train", "valid", "test")
TOKEN_DTYPE = np.dtype(np.int32)

# Published figures of the word-level releases (Merity et al. 2016, Table 1; the counts include
# one end-of-line token per line, as fairseq's eval-lm prints them: "Evaluated 245569 tokens").
PUBLISHED = {
    "wikitext103": {"dirname": "wikitext-103", "types": 267_735,
                    "tokens": {"train": 103_227_021, "valid": 217_646, "test": 245_569}},
    "wikitext2": {"dirname": "wikitext-2", "types": 33_278,
                  "tokens": {"train": 2_088_628, "valid": 217_646, "test": 245_569}},
}


class WikiTextError(ValueError):
    """A WikiText file or prepared directory that is missing, in the wrong release, or inconsistent."""


# ----------------------------------------------------------------------------- raw files
def find_split_files(raw: Path, dataset: str) -> dict[str, Path]:
    """{split: path of wiki.<split>.tokens} under `raw` (the directory holding the files, or
    the directory the release zip was extracted into: RAW/wikitext-103/wiki.*.tokens)."""
    raw = Path(raw)
    if dataset not in PUBLISHED:
        raise WikiTextError(f"unknown WikiText dataset {dataset!r}; expected one of {sorted(PUBLISHED)}")
    if not raw.is_dir():
        raise WikiTextError(f"{raw}: not a directory; expected the directory holding "
                            f"wiki.{{train,valid,test}}.tokens of the {PUBLISHED[dataset]['dirname']} release")
    for base in (raw, raw / PUBLISHED[dataset]["dirname"]):
        if all((base / f"wiki.{s}.tokens").is_file() for s in SPLITS):
            return {s: base / f"wiki.{s}.tokens" for s in SPLITS}
    raws = sorted(p.name for p in raw.rglob("wiki.*.raw"))
    if raws:
        raise WikiTextError(f"{raw}: holds the raw WikiText release ({', '.join(raws[:3])}): its text keeps "
                            "the original punctuation and rare words; this task needs the word-level release "
                            f"({PUBLISHED[dataset]['dirname']}/wiki.{{train,valid,test}}.tokens, "
                            "from wikitext-103-v1.zip / wikitext-2-v1.zip)")
    missing = [f"wiki.{s}.tokens" for s in SPLITS if not (raw / f"wiki.{s}.tokens").is_file()]
    raise WikiTextError(f"{raw}: missing {', '.join(missing)}; expected wiki.{{train,valid,test}}.tokens "
                        f"in {raw} or {raw / PUBLISHED[dataset]['dirname']}")


def read_lines(path: Path) -> Iterator[str]:
    """The lines of a WikiText file without their line ending (a UTF-8 error names the line)."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                yield raw.decode("utf-8").rstrip("\n")
            except UnicodeDecodeError as e:
                raise WikiTextError(f"{path}:{n}: not UTF-8 text ({e})") from None


# A word with punctuation glued to it ("word," "end." "(word"): the tokenised release splits
# those off, the raw release does not.
_ATTACHED = re.compile(r"^[^\W\d_]{2,}[,;:!?\")]$|^[(\"][^\W\d_]{2,}$")
_SPLIT_MARKERS = (" @-@ ", " @,@ ", " @.@ ")


def check_tokenised(path: Path, sample_lines: int = 20_000) -> None:
    """Refuse a file of the raw release (or any untokenised text) by its content.

    Looks at the first `sample_lines` lines: in the word-level release punctuation stands alone,
    so more than 1 % of the words carrying glued punctuation means raw text, as does a large
    sample (>= 20,000 words) without a single `<unk>` or ` @-@ `/` @,@ `/` @.@ ` marker.
    """
    words = attached = markers = unks = 0
    example = ""
    for n, line in enumerate(read_lines(path), 1):
        if n > sample_lines:
            break
        toks = line.split()
        if toks and toks[0] == "=" and toks[-1] == "=":
            continue  # headings
        words += len(toks)
        unks += toks.count("<unk>")
        markers += sum(line.count(m) for m in _SPLIT_MARKERS)
        for t in toks:
            if _ATTACHED.match(t):
                attached += 1
                example = example or f"line {n}: {t!r}"
    if words == 0:
        raise WikiTextError(f"{path}: no text; expected WikiText paragraphs of space-separated tokens")
    if attached > 0.01 * words:
        raise WikiTextError(f"{path}: looks like untokenised (raw-release) text: {attached} of the first {words} "
                            f"words carry punctuation ({example}); expected the word-level release "
                            "(wiki.*.tokens, punctuation split off, ' @-@ ' for hyphens)")
    if words >= 20_000 and markers == 0 and unks == 0:
        raise WikiTextError(f"{path}: {words} words without any '<unk>', ' @-@ ', ' @,@ ' or ' @.@ ' token: "
                            "this is not the word-level WikiText release (wiki.*.tokens)")


def count_tokens(lines: Iterable[str]) -> tuple[Counter, int, int]:
    """(Counter of whitespace tokens, number of lines, stream length = tokens + one eos per line)."""
    counter: Counter = Counter()
    n_lines = 0
    for line in lines:
        counter.update(line.split())
        n_lines += 1
    return counter, n_lines, sum(counter.values()) + n_lines


def count_types(counter: Counter) -> int:
    """Number of word types as WikiText counts them: every distinct token, `<unk>` included."""
    return len(counter)


# ---------------------------------------------------------------------------- dictionary
class Dictionary(FairseqDictionary):
    """fairseq's Dictionary for one monolingual corpus (see the module docstring)."""

    error = WikiTextError
    written_by = "tasks.lm.prepare"

    def sha256(self) -> str:
        return hashlib.sha256(self.text().encode("utf-8")).hexdigest()

    def word_types(self) -> int:
        """Corpus types the dictionary holds: real symbols, `<unk>` included, madeupwords not."""
        return 1 + sum(1 for s, c in zip(self.symbols[N_SPECIAL:], self.counts[N_SPECIAL:])
                       if not (c == 0 and s.startswith("madeupword")))

    def encode_line(self, line: str, path: Path | str = "", n: int = 0) -> np.ndarray:
        """Token ids of one line followed by eos. A token outside the dictionary is an error:
        WikiText has a closed vocabulary, so it means the corpus and dictionary do not match."""
        try:
            ids = [self.index[t] for t in line.split()]
        except KeyError as e:
            raise WikiTextError(f"{path}:{n}: token {e.args[0]!r} is not in the dictionary; the corpus does "
                                "not match the prepared dictionary (WikiText's valid/test words are all "
                                "training words; rebuild DATA with tasks.lm.prepare from the same release)") from None
        ids.append(EOS)
        return np.asarray(ids, dtype=TOKEN_DTYPE)

    def string(self, ids: Iterable[int]) -> str:
        """Symbols joined by spaces; eos ends a line (the inverse of encoding a file)."""
        out, line = [], []
        for i in ids:
            i = int(i)
            if i == EOS:
                out.append(" ".join(line))
                line = []
            elif i != PAD:
                line.append(self.symbols[i])
        if line:
            out.append(" ".join(line))
        return "\n".join(out)


# -------------------------------------------------------------------------- token stream
def encode_lines(lines: Iterable[str], dictionary: Dictionary, path: Path | str = "",
                 first_line: int = 1) -> list[np.ndarray]:
    return [dictionary.encode_line(line, path, first_line + k) for k, line in enumerate(lines)]


def write_stream(prefix: Path, chunks: Iterable[list[np.ndarray]]) -> tuple[int, int]:
    """Write prefix.bin (int32 ids) and prefix.idx (int64 line offsets); returns (lines, tokens).
    Both go through temp names and are renamed at the end."""
    prefix = Path(prefix)
    tmp_bin, tmp_idx = Path(f"{prefix}.bin.tmp"), Path(f"{prefix}.idx.tmp")
    offsets = [0]
    with open(tmp_bin, "wb") as f:
        for chunk in chunks:
            for ids in chunk:
                f.write(np.ascontiguousarray(ids, dtype=TOKEN_DTYPE).tobytes())
                offsets.append(offsets[-1] + len(ids))
    np.asarray(offsets, dtype=np.int64).tofile(tmp_idx)
    tmp_bin.replace(f"{prefix}.bin")
    tmp_idx.replace(f"{prefix}.idx")
    return len(offsets) - 1, offsets[-1]


class TokenStream:
    """One split as a memory-mapped int32 stream (`tokens`) with its line offsets (`offsets`)."""

    def __init__(self, prefix: Path, vocab_size: int):
        bin_path, idx_path = Path(f"{prefix}.bin"), Path(f"{prefix}.idx")
        for p in (bin_path, idx_path):
            if not p.is_file():
                raise WikiTextError(f"{p}: binarised split not found; run tasks.lm.prepare")
        self.offsets = np.fromfile(idx_path, dtype=np.int64)
        n = bin_path.stat().st_size // TOKEN_DTYPE.itemsize
        if len(self.offsets) < 1 or self.offsets[0] != 0 or self.offsets[-1] != n:
            raise WikiTextError(f"{idx_path}: offsets do not match {bin_path} ({n} tokens); "
                                "the split is truncated or from another run of tasks.lm.prepare")
        self.tokens = np.memmap(bin_path, dtype=TOKEN_DTYPE, mode="r", shape=(n,)) if n else np.zeros(0, TOKEN_DTYPE)
        if n and (int(self.tokens.max()) >= vocab_size or int(self.tokens.min()) < 0):
            raise WikiTextError(f"{bin_path}: token ids outside the dictionary of {vocab_size} symbols; "
                                "the stream was binarised with another dict.txt")

    def __len__(self) -> int:
        return len(self.tokens)

    def line(self, i: int) -> np.ndarray:
        return np.asarray(self.tokens[self.offsets[i]:self.offsets[i + 1]])


def load_meta(data_dir: Path) -> dict:
    path = Path(data_dir) / "meta.json"
    if not path.is_file():
        raise WikiTextError(f"{path}: not found; data.dir must be a directory written by tasks.lm.prepare")
    return json.loads(path.read_text())


def open_prepared(data_dir: Path) -> tuple[Dictionary, dict[str, TokenStream], dict]:
    """(dictionary, {split: stream}, meta) of a prepared directory, checked against each other."""
    data_dir = Path(data_dir)
    meta = load_meta(data_dir)
    dictionary = Dictionary.load(data_dir / "dict.txt")
    if meta.get("dict_sha256") != dictionary.sha256():
        raise WikiTextError(f"{data_dir / 'dict.txt'}: does not match the dictionary the streams were binarised "
                            f"with (meta.json dict_sha256); rerun tasks.lm.prepare")
    streams = {s: TokenStream(data_dir / s, len(dictionary)) for s in SPLITS}
    for s, stream in streams.items():
        want = meta["splits"][s]["tokens"]
        if len(stream) != want:
            raise WikiTextError(f"{data_dir / s}.bin: {len(stream)} tokens, meta.json says {want}")
    return dictionary, streams, meta


# ---------------------------------------------------------------- samples (break mode none)
def block_bounds(n_tokens: int, tokens_per_sample: int) -> np.ndarray:
    """fairseq's TokenBlockDataset with --sample-break-mode none: consecutive blocks of
    `tokens_per_sample` tokens over the whole stream (lines and articles are ignored), the last
    one shorter. Returns (n_blocks, 2) [start, end) offsets."""
    if tokens_per_sample <= 0:
        raise ValueError(f"tokens_per_sample must be positive, got {tokens_per_sample}")
    starts = np.arange(0, n_tokens, tokens_per_sample, dtype=np.int64)
    return np.stack([starts, np.minimum(starts + tokens_per_sample, n_tokens)], axis=1)


def block_sample(tokens: np.ndarray, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) of block [start, end): target = the block; source = the same tokens
    shifted right by one (the previous token of each target), with eos before the first token
    of the stream (fairseq's include_targets: source = [eos] + buffer[0:e-1] for s = 0)."""
    target = np.asarray(tokens[start:end], dtype=np.int64)
    if start == 0:
        source = np.concatenate([[EOS], np.asarray(tokens[0:end - 1], dtype=np.int64)])
    else:
        source = np.asarray(tokens[start - 1:end - 1], dtype=np.int64)
    return source, target
