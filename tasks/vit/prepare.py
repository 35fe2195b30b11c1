"""Validate an ImageNet copy (either real layout) and write the index the task reads.

    python -m tasks.vit.prepare --dataset imagenet --raw RAW --out DATA --workers N [--layout auto|tree|archives]

RAW holds the extracted tree (train/<wnid>/, val/<wnid>/) or the three ILSVRC2012 downloads
(see tasks/vit/imagenet.py); `auto` takes the tree when both are there. Archives are extracted
into DATA/images/ (the tree layout); a tree is read in place. Every image is decoded once (in N
processes) so a truncated or corrupt file stops here, naming the file, instead of in a
training job days later. Writes, atomically:
  DATA/classes.tsv   label <TAB> wnid       (label = sorted wnid order)
  DATA/train.tsv     rel path <TAB> label   (rel to the image root, "train/<wnid>/<file>")
  DATA/val.tsv       rel path <TAB> label
  DATA/meta.json     {layout, root, classes, train, val, raw}
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tasks.config import atomic_write_text
from tasks.vit import imagenet as inet


@dataclass(frozen=True)
class Index:
    """A prepared index: image root, sorted wnids, (rel path, label) per split."""
    root: Path
    wnids: list
    train: list
    val: list
    layout: str


def prepare(raw: str | Path, out: str | Path, key: str = "imagenet", layout: str = "auto",
            workers: int = 1, check: bool = True, log=print) -> Index:
    raw, out = Path(raw), Path(out)
    found = inet.detect_layout(raw, key)
    if layout == "auto":
        layout = found
    elif layout == "archives" and found == "tree" and not (raw / inet.TRAIN_TAR).is_file():
        raise inet.LayoutError(f"dataset {key}: --layout archives but {raw} holds no {inet.TRAIN_TAR}")
    t0 = time.perf_counter()
    if layout == "tree":
        root = raw.resolve()
        wnids, index = inet.scan_tree(root, key)
    else:
        root = out / "images"
        wnids, index = inet.extract_archives(raw, root, key, log=log)
    log(f"{key}: {layout} layout, {len(wnids)} classes, {len(index['train'])} train and "
        f"{len(index['val'])} val images ({time.perf_counter() - t0:.1f}s)")
    if check:
        t0 = time.perf_counter()
        for split in ("train", "val"):
            inet.check_images(root, [p for p, _ in index[split]], workers, key)
        log(f"{key}: every image decodes ({time.perf_counter() - t0:.1f}s, {workers} workers)")
    write_index(out, root, wnids, index, layout, raw)
    return Index(root, wnids, index["train"], index["val"], layout)


def write_index(out: Path, root: Path, wnids: list, index: dict, layout: str, raw: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "classes.tsv", "".join(f"{i}\t{w}\n" for i, w in enumerate(wnids)))
    for split in ("train", "val"):
        atomic_write_text(out / f"{split}.tsv", "".join(f"{p}\t{c}\n" for p, c in index[split]))
    rel_root = str(root.relative_to(out)) if root.is_relative_to(out) else str(root)
    meta = {"layout": layout, "root": rel_root, "classes": len(wnids), "train": len(index["train"]),
            "val": len(index["val"]), "raw": str(raw.resolve())}
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=2) + "\n")


def load_index(data_dir: str | Path) -> Index:
    """Read DATA/{meta.json, classes.tsv, train.tsv, val.tsv}; clear errors when absent or bad."""
    data_dir = Path(data_dir)
    meta_path = data_dir / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: not found; data.dir must be a directory written by "
                                "python -m tasks.vit.prepare")
    meta = json.loads(meta_path.read_text())
    root = Path(meta["root"])
    root = root if root.is_absolute() else data_dir / root
    wnids = [line.split("\t")[1] for line in _lines(data_dir / "classes.tsv")]
    splits = {}
    for split in ("train", "val"):
        rows = []
        for n, line in enumerate(_lines(data_dir / f"{split}.tsv"), 1):
            path, _, label = line.partition("\t")
            if not label.isdigit() or int(label) >= len(wnids):
                raise ValueError(f"{data_dir / f'{split}.tsv'}:{n}: expected 'path<TAB>label' with a label "
                                 f"below {len(wnids)}, got {line!r}")
            rows.append((path, int(label)))
        if len(rows) != meta[split]:
            raise ValueError(f"{data_dir / f'{split}.tsv'}: {len(rows)} rows, meta.json says {meta[split]} "
                             "(an interrupted prepare? run it again)")
        splits[split] = rows
    return Index(root, wnids, splits["train"], splits["val"], meta["layout"])


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; run python -m tasks.vit.prepare again")
    return [line for line in path.read_text().splitlines() if line]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tasks.vit.prepare", description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="imagenet", help="the datasets.yaml key (named in errors)")
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--layout", default="auto", choices=("auto", "tree", "archives"))
    ap.add_argument("--no-check", action="store_true", help="skip decoding every image")
    args = ap.parse_args(argv)
    try:
        prepare(args.raw, args.out, args.dataset, args.layout, max(1, args.workers), not args.no_check)
    except (inet.LayoutError, FileNotFoundError) as e:
        print(f"tasks.vit.prepare: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}/{{classes,train,val}}.tsv and meta.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
