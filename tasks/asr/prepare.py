"""Prepare LibriSpeech: decode every FLAC once, store log-mel features memory-mapped.

    python -m tasks.asr.prepare --dataset librispeech --raw RAW --out DATA [--workers N]
        [--splits train-clean-100,dev-clean,...] [--dtype float16|float32]

RAW holds the OpenSLR tarballs or the extracted LibriSpeech/ tree (tasks.asr.librispeech).
Required splits: train-clean-100 and the four evaluation sets; train-clean-360 and
train-other-500 are prepared when present (the 960 h setting). DATA then holds
  meta.json                      format, feature settings, labels, per-split counts
  <split>/feats.bin              all frames of the split, (total_frames, 80) row-major, `dtype`
  <split>/index.npz              offsets (N,) int64 and frames (N,) int64 into feats.bin, samples (N,) int64
  <split>/utts.tsv               "<utt id>\t<TRANSCRIPT>" per utterance, in index order (sorted by id)
Training opens feats.bin with numpy.memmap and never decodes audio. Frames are stored in the
order the raw files are read (tar order or path order); the index maps sorted ids to them.
float16 halves the disk (train-clean-100: about 5.8 GB instead of 11.6) and keeps ~3 significant
digits of log-mel values of magnitude < 30, far below the features' own noise.
A split directory appears only when complete (written as <split>.tmp, then renamed), so an
interrupted preparation resumes by redoing the unfinished split only.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from common.io import atomic_write_text
from common.procs import context
from tasks.asr import librispeech as ls
from tasks.asr import vocab
from tasks.asr.features import FRAME_LENGTH_MS, FRAME_SHIFT_MS, N_MELS, fbank

FORMAT = "normbench-asr-fbank-v1"
DATASETS = ("librispeech",)
REQUIRED = ("train-clean-100",) + ls.EVAL_SPLITS
OPTIONAL = ("train-clean-360", "train-other-500")


def _features(item: ls.AudioItem) -> tuple[str, int, np.ndarray]:
    """(utt id, n samples, (T, 80) float32 features) of one FLAC; runs in a worker."""
    audio = ls.read_flac(item)
    try:
        return item.utt_id, len(audio), fbank(audio, ls.SAMPLE_RATE)
    except ValueError as e:
        raise ls.LibriSpeechError(f"{item.where}: {e}") from None


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def prepare_split(raw: Path, split: str, out: Path, workers: int, dtype: str) -> dict:
    """Write out/<split>/ (see the module doc); the split's counts."""
    final, tmp = out / split, out / f"{split}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    transcripts: dict[str, str] = {}
    ids, offsets, frames, samples = [], [], [], []
    items = ls.iter_split(raw, split, transcripts)
    pool = context().Pool(workers, initializer=_init_worker) if workers > 1 else None
    results = pool.imap(_features, items, chunksize=4) if pool else map(_features, items)
    pos = 0
    try:
        with open(tmp / "feats.bin", "wb") as f:
            for utt, n, feats in results:
                f.write(feats.astype(dtype).tobytes())
                ids.append(utt), offsets.append(pos), frames.append(len(feats)), samples.append(n)
                pos += len(feats)
    finally:
        if pool:
            pool.terminate()
    ls.check_pairs(split, ids, transcripts, raw)
    order = np.argsort(np.asarray(ids))
    ids = [ids[i] for i in order]
    np.savez(tmp / "index.npz", offsets=np.asarray(offsets, np.int64)[order],
             frames=np.asarray(frames, np.int64)[order], samples=np.asarray(samples, np.int64)[order])
    (tmp / "utts.tsv").write_text("".join(f"{u}\t{transcripts[u]}\n" for u in ids), encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return {"utterances": len(ids), "frames": int(pos), "hours": round(float(np.sum(samples)) / ls.SAMPLE_RATE / 3600, 4)}


def prepare(dataset: str, raw: str | Path, out: str | Path, workers: int = 1, splits=None,
            dtype: str = "float16") -> dict:
    if dataset not in DATASETS:
        raise ValueError(f"--dataset {dataset!r}: expected one of {DATASETS}")
    if dtype not in ("float16", "float32"):
        raise ValueError(f"--dtype {dtype!r}: expected float16 or float32")
    raw, out = Path(raw), Path(out)
    if splits is None:
        splits = list(REQUIRED) + [s for s in OPTIONAL if _present(raw, s)]
    for s in splits:
        if s not in ls.SPLITS:
            raise ValueError(f"--splits: unknown LibriSpeech split {s!r}; expected some of {ls.SPLITS}")
        ls.split_source(raw, s)  # a missing split fails before any work is done
    out.mkdir(parents=True, exist_ok=True)
    old = json.loads((out / "meta.json").read_text()) if (out / "meta.json").is_file() else {}
    done = old.get("splits", {}) if old.get("format") == FORMAT and old.get("dtype") == dtype else {}
    stats = {}
    for s in splits:
        if s in done and (out / s / "index.npz").is_file():
            stats[s] = done[s]
            print(f"{s}: already prepared ({done[s]['utterances']} utterances)", file=sys.stderr)
            continue
        stats[s] = prepare_split(raw, s, out, workers, dtype)
        print(f"{s}: {stats[s]['utterances']} utterances, {stats[s]['hours']} h, {stats[s]['frames']} frames",
              file=sys.stderr)
        _write_meta(out, dataset, dtype, {**done, **stats})
    return _write_meta(out, dataset, dtype, {**done, **stats})


def _present(raw: Path, split: str) -> bool:
    try:
        ls.split_source(raw, split)
        return True
    except ls.LibriSpeechError:
        return False


def _write_meta(out: Path, dataset: str, dtype: str, splits: dict) -> dict:
    meta = {"format": FORMAT, "dataset": dataset, "n_mels": N_MELS, "frame_length_ms": FRAME_LENGTH_MS,
            "frame_shift_ms": FRAME_SHIFT_MS, "sample_rate": ls.SAMPLE_RATE, "dtype": dtype,
            "labels": list(vocab.LABELS), "blank": vocab.BLANK, "splits": splits}
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", required=True, choices=DATASETS)
    ap.add_argument("--raw", required=True, help="directory holding the tarballs or the LibriSpeech/ tree")
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--splits", default="", help="comma-separated; default: required + those present")
    ap.add_argument("--dtype", default="float16", choices=("float16", "float32"))
    a = ap.parse_args(argv)
    splits = [s for s in a.splits.split(",") if s] or None
    try:
        prepare(a.dataset, a.raw, a.out, max(1, a.workers), splits, a.dtype)
    except ls.LibriSpeechError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
