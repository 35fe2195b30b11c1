"""Prepare the toy corpus: python -m tasks.toy.prepare --dataset toy_markov --raw DIR --out DATA.

Reads DIR/{train,valid}.txt and DIR/perm.txt (tasks.toy.make_tiny) and writes DATA/{split}.npy
(all symbols), DATA/{split}.offsets.npy (sequence boundaries) and DATA/meta.json (perm).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from common.io import atomic_write_text
from tasks.toy.task import N_SPECIAL, VOCAB


def read_split(path: Path) -> list[list[int]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; expected the output of python -m tasks.toy.make_tiny")
    seqs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            ids = [int(t) for t in line.split()]
        except ValueError:
            raise ValueError(f"{path}:{n}: expected space-separated integer symbol ids, got {line[:40]!r}") from None
        bad = [i for i in ids if not N_SPECIAL <= i < VOCAB]
        if bad or not ids:
            raise ValueError(f"{path}:{n}: symbol ids must be in [{N_SPECIAL}, {VOCAB}) and the line non-empty")
        seqs.append(ids)
    return seqs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tasks.toy.prepare", description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--raw", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    try:
        splits = {s: read_split(args.raw / f"{s}.txt") for s in ("train", "valid")}
        perm = [int(t) for t in (args.raw / "perm.txt").read_text().split()]
    except (OSError, ValueError) as e:
        print(f"tasks.toy.prepare: {e}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for split, seqs in splits.items():
        np.save(args.out / f"{split}.npy", np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs]))
        np.save(args.out / f"{split}.offsets.npy", np.cumsum([0] + [len(s) for s in seqs]).astype(np.int64))
    atomic_write_text(args.out / "meta.json", json.dumps({"perm": perm, "vocab": VOCAB}) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
