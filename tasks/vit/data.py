"""The vit task's input pipeline: timm's DeiT transforms, Mixup/CutMix, repeated augmentation.

All image work (JPEG decode, RandomResizedCrop, RandAugment, random erasing, Mixup) happens in
`build_batch`, which the engine runs in DataLoader workers on each rank's own share of the
epoch's batches (tasks/engine/data.py) with pinned memory. timm's transforms and Mixup draw
from Python's `random`, NumPy's and torch's global RNGs; `tasks.engine.data.seeded` seeds all
three from (run seed, epoch, the batch's indices) around the batch, so a batch's augmentation
is a function of what the batch is, whichever worker builds it and after any resume.

Repeated augmentation (Hoffer et al. 2020; DeiT's RASampler with 3 repeats): an epoch has as
many samples as the training set, made of N/3 distinct images each taken 3 times, every copy
augmented independently. RASampler sends the copies of an image to different GPUs of the same
step; here the copies sit next to each other in the epoch's sample list, so they fall in the
same (or the next) batch of the same global step: the same images per step and the same
statistics, without making `epoch_batches` depend on the world size.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from tasks.engine.data import seeded


def smoothed_targets(labels: torch.Tensor, num_classes: int, eps: float) -> torch.Tensor:
    """timm's smoothed one-hot: off = eps/C, on = 1 - eps + eps/C; (B,) long -> (B, C) float."""
    off = eps / num_classes
    t = torch.full((labels.shape[0], num_classes), off)
    return t.scatter_(1, labels[:, None], 1.0 - eps + off)


def _posterize_keeping_zero_bits(img, bits_to_keep, **_):
    """timm's posterize with Pillow < 13 semantics: keeping 0 bits gives a black image.

    RandAugment's PosterizeIncreasing keeps 4 - int(4 * level / 10) bits, 0 at the top
    magnitude (reached with mstd 0.5 noise); Pillow 13 rejects bits=0, older Pillow (which
    DeiT ran on) masked every channel to 0.
    """
    from PIL import ImageOps

    if bits_to_keep >= 8:
        return img
    if bits_to_keep <= 0:
        return img.point(lambda _: 0)
    return ImageOps.posterize(img, bits_to_keep)


def _posterize_zero_bits(transform) -> None:
    """Point the posterize ops of a timm RandAugment inside `transform` at the function above."""
    from timm.data import auto_augment

    for t in getattr(transform, "transforms", []):
        for op in getattr(t, "ops", []):
            if getattr(op, "aug_fn", None) is auto_augment.posterize:
                op.aug_fn = _posterize_keeping_zero_bits


def subset_classes(wnids: list, n: int) -> tuple[list, dict]:
    """Keep `n` classes evenly spaced in sorted wnid order; (kept wnids, old -> new label)."""
    if n <= 0 or n >= len(wnids):
        return list(wnids), {i: i for i in range(len(wnids))}
    keep = sorted({int(i * len(wnids) / n) for i in range(n)})
    return [wnids[i] for i in keep], {old: new for new, old in enumerate(keep)}


class ImageData:
    """Index + transforms of one run; picklable (DataLoader workers get a copy)."""

    def __init__(self, index, images_cfg, image_size: int, seed: int, label_smoothing: float):
        from timm.data import Mixup, create_transform

        c = self.cfg = images_cfg
        self.root, self.seed, self.eps = index.root, seed, label_smoothing
        self.wnids, remap = subset_classes(index.wnids, c.class_subset)
        self.num_classes = len(self.wnids)
        self.train = self._select(index.train, remap, c.train_limit)
        self.val = self._select(index.val, remap, 0)
        if not self.train or not self.val:
            raise ValueError(f"{self.root}: the prepared index has {len(self.train)} train and {len(self.val)} "
                             "val images after images.class_subset/train_limit; expected both non-empty")
        self.train_tf = create_transform(
            image_size, is_training=True, scale=tuple(c.scale), ratio=tuple(c.ratio), hflip=c.hflip,
            color_jitter=c.color_jitter, auto_augment=c.auto_augment or None, interpolation=c.interpolation,
            re_prob=c.reprob, re_mode=c.remode, re_count=c.recount)
        _posterize_zero_bits(self.train_tf)
        self.eval_tf = create_transform(image_size, is_training=False, interpolation=c.interpolation,
                                        crop_pct=c.crop_pct)
        self.mixup = None
        if c.mixup > 0 or c.cutmix > 0:
            self.mixup = Mixup(mixup_alpha=c.mixup, cutmix_alpha=c.cutmix, prob=c.mixup_prob,
                               switch_prob=c.mixup_switch_prob, mode=c.mixup_mode,
                               label_smoothing=label_smoothing, num_classes=self.num_classes)

    @staticmethod
    def _select(rows: list, remap: dict, limit: int) -> list:
        out, per_class = [], {}
        for path, label in rows:
            if label in remap:
                k = per_class.get(label, 0)
                if limit <= 0 or k < limit:
                    out.append((path, remap[label]))
                    per_class[label] = k + 1
        return out

    # ---- loading -------------------------------------------------------------------------
    def load(self, rel: str):
        from PIL import Image

        path = self.root / rel
        try:
            with Image.open(path) as img:
                return img.convert("RGB")
        except (OSError, SyntaxError) as e:
            raise OSError(f"{path}: cannot decode ({e}); run python -m tasks.vit.prepare to find bad files") from None

    # ---- training ------------------------------------------------------------------------
    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """Index arrays of batch_size samples: a seeded permutation, the first ceil(N/r) images
        each repeated r times, truncated to N samples (RASampler's epoch length)."""
        n, r, bs = len(self.train), self.cfg.repeats, self.cfg.batch_size
        rng = np.random.default_rng([self.seed, epoch, 0x5A17])
        distinct = rng.permutation(n)[:math.ceil(n / r)]
        samples = np.repeat(distinct, r)[:n]
        return [samples[i:i + bs] for i in range(0, len(samples) - bs + 1, bs)]  # drop_last, as DeiT

    def build_batch(self, indices: np.ndarray, epoch: int) -> dict:
        """images (B,3,S,S) float, target (B,C) soft, labels (B,) long."""
        with seeded(self.seed, epoch, indices):
            x = torch.stack([self.train_tf(self.load(self.train[i][0])) for i in indices])
            labels = torch.tensor([self.train[i][1] for i in indices], dtype=torch.long)
            if self.mixup is not None:
                x, target = self.mixup(x, labels)
            else:
                target = smoothed_targets(labels, self.num_classes, self.eps)
        return {"net_input": {"images": x}, "target": target, "labels": labels}

    # ---- evaluation ----------------------------------------------------------------------
    def eval_batch(self, rows: list, start: int, stop: int) -> dict:
        """Deterministic eval-transformed batch of rows[start:stop]."""
        part = rows[start:stop]
        x = torch.stack([self.eval_tf(self.load(p)) for p, _ in part])
        return {"net_input": {"images": x}, "labels": torch.tensor([c for _, c in part], dtype=torch.long)}

    def eval_loader(self, split: str, workers: int):
        rows = self.val if split == "val" else self.train
        bs = self.cfg.eval_batch_size
        spans = [(i, min(i + bs, len(rows))) for i in range(0, len(rows), bs)]
        if workers <= 0:
            return (self.eval_batch(rows, a, b) for a, b in spans)
        return torch.utils.data.DataLoader(_EvalSet(self, rows, spans), batch_size=None, num_workers=workers,
                                           pin_memory=torch.cuda.is_available())


class _EvalSet(torch.utils.data.Dataset):
    def __init__(self, data: ImageData, rows: list, spans: list):
        self.data, self.rows, self.spans = data, rows, spans

    def __len__(self):
        return len(self.spans)

    def __getitem__(self, i):
        return self.data.eval_batch(self.rows, *self.spans[i])
