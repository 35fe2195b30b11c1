"""Two Gaussian blobs in 2-D, an MLP, accuracy: the smallest complete task."""
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tasks.base import Task


@dataclass(frozen=True)
class PointsConfig:
    batch_size: int = 32


def resolve_mlp_size(family, size, overrides):
    if family != "mlp" or size != "mlp_tiny":
        raise ValueError(f"unknown {family} size {size!r}; expected one of ['mlp_tiny']")
    bad = sorted(set(overrides) - {"layers", "width"})
    if bad:
        raise ValueError(f"unknown mlp size override(s) {bad}; valid keys are ['layers', 'width']")
    return {"layers": 2, "width": 16, **overrides}


class DummyTask(Task):
    chance_loss = math.log(2)

    def __init__(self, cfg):
        super().__init__(cfg)
        data = np.load(Path(cfg.data.dir) / "points.npz")
        self.x, self.y = torch.from_numpy(data["x"]).float(), torch.from_numpy(data["y"]).long()

    def build_model(self):
        s = resolve_mlp_size(self.cfg.model.family, self.cfg.model.size, self.cfg.model.overrides)
        layers, d = [], 2
        for _ in range(s["layers"]):
            layers += [nn.Linear(d, s["width"]), nn.ReLU()]
            d = s["width"]
        return nn.Sequential(*layers, nn.Linear(d, 2))

    def epoch_batches(self, epoch):
        order = np.random.default_rng(self.cfg.seed + epoch).permutation(len(self.y))
        b = self.cfg.points.batch_size
        return [order[i:i + b] for i in range(0, len(order), b)]

    def build_batch(self, indices, epoch):
        return {"x": self.x[indices], "y": self.y[indices]}

    def loss(self, model, batch):
        nll = nn.functional.cross_entropy(model(batch["x"]), batch["y"], reduction="sum")
        return nll, {"units": len(batch["y"]), "nll_sum": nll.detach()}

    @torch.no_grad()
    def valid_loss(self, model):
        nll = nn.functional.cross_entropy(model(self.x), self.y).item()
        return {"valid_loss": nll, "valid_nll": nll}

    @torch.no_grad()
    def final_eval(self, model, run_dir):
        return {"accuracy": float((model(self.x).argmax(-1) == self.y).float().mean())}
