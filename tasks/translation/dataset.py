"""Memory-mapped token arrays and the parallel dataset of a prepared translation directory.

On disk, per split and language (fairseq's naming): `{split}.{src}-{tgt}.{lang}.bin` holds the
token ids of all sentences back to back (uint16 when the dictionary has < 65536 symbols, else
int32; meta.json names the dtype), each sentence ending with eos; `{split}.{src}-{tgt}.{lang}.idx`
holds int64 offsets (n_sentences + 1) into it. Both are read with np.memmap, so a WMT-sized
split costs no RAM until a batch touches it.

`collate` follows fairseq's LanguagePairDataset (docs/ARCHITECTURE.md token conventions):
src_tokens (B,S) right-padded with pad=1, each sentence ending with eos=2;
prev_output_tokens (B,T) = eos + target[:-1] ("move eos to the beginning");
target (B,T) ending with eos; ntokens = number of non-pad target tokens.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from tasks.translation.dictionary import EOS, PAD


class DataDirError(ValueError):
    """A prepared data directory that is missing files or inconsistent."""


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.int32)


def write_indexed(prefix: Path, sentences: Iterable[np.ndarray], dtype: np.dtype) -> tuple[int, int]:
    """Write prefix.bin / prefix.idx atomically (streamed); returns (sentences, tokens)."""
    offsets = [0]
    tmp_bin = prefix.with_name(prefix.name + ".bin.tmp")
    with open(tmp_bin, "wb") as f:
        for ids in sentences:
            f.write(np.asarray(ids, dtype=dtype).tobytes())
            offsets.append(offsets[-1] + len(ids))
    tmp_idx = prefix.with_name(prefix.name + ".idx.tmp")
    np.asarray(offsets, dtype=np.int64).tofile(tmp_idx)
    os.replace(tmp_bin, prefix.with_name(prefix.name + ".bin"))
    os.replace(tmp_idx, prefix.with_name(prefix.name + ".idx"))
    return len(offsets) - 1, offsets[-1]


class IndexedTokens:
    """Random access to the sentences of one .bin/.idx pair."""

    def __init__(self, prefix: Path, dtype: np.dtype):
        bin_path, idx_path = Path(str(prefix) + ".bin"), Path(str(prefix) + ".idx")
        for p in (bin_path, idx_path):
            if not p.is_file():
                raise DataDirError(f"{p}: binarised split not found; run tasks.translation.prepare")
        self.offsets = np.fromfile(idx_path, dtype=np.int64)
        n_tokens = bin_path.stat().st_size // dtype.itemsize
        if len(self.offsets) < 1 or self.offsets[-1] != n_tokens:
            raise DataDirError(f"{bin_path}: holds {n_tokens} tokens but {idx_path.name} expects "
                               f"{int(self.offsets[-1]) if len(self.offsets) else '?'}; the files are "
                               "truncated or from different runs -- prepare the data again")
        self.tokens = np.memmap(bin_path, dtype=dtype, mode="r") if n_tokens else np.zeros(0, dtype)
        self.sizes = np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self.tokens[self.offsets[i]:self.offsets[i + 1]], dtype=np.int64)


def read_meta(data_dir: Path) -> dict:
    path = Path(data_dir) / "meta.json"
    if not path.is_file():
        raise DataDirError(f"{path}: not found; data.dir must be a directory written by "
                           "`python -m tasks.translation.prepare` (meta.json, dict.txt, *.bin/*.idx)")
    return json.loads(path.read_text())


class PairDataset:
    """Source/target sentence pairs of one split of a prepared directory."""

    def __init__(self, data_dir: Path, split: str):
        meta = read_meta(data_dir)
        self.src_lang, self.tgt_lang = meta["src"], meta["tgt"]
        dtype = np.dtype(meta["dtype"])
        base = Path(data_dir) / f"{split}.{self.src_lang}-{self.tgt_lang}"
        self.src = IndexedTokens(Path(f"{base}.{self.src_lang}"), dtype)
        self.tgt = IndexedTokens(Path(f"{base}.{self.tgt_lang}"), dtype)
        if len(self.src) != len(self.tgt):
            raise DataDirError(f"{base}: {len(self.src)} source but {len(self.tgt)} target sentences")
        self.split = split

    def __len__(self) -> int:
        return len(self.src)

    def lengths(self) -> np.ndarray:
        """(N,) padded size each pair needs in a batch: max(src, tgt) tokens incl. eos."""
        return np.maximum(self.src.sizes, self.tgt.sizes)

    def collate(self, indices: Sequence[int]) -> dict:
        return collate([self.src[i] for i in indices], [self.tgt[i] for i in indices],
                       np.asarray(indices, dtype=np.int64))


def _pad(seqs: Sequence[np.ndarray], shift_eos: bool = False) -> torch.Tensor:
    width = max(len(s) for s in seqs)
    out = np.full((len(seqs), width), PAD, dtype=np.int64)
    for i, s in enumerate(seqs):
        if shift_eos:  # eos first, then the target without its final eos
            out[i, 0] = EOS
            out[i, 1:len(s)] = s[:-1]
        else:
            out[i, :len(s)] = s
    return torch.from_numpy(out)


def collate(src: Sequence[np.ndarray], tgt: Sequence[np.ndarray], ids: np.ndarray) -> dict:
    """A batch dict: net_input {src_tokens (B,S), prev_output_tokens (B,T)}, target (B,T),
    src_lengths (B,), ntokens, nsentences, id (B,)."""
    target = _pad(tgt)
    return {
        "id": torch.from_numpy(ids),
        "net_input": {"src_tokens": _pad(src), "prev_output_tokens": _pad(tgt, shift_eos=True)},
        "src_lengths": torch.tensor([len(s) for s in src], dtype=torch.long),
        "target": target,
        "ntokens": int(sum(len(t) for t in tgt)),
        "nsentences": len(src),
    }
