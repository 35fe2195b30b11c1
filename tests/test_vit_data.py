"""ImageNet layouts of the vit task: generated tree and archives, the index, and bad input."""
import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tasks.vit import imagenet as inet
from tasks.vit.make_tiny import generate
from tasks.vit.prepare import load_index, prepare


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    out = tmp_path_factory.mktemp("imagenet_raw")
    generate("tiny", out, seed=3)
    return out


def quiet(*_):
    pass


def test_both_layouts_give_the_same_path_class_list(raw, tmp_path):
    tree = prepare(raw, tmp_path / "tree", workers=1, log=quiet)
    arch = prepare(raw / "archives", tmp_path / "arch", workers=1, log=quiet)
    assert tree.layout == "tree" and arch.layout == "archives"
    assert tree.wnids == arch.wnids == sorted(tree.wnids)
    assert tree.train == arch.train and tree.val == arch.val
    assert len(tree.train) == 480 and len(tree.val) == 120
    # the index round-trips, and class = position of the folder's wnid in sorted order
    loaded = load_index(tmp_path / "arch")
    assert loaded.train == arch.train and loaded.val == arch.val
    for rel, label in loaded.val:
        assert rel.split("/")[1] == loaded.wnids[label]
        assert (loaded.root / rel).read_bytes() == (raw / rel).read_bytes()


def test_devkit_ids_are_not_sorted_wnid_order(raw):
    # the ground truth holds ILSVRC2012_IDs; mapping them as if they were sorted positions must fail
    id_to_wnid, gt = inet.read_devkit(raw / "archives" / inet.DEVKIT)
    wnids = sorted(id_to_wnid.values())
    assert len(id_to_wnid) == 10 and len(gt) == 120
    assert any(id_to_wnid[i] != wnids[i - 1] for i in id_to_wnid)


def _copy_tree(raw: Path, dst: Path) -> Path:
    shutil.copytree(raw / "train", dst / "train")
    shutil.copytree(raw / "val", dst / "val")
    return dst


def test_truncated_jpeg_names_the_file(raw, tmp_path):
    src = _copy_tree(raw, tmp_path / "raw")
    victim = sorted((src / "train").glob("*/*.JPEG"))[7]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    with pytest.raises(inet.LayoutError) as e:
        prepare(src, tmp_path / "out", workers=2, log=quiet)
    msg = str(e.value)
    assert str(victim) in msg and "truncated" in msg and "image-net.org" in msg


def test_val_image_without_label_in_tree(raw, tmp_path):
    src = _copy_tree(raw, tmp_path / "raw")
    loose = next((src / "val").glob("*/*.JPEG"))
    shutil.move(loose, src / "val" / loose.name)
    with pytest.raises(inet.LayoutError, match=f"{loose.name}.*no label"):
        prepare(src, tmp_path / "out", log=quiet)


def test_val_image_without_label_in_archives(raw, tmp_path):
    src = tmp_path / "archives"
    shutil.copytree(raw / "archives", src)
    with tarfile.open(src / inet.DEVKIT, "r:gz") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    files[inet.DEVKIT_GT] = b"".join(files[inet.DEVKIT_GT].splitlines(keepends=True)[:-1])  # drop the last label
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (src / inet.DEVKIT).write_bytes(buf.getvalue())
    with pytest.raises(inet.LayoutError, match=r"ILSVRC2012_val_00000120\.JPEG has no label"):
        prepare(src, tmp_path / "out", log=quiet)


def test_missing_or_partial_data_is_a_clear_error(raw, tmp_path):
    with pytest.raises(inet.LayoutError, match=r"dataset imagenet: .*neither train/ \+ val/.*image-net\.org"):
        prepare(tmp_path, tmp_path / "out", log=quiet)
    part = tmp_path / "part"
    part.mkdir()
    shutil.copy(raw / "archives" / inet.VAL_TAR, part)
    with pytest.raises(inet.LayoutError, match=f"not .*{inet.TRAIN_TAR}"):
        prepare(part, tmp_path / "out", log=quiet)
    src = _copy_tree(raw, tmp_path / "tree")
    shutil.rmtree(next((src / "val").iterdir()))
    with pytest.raises(inet.LayoutError, match="different classes"):
        prepare(src, tmp_path / "out", log=quiet)
    empty = next((src / "train").iterdir())
    for f in empty.iterdir():
        f.unlink()
    with pytest.raises(inet.LayoutError, match="holds no images"):
        prepare(src, tmp_path / "out", log=quiet)


def test_generated_classes_differ_in_colour(raw):
    # the classes carry signal: per-class mean colours are far apart relative to their spread
    from PIL import Image

    idx = inet.scan_tree(raw)[1]["train"]
    feats = {}
    for rel, c in idx:
        a = np.asarray(Image.open(raw / rel).convert("RGB"), dtype=float)
        feats.setdefault(c, []).append(np.concatenate([a.mean((0, 1)), a.std((0, 1))]))
    means = np.stack([np.mean(v, 0) for v in feats.values()])
    # nearest-class-mean classifier on these 6 numbers already beats chance (10%) by far
    correct = sum(int(np.argmin(((means - f) ** 2).sum(1)) == c) for c, v in feats.items() for f in v)
    assert correct / len(idx) > 0.4
