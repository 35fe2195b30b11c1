"""A prepared split (tasks.asr.prepare): memory-mapped features, lengths, transcripts, labels.

`FeatureSplit(data_dir, split)` opens <split>/feats.bin read-only with numpy.memmap; `feats(i)`
is a zero-copy view of utterance i's (T, 80) frames. `collate` pads a list of utterances on
the right into (B, T_max, 80) float32 features with their lengths, and the CTC targets into
(B, S_max) int64 with their lengths (padding value 0 = blank, never read by ctc_loss).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from tasks.asr import vocab

FORMAT = "normbench-asr-fbank-v1"


class DataDirError(ValueError):
    """A prepared data directory that is missing or does not match what the task expects."""


def read_meta(data_dir: Path) -> dict:
    path = Path(data_dir) / "meta.json"
    if not path.is_file():
        raise DataDirError(f"{path}: not found; data.dir must be a directory written by "
                           "`python -m tasks.asr.prepare --dataset librispeech --raw RAW --out DIR`")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise DataDirError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}; prepare the data again")
    if tuple(meta.get("labels", ())) != vocab.LABELS:
        raise DataDirError(f"{path}: labels {meta.get('labels')} differ from tasks.asr.vocab.LABELS")
    return meta


class FeatureSplit:
    def __init__(self, data_dir: str | Path, split: str, meta: dict | None = None):
        self.dir = Path(data_dir)
        meta = meta or read_meta(self.dir)
        if split not in meta["splits"] or not (self.dir / split / "index.npz").is_file():
            raise DataDirError(f"{self.dir}: split {split!r} was not prepared (prepared: {sorted(meta['splits'])}); "
                               f"run tasks.asr.prepare with --splits including {split}, or change the asr config")
        self.split, self.n_mels = split, int(meta["n_mels"])
        index = np.load(self.dir / split / "index.npz")
        self.offsets, self.frames, self.samples = index["offsets"], index["frames"], index["samples"]
        rows = [line.split("\t", 1) for line in
                (self.dir / split / "utts.tsv").read_text(encoding="utf-8").splitlines()]
        if len(rows) != len(self.offsets):
            raise DataDirError(f"{self.dir / split}/utts.tsv has {len(rows)} lines but index.npz "
                               f"{len(self.offsets)} utterances; prepare the split again")
        self.ids = [r[0] for r in rows]
        self.texts = [vocab.normalize(r[1]) for r in rows]
        self.targets = [vocab.encode(t) for t in self.texts]
        total = int(meta["splits"][split]["frames"])
        path = self.dir / split / "feats.bin"
        itemsize = np.dtype(meta["dtype"]).itemsize
        if path.stat().st_size != total * self.n_mels * itemsize:
            raise DataDirError(f"{path}: {path.stat().st_size} bytes, expected {total} frames x {self.n_mels} x "
                               f"{itemsize}; the file is truncated, prepare the split again")
        self.data = np.memmap(path, dtype=meta["dtype"], mode="r", shape=(total, self.n_mels))

    def __len__(self) -> int:
        return len(self.ids)

    def feats(self, i: int) -> np.ndarray:
        o = int(self.offsets[i])
        return self.data[o:o + int(self.frames[i])]

    def durations_s(self) -> np.ndarray:
        return self.samples / 16000.0

    def target_lengths(self) -> np.ndarray:
        return np.asarray([len(t) for t in self.targets], dtype=np.int64)

    def collate(self, indices) -> dict:
        """A padded batch of utterances `indices` with their stored features."""
        return collate([self.feats(int(i)) for i in indices], [self.targets[int(i)] for i in indices])


def collate(feats: list[np.ndarray], targets: list[np.ndarray]) -> dict:
    """Pad (T_i, F) features into (B, T_max, F) float32 + lengths, targets into (B, S_max) + lengths."""
    lengths = np.asarray([len(x) for x in feats], dtype=np.int64)
    x = np.zeros((len(feats), int(lengths.max()), feats[0].shape[1]), dtype=np.float32)
    for j, f in enumerate(feats):
        x[j, :len(f)] = f
    y_len = np.asarray([len(t) for t in targets], dtype=np.int64)
    y = np.zeros((len(targets), max(1, int(y_len.max()))), dtype=np.int64)
    for j, t in enumerate(targets):
        y[j, :len(t)] = t
    return {"net_input": {"feats": torch.from_numpy(x), "lengths": torch.from_numpy(lengths)},
            "target": torch.from_numpy(y), "target_lengths": torch.from_numpy(y_len), "ntokens": int(y_len.sum())}
