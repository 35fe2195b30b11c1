"""Generate a synthetic ImageNet in both real layouts, with real JPEGs.

    python -m tasks.vit.make_tiny --dataset imagenet --size tiny|small --out RAW [--seed N]

Writes
- the extracted tree: RAW/train/<wnid>/<wnid>_<n>.JPEG and RAW/val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG;
- the original archives in RAW/archives/: ILSVRC2012_img_train.tar (a tar of per-class
  <wnid>.tar), ILSVRC2012_img_val.tar (flat ILSVRC2012_val_<8 digits>.JPEG) and
  ILSVRC2012_devkit_t12.tar.gz with data/meta.mat (the `synsets` struct: ILSVRC2012_ID, WNID,
  words, gloss, num_children, children, wordnet_height, num_train_images, written with
  scipy.io.savemat; one non-leaf synset is included, as the real file has 860) and
  data/ILSVRC2012_validation_ground_truth.txt (one ILSVRC2012_ID per val image in name order).
Both hold the same images, so `tasks.vit.prepare` gives the same (path, class) list from either.

Classes a tiny ViT can learn: class c draws one shape (disk, square, triangle, ring, cross,
bars, diamond, X, frame, dots), one hue and one background texture, each unique per class
(tiny: 10 classes, cue i of every kind; small: 100 classes, shape x hue pairs), at a random
position and scale with colour jitter and pixel noise, in images of varying size and aspect.
The wnids are real-looking (n + 8 digits) but made up; the ILSVRC2012_IDs are shuffled against
sorted wnid order, as in the real devkit, so a reader that confuses the two fails the tests.
Deterministic given (size, seed).
"""
from __future__ import annotations

import argparse
import io
import tarfile
from pathlib import Path

import numpy as np

from tasks.config import atomic_write_bytes
from tasks.vit.imagenet import DEVKIT, DEVKIT_GT, DEVKIT_META, TRAIN_TAR, VAL_TAR

SIZES = {  # classes, train images per class, val images per class, (min, max) side in pixels
    "tiny": (10, 48, 12, (40, 64)),
    "small": (100, 260, 50, (160, 256)),
    "bench": (10, 40, 4, (330, 500)),  # ImageNet-sized JPEGs (about 400 x 350 on average) for bench.vit_input
}
SHAPES = ("disk", "square", "triangle", "ring", "cross", "bars", "diamond", "x", "frame", "dots")
TEXTURES = ("plain", "hstripes", "vstripes", "checker", "noise", "grad", "dstripes", "spots", "hgrad", "vwave")


def class_cues(n_classes: int) -> list[tuple[int, int, int]]:
    """(shape, hue, texture) per class; all three cues differ between classes where possible."""
    if n_classes <= 10:
        return [(c, c, c) for c in range(n_classes)]
    return [(c % 10, (c // 10) % 10, (c + c // 10) % 10) for c in range(n_classes)]


def _hue_rgb(h: float, s: float = 0.85, v: float = 0.95) -> np.ndarray:
    i, f = int(h * 6) % 6, h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def _shape_mask(kind: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Boolean mask of shape `kind` in coordinates centred on the shape, unit radius."""
    r = np.sqrt(xx ** 2 + yy ** 2)
    ax, ay = np.abs(xx), np.abs(yy)
    name = SHAPES[kind]
    if name == "disk":
        return r < 1
    if name == "square":
        return (ax < 0.8) & (ay < 0.8)
    if name == "triangle":
        return (yy < 0.8) & (yy > -0.9 + 1.9 * ax / 0.95)
    if name == "ring":
        return (r < 1) & (r > 0.6)
    if name == "cross":
        return ((ax < 0.25) & (ay < 0.95)) | ((ay < 0.25) & (ax < 0.95))
    if name == "bars":
        return (ay < 0.9) & (ax < 0.95) & (np.mod(xx + 1, 0.66) < 0.3)
    if name == "diamond":
        return ax + ay < 1
    if name == "x":
        return (np.abs(ax - ay) < 0.25) & (r < 1.2)
    if name == "frame":
        return (ax < 0.9) & (ay < 0.9) & ~((ax < 0.55) & (ay < 0.55))
    return np.mod(np.floor((xx + 1) * 2.5) + np.floor((yy + 1) * 2.5), 2).astype(bool) & (r < 1.1) & (
        np.hypot(np.mod(xx + 1, 0.4) - 0.2, np.mod(yy + 1, 0.4) - 0.2) < 0.15)


def _texture(kind: int, yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A (H, W) pattern in [0, 1] for background texture `kind` (pixel coordinates)."""
    f = rng.uniform(0.25, 0.4)
    name = TEXTURES[kind]
    if name == "plain":
        return np.full(xx.shape, 0.5)
    if name == "hstripes":
        return (np.sin(yy * f * 2) > 0).astype(float)
    if name == "vstripes":
        return (np.sin(xx * f * 2) > 0).astype(float)
    if name == "checker":
        return ((np.floor(xx * f / 2) + np.floor(yy * f / 2)) % 2).astype(float)
    if name == "noise":
        return rng.random(xx.shape)
    if name == "grad":
        return (xx + yy) / (xx.max() + yy.max() + 1)
    if name == "dstripes":
        return (np.sin((xx + yy) * f * 1.4) > 0).astype(float)
    if name == "spots":
        return (np.hypot(np.mod(xx, 8) - 4, np.mod(yy, 8) - 4) < 2).astype(float)
    if name == "hgrad":
        return xx / (xx.max() + 1)
    return 0.5 + 0.5 * np.sin(xx * f + 3 * np.sin(yy * f / 2))


def render(cues: tuple[int, int, int], rng: np.random.Generator, side: tuple[int, int]) -> np.ndarray:
    """One (H, W, 3) uint8 image of a class with cues (shape, hue, texture)."""
    shape, hue, texture = cues
    h, w = (int(rng.integers(side[0], side[1] + 1)) for _ in range(2))
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    bg_tone = _texture(texture, yy, xx, rng)
    bg_a, bg_b = rng.uniform(0.05, 0.35, 3), rng.uniform(0.45, 0.75, 3)
    img = bg_a + (bg_b - bg_a) * bg_tone[..., None]
    radius = rng.uniform(0.25, 0.42) * min(h, w)
    cy, cx = rng.uniform(radius, h - radius), rng.uniform(radius, w - radius)
    mask = _shape_mask(shape, (yy - cy) / radius, (xx - cx) / radius)
    colour = _hue_rgb((hue / 10 + rng.normal(0, 0.015)) % 1.0, s=rng.uniform(0.7, 1.0), v=rng.uniform(0.8, 1.0))
    img[mask] = colour
    img = img + rng.normal(0, 0.06, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def jpeg_bytes(arr: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _tar_bytes(files: list[tuple[str, bytes]], gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1330000000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def meta_mat(wnids: list[str], ids: dict[str, int], n_train: int) -> bytes:
    """data/meta.mat: the devkit's `synsets` struct array, leaves first, then one parent."""
    import scipy.io

    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
              "num_train_images"]
    dtype = [(f, object) for f in fields]
    by_id = sorted(wnids, key=lambda w: ids[w])
    rows = [(ids[w], w, f"synthetic class {w}", f"generated images of class {w}", 0,
             np.zeros((0,), dtype=np.uint16), 0, n_train) for w in by_id]
    parent = len(wnids) + 1  # a non-leaf synset: readers must skip it (num_children > 0)
    rows.append((parent, "n99999999", "synthetic root", "all generated classes", len(wnids),
                 np.array(sorted(ids.values()), dtype=np.uint16), 1, 0))
    synsets = np.array(rows, dtype=dtype)
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"synsets": synsets})
    return buf.getvalue()


def generate(size: str, out: str | Path, seed: int = 0) -> dict:
    """Write both layouts under OUT; returns counts."""
    n_classes, n_train, n_val, side = SIZES[size]
    out = Path(out)
    rng = np.random.default_rng([seed, n_classes])
    wnids = sorted({f"n{int(x):08d}" for x in rng.choice(10 ** 7, size=n_classes, replace=False) + 10 ** 6})
    ids = {w: int(i) + 1 for w, i in zip(wnids, rng.permutation(n_classes))}  # ILSVRC2012_ID, not sorted order
    cues = class_cues(n_classes)
    train_tars, val_files, val_labels = [], [], []
    for c, w in enumerate(wnids):
        files = []
        for k in range(n_train):
            name = f"{w}_{k + 1}.JPEG"
            data = jpeg_bytes(render(cues[c], rng, side), int(rng.integers(70, 96)))
            atomic_write_bytes(out / "train" / w / name, data)
            files.append((name, data))
        train_tars.append((f"{w}.tar", _tar_bytes(files)))
        val_labels += [c] * n_val
    order = rng.permutation(len(val_labels))  # val file numbers interleave the classes, as the real set
    for n, j in enumerate(order, 1):
        c = val_labels[j]
        name = f"ILSVRC2012_val_{n:08d}.JPEG"
        data = jpeg_bytes(render(cues[c], rng, side), int(rng.integers(70, 96)))
        atomic_write_bytes(out / "val" / wnids[c] / name, data)
        val_files.append((name, data, ids[wnids[c]]))
    arch = out / "archives"
    atomic_write_bytes(arch / TRAIN_TAR, _tar_bytes(train_tars))
    atomic_write_bytes(arch / VAL_TAR, _tar_bytes([(n, d) for n, d, _ in val_files]))
    gt = "".join(f"{i}\n" for _, _, i in val_files)
    devkit = [(DEVKIT_META, meta_mat(wnids, ids, n_train)), (DEVKIT_GT, gt.encode()),
              ("ILSVRC2012_devkit_t12/COPYING", b"synthetic stand-in of the ILSVRC2012 devkit\n")]
    atomic_write_bytes(arch / DEVKIT, _tar_bytes(devkit, gz=True))
    return {"classes": n_classes, "train": n_classes * n_train, "val": len(val_files)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tasks.vit.make_tiny", description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="imagenet", choices=("imagenet",))
    ap.add_argument("--size", default="tiny", choices=sorted(SIZES))
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    counts = generate(args.size, args.out, args.seed)
    print(f"wrote {args.out}: {counts['classes']} classes, {counts['train']} train and {counts['val']} val JPEGs "
          f"in the tree layout and in archives/ ({TRAIN_TAR}, {VAL_TAR}, {DEVKIT})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
