"""Weight initialisation of each recipe, and the sigma-reparam conversion that follows it.

Modes (docs/methods.md §5, §3.2, docs/recipes.md §7, §8):
  xavier  : every Linear xavier_uniform, zero bias (fairseq 0.9 as used by Admin; Xiong's
            Theorem 1 assumption; torch.nn.Transformer). Separate q/k/v projections use gain
            1/sqrt(2), which equals xavier on the fused (3d x d) in_proj of fairseq 0.9.
  fairseq : fairseq 0.12 (`MultiheadAttention.reset_parameters`): q/k/v weights xavier with
            gain 1/sqrt(2) but their biases left at PyTorch's default U(+-1/sqrt(fan_in));
            out_proj xavier with zero bias; FFN fc1/fc2 keep PyTorch's default Linear init
            (Kaiming-uniform weight, uniform bias). Used by the fairseq-upstream recipes.
  timm    : trunc_normal(std 0.02), zero bias (ViT / DeiT).
  torch   : PyTorch's default Linear init, U(+-1/sqrt(fan_in)) (speech recipe's plain layers).
Sigma-reparam layers are converted *after* the family init, so a scheme comparison changes
the parametrisation and nothing else; a size may ask for the reference re-init instead
(`sigma_init_std`, e.g. trunc_normal 0.02 in the vision code, normal 0.1 in the speech code).
"""
from __future__ import annotations

import math

from torch import nn

from models.attention import Attention
from models.stack import FeedForward

INIT_MODES = ("xavier", "fairseq", "timm", "torch")


def _xavier(linear: nn.Linear, gain: float = 1.0) -> None:
    nn.init.xavier_uniform_(linear.weight, gain=gain)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


def _trunc_normal(linear: nn.Module, std: float = 0.02) -> None:
    nn.init.trunc_normal_(linear.weight, std=std, a=-2.0, b=2.0)  # absolute cutoffs, as timm and the reference
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


def _torch_default_bias(linear: nn.Linear) -> None:
    """PyTorch's nn.Linear bias init, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    if linear.bias is not None:
        bound = 1.0 / math.sqrt(linear.in_features)
        nn.init.uniform_(linear.bias, -bound, bound)


def init_attention(attn: Attention, mode: str) -> None:
    for name, parts in attn.groups:
        lin = getattr(attn, name)
        if mode in ("xavier", "fairseq"):
            # xavier on the rows of one projection as if it were a slice of a fused (3d x d) matrix
            _xavier(lin, gain=math.sqrt((lin.in_features + lin.out_features) / (lin.in_features + 3 * attn.dim)))
            if mode == "fairseq":  # fairseq 0.12 re-inits only the q/k/v weights, not their biases
                _torch_default_bias(lin)
        elif mode == "timm":
            _trunc_normal(lin)
    if mode in ("xavier", "fairseq"):
        _xavier(attn.out_proj)
    elif mode == "timm":
        _trunc_normal(attn.out_proj)


def init_module(module: nn.Module, mode: str) -> None:
    """Initialise every attention and FFN under `module` in the given mode."""
    if mode not in INIT_MODES:
        raise ValueError(f"unknown init mode {mode!r}; expected one of {INIT_MODES}")
    for m in module.modules():
        if isinstance(m, Attention):
            init_attention(m, mode)
        elif isinstance(m, FeedForward):
            for lin in (m.fc1, m.fc2):
                if mode == "xavier":
                    _xavier(lin)
                elif mode == "timm":
                    _trunc_normal(lin)
                elif mode == "torch" or mode == "fairseq":
                    lin.reset_parameters()


def reparametrise(module: nn.Module, gamma_init: str = "sigma", init_std: float | None = None) -> nn.Module:
    """Replace every nn.Linear / nn.Conv2d / nn.Conv1d under `module` by its sigma-reparam form.

    Embeddings are untouched (docs/methods.md §2.3). Call on the parts a scheme covers (a stack, a head).
    """
    from models.sigma_reparam import SigmaReparamConv1d, SigmaReparamConv2d, SigmaReparamLinear

    convert = {nn.Linear: SigmaReparamLinear.from_linear, nn.Conv2d: SigmaReparamConv2d.from_conv2d,
               nn.Conv1d: SigmaReparamConv1d.from_conv1d}
    if type(module) in convert:
        return _convert(module, convert, gamma_init, init_std)
    for name, child in module.named_children():
        setattr(module, name, reparametrise(child, gamma_init, init_std))
    return module


def _convert(layer: nn.Module, convert, gamma_init: str, init_std: float | None) -> nn.Module:
    if init_std is not None:
        if isinstance(layer, nn.Linear):
            _trunc_normal(layer, init_std)  # the reference code's re-init
        else:
            nn.init.trunc_normal_(layer.weight, std=init_std, a=-2.0, b=2.0)
    return convert[type(layer)](layer, gamma_init=gamma_init)
