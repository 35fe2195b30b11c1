"""ImageNet-1k (ILSVRC2012) in its two real layouts, read into one (path, class) index.

Layouts (`detect_layout`):
- "tree": the extracted tree clusters keep, RAW/train/<wnid>/*.JPEG and RAW/val/<wnid>/*.JPEG
  (val sorted into class folders, as torchvision's ImageNet and timm's ImageFolder read it).
- "archives": the original downloads in RAW: ILSVRC2012_img_train.tar (a tar of per-class
  tars <wnid>.tar holding <wnid>_<n>.JPEG), ILSVRC2012_img_val.tar (50,000 flat files
  ILSVRC2012_val_<8 digits>.JPEG) and ILSVRC2012_devkit_t12.tar.gz, whose
  ILSVRC2012_devkit_t12/data/meta.mat maps ILSVRC2012_ID -> wnid (the 1000 leaf synsets,
  num_children == 0) and whose data/ILSVRC2012_validation_ground_truth.txt holds one
  ILSVRC2012_ID per val image in file-name order. These are extracted into the tree layout
  (what torchvision's `parse_*_archive` functions do, without their md5 checks).

Class index = position of the wnid in sorted order (torchvision / timm's ImageFolder), so a
checkpoint's head lines up with timm's. Relative paths are "train/<wnid>/<file>" and
"val/<wnid>/<file>" in both layouts, so both give the same (path, class) list.
"""
from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path, PurePosixPath

TRAIN_TAR = "ILSVRC2012_img_train.tar"
VAL_TAR = "ILSVRC2012_img_val.tar"
DEVKIT = "ILSVRC2012_devkit_t12.tar.gz"
DEVKIT_META = "ILSVRC2012_devkit_t12/data/meta.mat"
DEVKIT_GT = "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt"
PUBLISHED = ("https://image-net.org/download.php (ILSVRC2012: ILSVRC2012_img_train.tar, "
             "ILSVRC2012_img_val.tar, ILSVRC2012_devkit_t12.tar.gz; registration required)")
EXPECTED = ("either the extracted tree train/<wnid>/*.JPEG + val/<wnid>/*.JPEG, or the archives "
            f"{TRAIN_TAR} (a tar of per-class <wnid>.tar), {VAL_TAR} and {DEVKIT}")
WNID = re.compile(r"^n\d{8}$")
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")  # ImageNet has one PNG and some CMYK files named .JPEG


class LayoutError(ValueError):
    """Raw data that does not match either ImageNet layout; the message names key, file, layout."""


def _fail(key: str, problem: str) -> LayoutError:
    return LayoutError(f"dataset {key}: {problem}. Expected {EXPECTED}. ImageNet is published at {PUBLISHED}.")


def detect_layout(raw: str | Path, key: str = "imagenet") -> str:
    """'tree' when RAW/train and RAW/val are directories, 'archives' when the three downloads
    are in RAW; otherwise a LayoutError that says what is missing."""
    raw = Path(raw)
    if not raw.is_dir():
        raise _fail(key, f"{raw} is not a directory")
    if (raw / "train").is_dir() and (raw / "val").is_dir():
        return "tree"
    present = [n for n in (TRAIN_TAR, VAL_TAR, DEVKIT) if (raw / n).is_file()]
    if len(present) == 3:
        return "archives"
    if present:
        missing = sorted({TRAIN_TAR, VAL_TAR, DEVKIT} - set(present))
        raise _fail(key, f"{raw} holds {', '.join(present)} but not {', '.join(missing)}")
    has = [d for d in ("train", "val") if (raw / d).is_dir()]
    what = f"only {has[0]}/" if has else "neither train/ + val/ nor the ILSVRC2012 archives"
    raise _fail(key, f"{raw} has {what}")


def _images(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def scan_tree(root: str | Path, key: str = "imagenet") -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """(sorted wnids, {"train": [(rel path, class)], "val": [...]}) of an extracted tree.

    Every split needs the same non-empty set of wnid folders, each with at least one image;
    an image lying directly in val/ (not sorted into a wnid folder) has no label and fails.
    """
    root = Path(root)
    splits: dict[str, dict[str, list[str]]] = {}
    for split in ("train", "val"):
        folder = root / split
        if not folder.is_dir():
            raise _fail(key, f"{folder} is missing")
        loose = _images(folder)
        if loose:
            raise _fail(key, f"{folder / loose[0]} (and {len(loose) - 1} more) lies directly in {split}/, not in a "
                        f"{split}/<wnid>/ folder, so it has no label (sort val/ into class folders, or give the "
                        f"original {VAL_TAR} with {DEVKIT})")
        dirs = sorted(d.name for d in folder.iterdir() if d.is_dir())
        bad = [d for d in dirs if not WNID.match(d)]
        if bad:
            raise _fail(key, f"{folder / bad[0]} is not a WordNet id folder (n followed by 8 digits)")
        if not dirs:
            raise _fail(key, f"{folder} has no <wnid> class folders")
        splits[split] = {d: _images(folder / d) for d in dirs}
        empty = [d for d, files in splits[split].items() if not files]
        if empty:
            raise _fail(key, f"{folder / empty[0]} holds no images ({len(empty)} empty class folders: a partial copy?)")
    wnids = sorted(splits["train"])
    if sorted(splits["val"]) != wnids:
        only_train = sorted(set(wnids) - set(splits["val"]))
        only_val = sorted(set(splits["val"]) - set(wnids))
        raise _fail(key, f"train/ and val/ hold different classes (only in train: {only_train[:5]}, "
                    f"only in val: {only_val[:5]})")
    label = {w: i for i, w in enumerate(wnids)}
    index = {split: [(f"{split}/{w}/{f}", label[w]) for w in wnids for f in splits[split][w]]
             for split in ("train", "val")}
    return wnids, index


def quick_problems(path: str | Path) -> list[str]:
    """What is wrong with PATH as ImageNet, without opening an image (seconds on the real tree):
    the layout, matching non-empty wnid folders in train/ and val/, no loose val images. The
    full check (every file listed and decoded) is `tasks.vit.prepare`."""
    raw = Path(path)
    try:
        if detect_layout(raw) == "archives":
            return []
        wnids = {}
        for split in ("train", "val"):
            with_files = []
            for d in sorted(e for e in (raw / split).iterdir()):
                if d.is_file() and d.suffix.lower() in IMAGE_SUFFIXES:
                    return [f"{d} lies directly in {split}/: a val image without a label (sort val/ into "
                            "<wnid> folders, or give the original archives with the devkit)"]
                if d.is_dir():
                    if not WNID.match(d.name):
                        return [f"{d} is not a WordNet id folder (n followed by 8 digits)"]
                    if next(d.iterdir(), None) is None:
                        return [f"{d} is empty (a partial copy?)"]
                    with_files.append(d.name)
            if not with_files:
                return [f"{raw / split} has no <wnid> class folders"]
            wnids[split] = with_files
        if wnids["train"] != wnids["val"]:
            return [f"{raw}/train and {raw}/val hold different wnid folders "
                    f"({len(wnids['train'])} vs {len(wnids['val'])})"]
    except LayoutError as e:
        return [str(e)]
    return []


# ---------------------------------------------------------------------------- archives
def read_devkit(path: str | Path, key: str = "imagenet") -> tuple[dict[int, str], list[int]]:
    """({ILSVRC2012_ID: wnid} of the leaf synsets, [ILSVRC2012_ID per val image in name order])."""
    import scipy.io

    path = Path(path)
    try:
        with tarfile.open(path, "r:gz") as tar:
            names = set(tar.getnames())
            for member in (DEVKIT_META, DEVKIT_GT):
                if member not in names:
                    raise _fail(key, f"{path} has no {member}")
            meta = tar.extractfile(DEVKIT_META).read()
            gt_text = tar.extractfile(DEVKIT_GT).read().decode("ascii", "replace")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise _fail(key, f"{path} is not a readable .tar.gz ({e})") from None
    try:
        synsets = scipy.io.loadmat(io.BytesIO(meta), squeeze_me=True)["synsets"]
        rows = [(int(s["ILSVRC2012_ID"]), str(s["WNID"]), int(s["num_children"])) for s in synsets]
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise _fail(key, f"{path}:{DEVKIT_META} is not the devkit's synsets struct "
                    f"(ILSVRC2012_ID, WNID, num_children): {e}") from None
    id_to_wnid = {i: w for i, w, children in rows if children == 0}
    gt = []
    for n, line in enumerate(gt_text.splitlines(), 1):
        if line.strip():
            try:
                gt.append(int(line))
            except ValueError:
                raise _fail(key, f"{path}:{DEVKIT_GT} line {n} is {line!r}; expected an ILSVRC2012_ID") from None
            if gt[-1] not in id_to_wnid:
                raise _fail(key, f"{path}:{DEVKIT_GT} line {n}: ILSVRC2012_ID {gt[-1]} is not a leaf synset of meta.mat")
    return id_to_wnid, gt


def _safe_name(name: str, where: str, key: str) -> str:
    base = PurePosixPath(name).name
    if base != name.lstrip("./") or base in ("", ".", ".."):
        raise _fail(key, f"{where}: member {name!r} has a directory part; expected flat file names")
    return base


def _write(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(dest)


def extract_archives(raw: str | Path, out: str | Path, key: str = "imagenet",
                     log=print) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """Extract the three archives of RAW into the tree layout under OUT (train/, val/) and
    return what `scan_tree(OUT)` returns. Val images get their wnid from the devkit; a val
    image beyond the ground-truth list, or a label without an image, fails naming the file."""
    raw, out = Path(raw), Path(out)
    id_to_wnid, gt = read_devkit(raw / DEVKIT, key)
    train_tar = raw / TRAIN_TAR
    n_classes = 0
    try:
        with tarfile.open(train_tar, "r|") as outer:  # streamed: the real file is 138 GB
            for member in outer:
                if not member.isfile():
                    continue
                name = _safe_name(member.name, str(train_tar), key)
                wnid = name[:-4] if name.endswith(".tar") else ""
                if not WNID.match(wnid):
                    raise _fail(key, f"{train_tar}: member {member.name!r} is not a per-class <wnid>.tar")
                inner_bytes = outer.extractfile(member).read()
                with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:") as inner:
                    for m in inner.getmembers():
                        if m.isfile():
                            f = _safe_name(m.name, f"{train_tar}:{name}", key)
                            _write(out / "train" / wnid / f, inner.extractfile(m).read())
                n_classes += 1
                if n_classes % 100 == 0:
                    log(f"extracted {n_classes} training classes")
    except tarfile.TarError as e:
        raise _fail(key, f"{train_tar} is not a readable tar ({e}); a partial download?") from None
    val_tar = raw / VAL_TAR
    try:
        with tarfile.open(val_tar, "r:") as tar:
            members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
            if len(members) > len(gt):
                extra = _safe_name(members[len(gt)].name, str(val_tar), key)
                raise _fail(key, f"{val_tar}:{extra} has no label: {DEVKIT}:{DEVKIT_GT} lists {len(gt)} "
                            f"images but the archive holds {len(members)}")
            if len(members) < len(gt):
                raise _fail(key, f"{val_tar} holds {len(members)} images but the ground truth lists {len(gt)} "
                            "(a truncated archive?)")
            for m, cls_id in zip(members, gt):
                f = _safe_name(m.name, str(val_tar), key)
                _write(out / "val" / id_to_wnid[cls_id] / f, tar.extractfile(m).read())
    except tarfile.TarError as e:
        raise _fail(key, f"{val_tar} is not a readable tar ({e}); a partial download?") from None
    return scan_tree(out, key)


# ---------------------------------------------------------------------------- image checks
JPEG_SOI, JPEG_EOI, PNG_SIG = b"\xff\xd8", b"\xff\xd9", b"\x89PNG\r\n\x1a\n"


def image_problem(path: str | Path) -> str | None:
    """None when the file decodes completely; else what is wrong with it.

    The decode runs in PIL's draft mode (JPEG DCT scaling to about 1/8 size), which still
    reads the whole entropy-coded stream, so a truncated file fails at a fraction of the cost.
    """
    from PIL import Image

    path = Path(path)
    try:
        head = path.open("rb").read(8)
        if not (head.startswith(JPEG_SOI) or head.startswith(PNG_SIG)):
            return "not a JPEG (no FFD8 start-of-image marker) nor a PNG"
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
    except (OSError, SyntaxError, ValueError) as e:  # PIL: "image file is truncated", "broken data stream"
        return f"does not decode ({e})"
    return None


def _check_one(path: str) -> tuple[str, str | None]:
    return path, image_problem(path)


def check_images(root: str | Path, rel_paths: list[str], workers: int = 1, key: str = "imagenet") -> None:
    """Decode every image (in `workers` processes); a LayoutError naming the bad files."""
    paths = [str(Path(root) / r) for r in rel_paths]
    if workers > 1 and len(paths) > 64:
        from common.procs import context

        with context().Pool(workers) as pool:
            results = pool.map(_check_one, paths, chunksize=256)
    else:
        results = [_check_one(p) for p in paths]
    bad = [(p, why) for p, why in results if why is not None]
    if bad:
        shown = "; ".join(f"{p}: {why}" for p, why in bad[:3])
        raise _fail(key, f"{len(bad)} unreadable image(s) (truncated or corrupt download?): {shown}")
