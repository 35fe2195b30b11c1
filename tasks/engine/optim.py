"""The recipes' optimizers (docs/recipes.md §1, §2, §3.2, §7) and their weight-decay groups.

- adam / adamw: fairseq's "adam" is AdamW-style (decoupled decay p <- p - lr*wd*p,
  docs/recipes.md §3.2), so both names build torch.optim.AdamW.
- radam: the Admin code's RAdam (TC `radam_fairseq/radam.py`): decoupled decay p <- p - lr*wd*p
  on *every* step, and no gradient step while the rectification term N_sma < 5 (the moments
  still accumulate, the decay still applies). torch.optim.RAdam instead takes an un-adapted
  momentum (SGD-like) step in those first updates, so it is not used.
- sgd: torch.optim.SGD with momentum / Nesterov (coupled L2 decay, as fairseq's sgd).
- nag: fairseq's NAG (class NAG below; the WikiText-103 LM recipe).
- lars: SGD momentum with a layer-wise trust ratio (You et al. 2017) for the sigma-reparam
  "no adaptive optimizer" runs; 1-D parameters (biases, gains) are not adapted.

Weight decay groups: with `decay_all` (optim.decay_all; fairseq's optimizers and TC decay
every parameter: biases, LayerNorm, omega) one group; otherwise no decay on parameters whose
name contains a `optim.no_decay` pattern, nor on any 1-D parameter (timm/DeiT convention).
Fused/foreach kernels are used on CUDA.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from tasks.config import OptimConfig


def param_groups(model: nn.Module, cfg: OptimConfig, decay_all: bool | None = None) -> list[dict]:
    """[{params, weight_decay, names}] with decay and no-decay parameters separated.

    decay_all: None reads cfg.decay_all (False when the config has no such field).
    """
    if decay_all is None:
        decay_all = bool(getattr(cfg, "decay_all", False))
    decay, no_decay = ([], []), ([], [])
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        skip = not decay_all and (p.ndim <= 1 or any(pat in name for pat in cfg.no_decay))
        target = no_decay if skip else decay
        target[0].append(p)
        target[1].append(name)
    groups = [
        {"params": decay[0], "names": decay[1], "weight_decay": cfg.weight_decay},
        {"params": no_decay[0], "names": no_decay[1], "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, cfg: OptimConfig, device: torch.device) -> torch.optim.Optimizer:
    """The optimizer named by cfg.name over `model`'s trainable parameters."""
    groups = param_groups(model, cfg)
    if not groups:
        raise ValueError("the model has no trainable parameters to optimise")
    on_cuda = device.type == "cuda"
    if cfg.name in ("adam", "adamw"):
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                                 fused=True if on_cuda else None)
    if cfg.name == "radam":
        return RAdamTC(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    if cfg.name == "nag":
        return NAG(groups, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               fused=True if on_cuda else None)
    if cfg.name == "lars":
        return LARS(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                    trust_coef=cfg.trust_coef)
    if cfg.name == "adagrad":  # flashlight's AdagradOptimizer (slimIPL): no lr decay, accumulator from 0
        return torch.optim.Adagrad(groups, lr=cfg.lr, eps=cfg.eps, foreach=True if on_cuda else None)
    raise ValueError(f"optim.name: unknown optimizer {cfg.name!r}; expected adam|adamw|radam|sgd|nag|lars|adagrad")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr


class RAdamTC(torch.optim.Optimizer):
    """Rectified Adam as in the Admin code (Liu et al. 2020a; TC radam_fairseq).

    m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  rho_t = rho_inf - 2 t b2^t / (1 - b2^t).
    Every step: p <- p - lr*wd*p. Then, if rho_t >= 5:
    p <- p - lr * r_t * sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps)
    with r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t));
    otherwise no gradient step (TC computes an SGD step size there but never applies it).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"optim.betas must lie in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            b1, b2 = group["betas"]
            for p in params:
                if not self.state[p]:
                    self.state[p].update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            states = [self.state[p] for p in params]
            grads = [p.grad for p in params]
            m = [s["exp_avg"] for s in states]
            v = [s["exp_avg_sq"] for s in states]
            torch._foreach_lerp_(m, grads, 1.0 - b1)  # m <- b1 m + (1-b1) g
            torch._foreach_mul_(v, b2)
            torch._foreach_addcmul_(v, grads, grads, value=1.0 - b2)
            for s in states:
                s["step"] += 1
            t = states[0]["step"]
            if group["weight_decay"] != 0.0:  # TC decays before the rectification test: every step
                torch._foreach_mul_(params, 1.0 - group["lr"] * group["weight_decay"])
            step_size = self._step_size(t, b1, b2)
            if step_size is None:
                continue  # rectification undefined: TC takes no gradient step
            denom = torch._foreach_add(torch._foreach_sqrt(v), group["eps"])
            torch._foreach_addcdiv_(params, m, denom, value=-group["lr"] * step_size)
        return loss

    @staticmethod
    def _step_size(t: int, b1: float, b2: float) -> float | None:
        b2t = b2 ** t
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        rho_t = rho_inf - 2.0 * t * b2t / (1.0 - b2t)
        if rho_t < 5.0:
            return None
        r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        return r * math.sqrt(1.0 - b2t) / (1.0 - b1 ** t)


class NAG(torch.optim.Optimizer):
    """fairseq's Nesterov accelerated gradient (`fairseq/optim/nag.py`; the transformer_lm_wiki103
    recipe: lr 1.0, momentum 0.99, docs/recipes.md §6). The buffer holds lr-scaled steps, corrected by
    c = lr / lr_old when the schedule changes lr; decay is decoupled:
      p <- p (1 - lr wd);  p <- p + m^2 c buf - (1 + m) lr g;  buf <- m c buf - lr g.
    (torch.optim.SGD(nesterov=True) keeps an unscaled buffer: the same steps at constant lr,
    different ones while the lr changes.)
    """

    def __init__(self, params, lr=1.0, momentum=0.99, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, lr_old=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            lr, m, wd = group["lr"], group["momentum"], group["weight_decay"]
            lr_old = group.get("lr_old", lr)
            c = lr / lr_old if lr_old > 0 else lr
            if params:
                bufs = []
                for p in params:
                    if "momentum_buffer" not in self.state[p]:
                        self.state[p]["momentum_buffer"] = torch.zeros_like(p)
                    bufs.append(self.state[p]["momentum_buffer"])
                grads = [p.grad for p in params]
                if wd != 0.0:
                    torch._foreach_mul_(params, 1.0 - lr * wd)
                torch._foreach_add_(params, bufs, alpha=m * m * c)
                torch._foreach_add_(params, grads, alpha=-(1.0 + m) * lr)
                torch._foreach_mul_(bufs, m * c)
                torch._foreach_add_(bufs, grads, alpha=-lr)
            group["lr_old"] = lr
        return loss


class LARS(torch.optim.Optimizer):
    """SGD momentum with LARS layer-wise trust ratios (You et al. 2017).

    For a parameter w with ndim > 1: u = (g + wd w) * trust_coef * ||w|| / (||g|| + wd ||w||)
    (ratio 1 where either norm is 0); for 1-D parameters u = g + wd w. Then
    buf <- momentum buf + u and w <- w - lr buf (Nesterov: w <- w - lr (u + momentum buf)).
    Norms stay on the device: no host synchronisation.
    """

    def __init__(self, params, lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0,
                 trust_coef=0.001, eps=1e-9):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov,
                                      weight_decay=weight_decay, trust_coef=trust_coef, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self._group_step(group, params)
        return loss

    def _group_step(self, group: dict, params: list[torch.Tensor]) -> None:
        wd, mom = group["weight_decay"], group["momentum"]
        grads = [p.grad for p in params]
        u = torch._foreach_add(grads, params, alpha=wd) if wd != 0.0 else [g.clone() for g in grads]
        mats = [i for i, p in enumerate(params) if p.ndim > 1]
        if mats:  # one stacked ratio computation for all matrices
            w = torch.stack(torch._foreach_norm([params[i] for i in mats]))
            g = torch.stack(torch._foreach_norm([grads[i] for i in mats]))
            ratio = group["trust_coef"] * w / (g + wd * w + group["eps"])
            ratio = torch.where((w > 0) & (g > 0), ratio, torch.ones_like(ratio))
            torch._foreach_mul_([u[i] for i in mats], list(ratio.unbind()))
        if mom != 0.0:
            bufs = []
            for p, ui in zip(params, u):
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                bufs.append(state["momentum_buffer"])
            torch._foreach_mul_(bufs, mom)
            torch._foreach_add_(bufs, u)
            u = torch._foreach_add(u, bufs, alpha=mom) if group["nesterov"] else bufs
        torch._foreach_add_(params, u, alpha=-group["lr"])
