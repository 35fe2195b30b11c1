"""Write the toy corpus as text: python -m tasks.toy.make_tiny --dataset toy_markov --size tiny --out DIR.

DIR/{train,valid}.txt hold one sequence per line (symbol ids, space-separated);
DIR/perm.txt the chain's permutation. The same corpus at every size (it is synthetic).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.io import atomic_write_text
from tasks.toy.task import generate


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tasks.toy.make_tiny", description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    corpus = generate()
    for split in ("train", "valid"):
        atomic_write_text(args.out / f"{split}.txt", "".join(" ".join(map(str, s)) + "\n" for s in corpus[split]))
    atomic_write_text(args.out / "perm.txt", " ".join(map(str, corpus["perm"])) + "\n")
    print(f"wrote {args.out} ({len(corpus['train'])} train, {len(corpus['valid'])} valid sequences)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
