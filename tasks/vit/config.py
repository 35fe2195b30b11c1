"""The vit task's own config section `images` (closed, typed; see tasks/config.py).

Defaults are the DeiT-B recipe (Touvron et al. 2021; facebookresearch/deit `main.py` defaults):
RandomResizedCrop + flip, RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25 (pixel mode,
one box), Mixup 0.8 / CutMix 1.0 with switch probability 0.5 per batch, repeated augmentation x3; eval resize to input/0.875 bicubic and
a centre crop. The input size is the model's `image_size` (the size, not this section). Label
smoothing is the core `loss.label_smoothing` (DeiT 0.1, spread over all classes: eps/C, timm's
convention, so `loss.smoothing_over` must be `all`); it goes into the mixed soft targets.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImagesConfig:
    batch_size: int = 64  # images per rank per micro-batch (DeiT: 64/GPU x 16 GPUs = 1024)
    eval_batch_size: int = 128
    repeats: int = 3  # repeated augmentation (DeiT RASampler): each image 3x per epoch slot
    auto_augment: str = "rand-m9-mstd0.5-inc1"  # "" = none
    color_jitter: float = 0.3  # timm ignores it when auto_augment is set (as in DeiT)
    interpolation: str = "bicubic"
    hflip: float = 0.5
    scale: tuple[float, float] = (0.08, 1.0)  # RandomResizedCrop area range
    ratio: tuple[float, float] = (0.75, 1.3333333333333333)
    reprob: float = 0.25  # random erasing probability
    remode: str = "pixel"
    recount: int = 1
    mixup: float = 0.8  # Mixup alpha; 0 = off
    cutmix: float = 1.0  # CutMix alpha; 0 = off
    mixup_prob: float = 1.0
    mixup_switch_prob: float = 0.5
    mixup_mode: str = "batch"
    crop_pct: float = 0.875  # eval: resize to input/crop_pct, centre crop input (DeiT: 256 -> 224)
    class_subset: int = 0  # > 0: keep this many classes, evenly spaced in sorted wnid order
    train_limit: int = 0  # > 0: at most this many training images per class (small scale)

    def validate(self) -> None:
        for name in ("batch_size", "eval_batch_size", "repeats", "recount"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)}")
        for name in ("hflip", "reprob", "mixup_prob", "mixup_switch_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: expected a probability in [0, 1], got {getattr(self, name)}")
        if self.mixup < 0 or self.cutmix < 0:
            raise ValueError(f"mixup/cutmix: alphas must be >= 0, got {self.mixup}, {self.cutmix}")
        if (self.mixup > 0 or self.cutmix > 0) and self.batch_size % 2:
            raise ValueError(f"batch_size: timm's Mixup needs an even batch, got {self.batch_size}")
        if self.remode not in ("const", "rand", "pixel"):
            raise ValueError(f"remode: {self.remode!r} is not one of ['const', 'rand', 'pixel']")
        if self.mixup_mode not in ("batch", "pair", "elem"):
            raise ValueError(f"mixup_mode: {self.mixup_mode!r} is not one of ['batch', 'pair', 'elem']")
        if self.interpolation not in ("bicubic", "bilinear", "nearest", "random"):
            raise ValueError(f"interpolation: {self.interpolation!r} is not one of "
                             "['bicubic', 'bilinear', 'nearest', 'random']")
        if not 0.0 < self.crop_pct <= 1.0:
            raise ValueError(f"crop_pct: expected a fraction in (0, 1], got {self.crop_pct}")
        if self.class_subset < 0 or self.train_limit < 0:
            raise ValueError("class_subset/train_limit: expected >= 0 (0 = all)")
        if not (0 < self.scale[0] <= self.scale[1] <= 1.0) or not (0 < self.ratio[0] <= self.ratio[1]):
            raise ValueError(f"scale/ratio: expected 0 < lo <= hi (scale <= 1), got {self.scale}, {self.ratio}")
