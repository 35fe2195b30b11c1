"""Weight normalisation (Salimans & Kingma 2016) of every Linear / Conv under a module.

W = g * V / ||V|| with one norm per output unit (dim 0: a row of a Linear weight, an output
filter of a conv), through torch's `nn.utils.parametrizations.weight_norm`: the module stays an
nn.Linear / nn.Conv2d whose `weight` is computed from the parameters `original0` = g (out, 1, ...)
and `original1` = V, so probes and the optimizer see ordinary modules. g starts at ||V||, so the
layer equals the plain layer at initialisation (the init of the model family is kept).
Used by the `weight_norm_pre_ln` scheme (Zhai 2023 Table 1 ablation).
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def weight_normalise(module: nn.Module) -> nn.Module:
    """Weight-normalise `module` itself (if a Linear/Conv) or every Linear/Conv below it, in place."""
    targets = [module] if isinstance(module, LAYERS) else [m for m in module.modules() if isinstance(m, LAYERS)]
    for layer in targets:
        if not parametrize.is_parametrized(layer, "weight"):
            weight_norm(layer, name="weight", dim=0)
    return module


def is_weight_normalised(layer: nn.Module) -> bool:
    return isinstance(layer, LAYERS) and parametrize.is_parametrized(layer, "weight")
