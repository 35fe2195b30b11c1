"""ImageNet classification with a ViT (DeiT recipe; sigma-reparam's vision recipe).

Loss: soft-target cross-entropy, sum over the batch of -sum_c t_c log p_c, with t the
Mixup/CutMix-mixed, label-smoothed targets (timm's SoftTargetCrossEntropy, summed; the loop
divides by the number of images). `nll_sum` is the same cross-entropy against the mixed
targets without smoothing, recovered exactly as (t - eps/C) / (1 - eps). Uniform prediction
scores log C on both whatever the targets, so `chance_loss = log C`.

Evaluation (eval mode, deterministic): resize to image_size / crop_pct (bicubic), centre crop,
top-1 and top-5 accuracy in percent and the plain cross-entropy on the validation split.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tasks.base import Task
from tasks.vit.data import ImageData
from tasks.vit.prepare import load_index

PROBE_IMAGES = 32  # fixed eval-transformed training images for the probes (entropy, spectral)


class ViTTask(Task):
    def __init__(self, cfg):
        super().__init__(cfg)
        from models.sizes import resolve_size

        loss = cfg.loss
        if loss.name not in ("label_smoothed_ce", "ce"):
            raise ValueError(f"loss.name: the vit task trains with soft-target cross-entropy; expected "
                             f"label_smoothed_ce or ce, got {loss.name!r}")
        self.eps = loss.label_smoothing if loss.name == "label_smoothed_ce" else 0.0
        if self.eps > 0 and getattr(loss, "smoothing_over", "all") != "all":
            raise ValueError("loss.smoothing_over: timm's Mixup spreads the smoothing over all classes "
                             f"(eps/C); set it to 'all', got {loss.smoothing_over!r}")
        self.size = resolve_size(cfg.model.family, cfg.model.size, **dict(cfg.model.overrides))
        self.data = ImageData(load_index(cfg.data.dir), cfg.images, self.size.image_size, cfg.seed, self.eps)
        self.num_classes = self.data.num_classes
        self.chance_loss = math.log(self.num_classes)

    def build_model(self) -> nn.Module:
        from models import build_model

        m = self.cfg.model
        return build_model(m.family, m.size, encoder_scheme=m.encoder_scheme, num_classes=self.num_classes,
                           **dict(m.overrides))

    # ---- data ----------------------------------------------------------------------------
    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        return self.data.epoch_batches(epoch)

    def build_batch(self, indices: np.ndarray, epoch: int) -> dict:
        return self.data.build_batch(indices, epoch)

    def probe_batch(self) -> dict:
        """The first PROBE_IMAGES training images, eval-transformed (no randomness), with smoothed
        one-hot targets so that `loss` runs on it too (Admin profiling: forward + backward)."""
        from tasks.vit.data import smoothed_targets

        n = min(PROBE_IMAGES, len(self.data.train))
        batch = self.data.eval_batch(self.data.train, 0, n)
        batch["target"] = smoothed_targets(batch["labels"], self.num_classes, self.eps)
        return batch

    # ---- loss ----------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        logits = model(**batch["net_input"])
        logp = F.log_softmax(logits.float(), dim=-1)
        t = batch["target"].float()
        loss = -(t * logp).sum()
        off = self.eps / self.num_classes
        mixed = (t - off) / (1.0 - self.eps) if self.eps < 1.0 else t
        nll = -(mixed * logp).sum()
        return loss, {"units": logits.shape[0], "nll_sum": nll.detach()}

    # ---- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str = "val") -> dict:
        device = next(model.parameters()).device
        n = ce = top1 = top5 = 0.0
        for batch in self.data.eval_loader(split, self.cfg.data.workers):
            x = batch["net_input"]["images"].to(device, non_blocking=True)
            y = batch["labels"].to(device)
            logits = model(x).float()
            ce += F.cross_entropy(logits, y, reduction="sum").item()
            k = min(5, logits.shape[-1])
            topk = logits.topk(k, dim=-1).indices
            top1 += (topk[:, 0] == y).sum().item()
            top5 += (topk == y[:, None]).any(-1).sum().item()
            n += y.shape[0]
        return {"valid_loss": ce / n, "valid_nll": ce / n, "top1": 100.0 * top1 / n, "top5": 100.0 * top5 / n,
                "n_images": int(n)}

    def valid_loss(self, model: nn.Module) -> dict:
        return self.evaluate(model, "val")

    def final_eval(self, model: nn.Module, run_dir: Path) -> dict:
        scores = self.evaluate(model, "val")
        scores["chance_top1"] = 100.0 / self.num_classes
        scores["num_classes"] = self.num_classes
        return scores
