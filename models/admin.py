"""Admin (Liu et al. 2020): omega profiling, loading, the profiling-free formula, and folding.

Admin's residual: b_i = x_{i-1} * omega_i + f_i(x_{i-1}), x_i = LN(b_i)  (Post-LN only).

Profiling rule (docs/methods.md §3.2, the reference code's `adaptive-profiling`): one training batch,
forward + backward, dropout on. Per stack a running value starts at 1.0; walking the
sublayers in forward order:
    omega_i := running;   running := sqrt(Var[x_{i-1} * omega_i] + Var[f_i(x_{i-1})])
with f_i taken after its output dropout and both variances over all elements (padding
included), population variance. The training run rebuilds the model from the same seed and
loads only these omega values (a pipeline step writing omega.json; no globals).
"""
from __future__ import annotations

import copy
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from models.scheme import SCHEMES
from models.stack import CrossAttention, FeedForward, Omega, Residual, SelfAttention

ADMIN_TORCH_KINDS = ("O(logn)", "O(1)", "O(n)")


def _admin_stacks(model: nn.Module) -> dict[str, list[Residual]]:
    return {name: stack.sublayers() for name, stack in model.stacks().items()
            if stack.scheme.admin_omega}


def profile_omega(model: nn.Module, run_batch: Callable[[nn.Module], None]) -> dict[str, list[float]]:
    """Run `run_batch(model)` (one forward + backward on one training batch) and return the
    omega value of every sublayer of every Admin stack, {"encoder": [...], "decoder": [...]}."""
    stacks = _admin_stacks(model)
    if not stacks:
        raise ValueError("profile_omega: the model has no stack under the 'admin' scheme")
    result: dict[str, list[float]] = {name: [] for name in stacks}
    running = {name: 1.0 for name in stacks}
    handles = []
    for name, subs in stacks.items():
        for res in subs:
            handles.append(res.register_forward_pre_hook(_set_omega(res, name, running, result)))
            res.tap = _update_running(name, running)
    was_training = model.training
    model.train()
    try:
        run_batch(model)
    finally:
        for h in handles:
            h.remove()
        for subs in stacks.values():
            for res in subs:
                res.tap = None
        model.train(was_training)
    for name, subs in stacks.items():
        if len(result[name]) != len(subs):
            raise RuntimeError(f"profiling saw {len(result[name])} of {len(subs)} {name} sublayers; "
                               "run_batch must run one full forward pass")
    return result


def _set_omega(res: Residual, stack: str, running: dict, result: dict):
    def hook(module, args):
        with torch.no_grad():
            res.omega.omega.fill_(running[stack])
        result[stack].append(float(running[stack]))
    return hook


def _update_running(stack: str, running: dict):
    def tap(res, skip, branch):
        var_in = skip.detach().double().var(unbiased=False).item()
        var_out = branch.detach().double().var(unbiased=False).item()
        running[stack] = math.sqrt(var_in + var_out)
    return tap


def admin_torch_omega(n_sublayers: int, kind: str = "O(logn)") -> float:
    """Profiling-free omega of admin-torch (docs/methods.md §3.3), N = residual sublayers of the stack."""
    n = n_sublayers
    if kind == "O(logn)":
        return math.sqrt((n + 1) / math.log(n + 1) - 1)
    if kind == "O(1)":
        return math.sqrt(n)
    if kind == "O(n)":
        return 1.0
    raise ValueError(f"unknown admin-torch omega kind {kind!r}; expected one of {ADMIN_TORCH_KINDS}")


def save_omega(path: str | Path, omega: dict[str, list[float]]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(omega, f, indent=1)
    os.replace(tmp, path)


def read_omega(source: str | Path | dict) -> dict[str, list[float]] | str:
    if isinstance(source, dict):
        return source
    text = str(source)
    if text.startswith("admin_torch:"):
        return text
    try:
        data = json.loads(Path(text).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read omega file {text}: {e}; expected JSON written by the admin profiling step") from e
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise ValueError(f"{text}: expected {{'encoder': [floats], 'decoder': [floats]}}")
    return data


def load_omega(model: nn.Module, source: str | Path | dict) -> None:
    """Fill every Admin omega from a profile (path or dict) or 'admin_torch:<kind>'."""
    data = read_omega(source)
    stacks = _admin_stacks(model)
    for name, subs in stacks.items():
        if isinstance(data, str):
            values = [admin_torch_omega(len(subs), data.split(":", 1)[1])] * len(subs)
        elif name not in data:
            raise ValueError(f"omega profile has no '{name}' entry; it has {sorted(data)}")
        else:
            values = data[name]
        if len(values) != len(subs):
            raise ValueError(f"omega profile has {len(values)} values for the {name}, which has "
                             f"{len(subs)} residual sublayers; was it profiled for another depth?")
        with torch.no_grad():
            for res, value in zip(subs, values):
                res.omega.omega.fill_(float(value))


def _input_linears(fn: nn.Module) -> list[nn.Linear]:
    """The Linear maps of a sublayer function that read the sublayer input x."""
    if isinstance(fn, FeedForward):
        return [fn.fc1]
    if isinstance(fn, (SelfAttention, CrossAttention)):
        attn = fn.attn
        reads_x = [name for name, parts in attn.groups if isinstance(fn, SelfAttention) or parts == "q"]
        return [getattr(attn, name) for name in reads_x]
    raise TypeError(f"cannot fold omega into sublayer function {type(fn).__name__}")


def fold_admin(model: nn.Module) -> nn.Module:
    """A copy of `model` where every omega is folded into the preceding LayerNorm (or the stack's
    input scale for the first sublayer) and the input columns of the sublayer's first linear
    maps: an exactly equivalent plain Post-LN network (docs/methods.md §3.4)."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        for stack in model.stacks().values():
            if not stack.scheme.admin_omega:
                continue
            subs = stack.sublayers()
            for i, res in enumerate(subs):
                w = res.omega.omega.detach().clone()
                if i == 0:
                    stack.input_scale.mul_(w)
                else:
                    ln = subs[i - 1].post_norm
                    ln.weight.mul_(w)
                    ln.bias.mul_(w)
                for lin in _input_linears(res.fn):
                    if type(lin) is not nn.Linear:
                        raise TypeError("fold_admin expects plain Linear projections")
                    lin.weight.div_(w[None, :])
                res.omega = nn.Identity()
            stack.scheme = SCHEMES["post_ln"]
    return model

