"""sigma-reparam (Zhai et al. 2023): linear and conv layers whose weight is W_hat = gamma * W / sigma(W).

sigma(W) is the spectral norm of the weight (for a conv: of the kernel reshaped to an
(out, in*k) matrix), tracked by one power-iteration step per forward from a stored unit
vector `u` (docs/methods.md §2.1). gamma is a learnable scalar, so the spectral norm of W_hat is
exactly |gamma| and its growth is decoupled from the width of W (the paper's Prop. 3.2).

Per forward (train and eval):
  1. no grad:  v = normalize(W u)       (out,)
               u' = normalize(W^T v)    (in,)     stored into `u` in train mode only
  2. sigma = v^T W u'  WITH gradient through W (u', v constants, d sigma / dW = v u'^T);
     stored into the `sigma` buffer (detached) in train mode only
  3. W_hat = gamma * W / sigma, then the plain linear / conv with W_hat.
Steps 1-3 run in fp32 even under autocast (docs/methods.md §2.1: sigma and W_hat in fp32 under AMP).
SigmaReparamLinear runs these steps as one autograd node (models.sigma_reparam_fast: sigma =
|W^T v|, closed-form backward; the same function and gradients to fp32 rounding, ~1/3 the
weight-sized passes); `fast = False` keeps the plain graph written out here.

Two gamma initialisations exist in the official code (docs/methods.md §2.2): "sigma" (gamma = sigma(W0),
the PyTorch vision/MT/LM code; the layer equals the plain layer at init) and "one" (gamma = 1,
the JAX speech code; W_hat starts with spectral norm 1). sigma and gamma are kept in separate
storage (the reference's buffer aliasing, docs/methods.md §2.1, reference-code quirks, is deliberately not reproduced).

Note: activation checkpointing re-runs the forward and would advance `u` twice per step.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.sigma_reparam_fast import SigmaLinearFn, power_step

GAMMA_INITS = ("sigma", "one")


class _SigmaReparam(nn.Module):
    """Shared state and maths of the reparametrised layers (not used directly).

    Subclasses create `self.weight` (any shape, out_features first) and `self.bias`, call
    `_setup_reparam`, and run their plain op with `self.reparam_weight(x)` in `forward`.
    """

    weight: nn.Parameter

    def _setup_reparam(self, gamma_init: str, init_std: float | None, bias_fan_in: int) -> None:
        if gamma_init not in GAMMA_INITS:
            raise ValueError(f"gamma_init must be one of {GAMMA_INITS}, got {gamma_init!r}")
        if init_std is not None and not init_std > 0:
            raise ValueError(f"init_std must be a positive number or None, got {init_std!r}")
        self.gamma_init = gamma_init
        factory = dict(device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            if init_std is None:
                # nn.Linear / nn.ConvNd default: kaiming_uniform(a=sqrt 5) = U(+-1/sqrt(fan_in)).
                nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
            else:
                # SR vision code: trunc_normal with the *absolute* cutoffs +-2 (docs/methods.md §2.1), which at
                # std 0.02 (or the speech std 0.1) is in effect a plain normal.
                nn.init.trunc_normal_(self.weight, mean=0.0, std=init_std, a=-2.0, b=2.0)
            if self.bias is not None:
                bound = 1.0 / math.sqrt(bias_fan_in)
                nn.init.uniform_(self.bias, -bound, bound)
        self.gamma = nn.Parameter(torch.ones(1, **factory))
        n_in = self.weight[0].numel()
        # u (in*k,): unit right singular vector estimate; sigma (1,): latest spectral norm estimate.
        # Created in fp32 whatever the weight's dtype; a model-wide .to(dtype) casts them like any
        # buffer, and the power step still runs in fp32.
        self.register_buffer("u", torch.zeros(n_in, device=self.weight.device, dtype=torch.float32))
        self.register_buffer("sigma", torch.ones(1, device=self.weight.device, dtype=torch.float32))
        self.reset_spectral_state()

    def _matrix(self, w: torch.Tensor) -> torch.Tensor:
        """The weight as the matrix whose spectral norm is tracked: (out, in*k)."""
        return w.reshape(w.shape[0], -1)

    @torch.no_grad()
    def reset_spectral_state(self, reset_gamma: bool = True) -> None:
        """Redo the exact-SVD initialisation of `u` and `sigma` from the current weight.

        Call this after the weight was overwritten from outside (a model-wide re-init, copying
        weights in). With `reset_gamma` (default) gamma is set again per `gamma_init`:
        sigma(W) for "sigma" (so the layer again equals the plain layer) or 1 for "one".
        """
        w = self._matrix(self.weight.detach().float())
        if not torch.isfinite(w).all():
            raise ValueError(f"{type(self).__name__}: the weight has non-finite entries")
        _, s, vh = torch.linalg.svd(w, full_matrices=False)
        if s[0] <= 0:
            raise ValueError(
                f"{type(self).__name__}: the weight is all zeros, so W / sigma(W) is undefined; "
                "sigma-reparam needs a nonzero initial weight"
            )
        self.u.copy_(vh[0])
        self.sigma.copy_(s[:1])
        if reset_gamma:
            self.gamma.copy_(s[:1] if self.gamma_init == "sigma" else torch.ones_like(s[:1]))

    def _power_step_and_sigma(self, update: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One power step from the stored u; returns (W in fp32 with grad, sigma with grad).

        Must be called with autocast disabled. Buffers are written only when `update`.
        """
        w32 = self.weight.float()
        wm = self._matrix(w32)  # (out, in*k)
        with torch.no_grad():
            v = F.normalize(wm @ self.u.float(), dim=0, eps=1e-12)  # (out,)
            u_new = F.normalize(wm.t() @ v, dim=0, eps=1e-12)  # (in*k,)
        sigma = torch.dot(v, wm @ u_new)  # scalar; gradient flows into W through wm
        if update:
            with torch.no_grad():
                self.u.copy_(u_new)
                self.sigma.copy_(sigma.detach().reshape(1))
        return w32, sigma

    def reparam_weight(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """W_hat = gamma * W / sigma in the weight's shape, with gradient; advances `u` in train mode.

        Computed in fp32. Under autocast W_hat is returned in the input's dtype (autocast then
        casts it for the matmul anyway); otherwise in the weight's dtype, like a plain layer.
        """
        device_type = self.weight.device.type
        autocast_on = torch.is_autocast_enabled(device_type)
        with torch.autocast(device_type=device_type, enabled=False):
            w32, sigma = self._power_step_and_sigma(update=self.training)
            w_hat = self.gamma.float() * w32 / sigma
        out_dtype = x.dtype if (autocast_on and x is not None) else self.weight.dtype
        return w_hat.to(out_dtype)

class SigmaReparamLinear(_SigmaReparam):
    """y = x W_hat^T + b with W_hat = gamma * W / sigma(W) (Zhai 2023, SR `SNLinear`).

    Parameters `weight` (out, in), `bias` (out,) or None, `gamma` (1,); buffers `u` (in,),
    `sigma` (1,). `init_std` given: W ~ trunc_normal(0, init_std) (SR vision uses 0.02,
    speech 0.1); None: nn.Linear's default init. Use `from_linear` to keep a model family's
    own init. Input (..., in) -> output (..., out).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 gamma_init: str = "sigma", init_std: float | None = None, device=None, dtype=None):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"in_features and out_features must be positive, got {in_features}, {out_features}")
        self.in_features, self.out_features = in_features, out_features
        factory = dict(device=device, dtype=dtype)
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **factory))
        self.bias = nn.Parameter(torch.empty(out_features, **factory)) if bias else None
        self._setup_reparam(gamma_init, init_std, bias_fan_in=in_features)

    @classmethod
    def from_linear(cls, linear: nn.Linear, gamma_init: str = "sigma") -> "SigmaReparamLinear":
        """A reparametrised copy of `linear` that keeps its weight and bias values (and so
        the model family's init); u, sigma and gamma are set by an exact SVD of that weight."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"from_linear expects an nn.Linear, got {type(linear).__name__}")
        w = linear.weight
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None,
                    gamma_init=gamma_init, device=w.device, dtype=w.dtype)
        _take_over(layer, linear)
        return layer

    # True: the forward and backward of models.sigma_reparam_fast (one autograd node, 2 mat-vecs
    # per power step, ~2 weight passes in backward). False: the plain autograd graph below, the
    # reference it is tested against (same outputs, gradients and trajectory to fp32 rounding).
    fast: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device_type = self.weight.device.type
        if self.fast:
            autocast_on = torch.is_autocast_enabled(device_type)
            dtype = torch.get_autocast_dtype(device_type) if autocast_on else x.dtype
            pending = getattr(self, "_pending", None)  # set by enable_batched_power_steps
            if pending is not None:  # this forward's power step, already done (and stored)
                v, u_new, sigma = pending
                self._pending = None
            else:
                v, u_new, sigma = power_step(self.weight, self.u)
                if self.training:
                    with torch.no_grad():
                        self.u.copy_(u_new)
                        self.sigma.copy_(sigma.reshape(1))
            return SigmaLinearFn.apply(x, self.weight, self.bias, self.gamma, v, u_new, sigma, dtype)
        # x W_hat^T = (x W^T) * (gamma / sigma): the same function without materialising W_hat.
        with torch.autocast(device_type=device_type, enabled=False):
            _, sigma = self._power_step_and_sigma(update=self.training)
            scale = (self.gamma.float() / sigma).reshape(())  # 0-dim fp32: keeps the output dtype
        y = F.linear(x, self.weight) * scale
        return y if self.bias is None else y + self.bias.to(y.dtype)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, gamma_init={self.gamma_init!r}")


class _SigmaReparamConvNd(_SigmaReparam):
    """Shared constructor of the conv variants; the kernel is kept in its conv shape
    (out, in, *k) and its (out, in*prod(k)) reshape is spectrally reparametrised."""

    _nd: int = 0
    _plain: type = nn.Module

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, gamma_init: str = "sigma", init_std: float | None = None,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        if padding_mode != "zeros":
            raise ValueError(f"{type(self).__name__} supports padding_mode='zeros' only, got {padding_mode!r}")
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"channel counts must be positive, got {in_channels}, {out_channels}")
        nd = self._nd
        as_tuple = lambda v, name: _ntuple(v, nd, name)  # noqa: E731
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = as_tuple(kernel_size, "kernel_size")
        self.stride = as_tuple(stride, "stride")
        self.dilation = as_tuple(dilation, "dilation")
        # int/tuple padding, or torch's "same"/"valid" (F.conv rejects "same" with stride > 1).
        self.padding = padding if isinstance(padding, str) else as_tuple(padding, "padding")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
        factory = dict(device=device, dtype=dtype)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size, **factory))
        self.bias = nn.Parameter(torch.empty(out_channels, **factory)) if bias else None
        self._setup_reparam(gamma_init, init_std, bias_fan_in=in_channels * math.prod(self.kernel_size))

    @classmethod
    def _from_conv(cls, conv: nn.Module, gamma_init: str):
        if type(conv) is not cls._plain:
            raise TypeError(f"expected an nn.{cls._plain.__name__}, got {type(conv).__name__}")
        if conv.groups != 1:
            raise ValueError(f"grouped convolutions (groups={conv.groups}) are not supported: the kernel "
                             "matrix's spectral norm is not the layer's norm")
        w = conv.weight
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, bias=conv.bias is not None, gamma_init=gamma_init,
                    padding_mode=conv.padding_mode, device=w.device, dtype=w.dtype)
        _take_over(layer, conv)
        return layer

    def _plain_layer(self) -> nn.Module:
        w = self.weight
        return self._plain(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                           self.padding, self.dilation, bias=self.bias is not None,
                           device=w.device, dtype=w.dtype)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"bias={self.bias is not None}, gamma_init={self.gamma_init!r}")


class SigmaReparamConv2d(_SigmaReparamConvNd):
    """2-D conv with a sigma-reparametrised kernel (SR `SNConv2d`; the ViT patch embedding).

    `weight` (out, in, kh, kw); the spectral norm is that of the (out, in*kh*kw) matrix,
    `u` has shape (in*kh*kw,). Zero padding only. Input (B, in, H, W) -> (B, out, H', W').
    """

    _nd = 2
    _plain = nn.Conv2d

    @classmethod
    def from_conv2d(cls, conv: nn.Conv2d, gamma_init: str = "sigma") -> "SigmaReparamConv2d":
        """Reparametrised copy of `conv` keeping its kernel and bias values (groups=1, zero padding)."""
        return cls._from_conv(conv, gamma_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.reparam_weight(x), self.bias, self.stride, self.padding, self.dilation)


class SigmaReparamConv1d(_SigmaReparamConvNd):
    """1-D conv with a sigma-reparametrised kernel (SR speech `SNConv`, an ASR front-end option).

    `weight` (out, in, k); spectral norm of the (out, in*k) matrix. Zero padding only; for the
    JAX 'SAME' padding with stride > 1, pad the input explicitly. Input (B, in, T) -> (B, out, T').
    """

    _nd = 1
    _plain = nn.Conv1d

    @classmethod
    def from_conv1d(cls, conv: nn.Conv1d, gamma_init: str = "sigma") -> "SigmaReparamConv1d":
        """Reparametrised copy of `conv` keeping its kernel and bias values (groups=1, zero padding)."""
        return cls._from_conv(conv, gamma_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.reparam_weight(x), self.bias, self.stride, self.padding, self.dilation)


SIGMA_REPARAM_LAYERS = (SigmaReparamLinear, SigmaReparamConv2d, SigmaReparamConv1d)


def _ntuple(v, n: int, name: str) -> tuple[int, ...]:
    t = (v,) * n if isinstance(v, int) else tuple(v)
    if len(t) != n or not all(isinstance(i, int) and i >= 0 for i in t):
        raise ValueError(f"{name} must be a non-negative int or a tuple of {n} ints, got {v!r}")
    return t


@torch.no_grad()
def _take_over(layer: _SigmaReparam, plain: nn.Module) -> None:
    """Copy a plain layer's weight/bias into `layer` and redo its SVD init."""
    layer.weight.copy_(plain.weight)
    if plain.bias is not None:
        layer.bias.copy_(plain.bias)
    layer.reset_spectral_state()


def _check_layer(layer: nn.Module) -> None:
    if not isinstance(layer, _SigmaReparam):
        raise TypeError(f"expected a sigma-reparam layer, got {type(layer).__name__}")


@torch.no_grad()
def effective_weight(layer: nn.Module) -> torch.Tensor:
    """The weight a layer applies, without gradient, in the weight's shape and dtype.

    For a sigma-reparam layer: W_hat = gamma * W / sigma with eval-forward semantics (one power
    step from the stored u, which is not advanced), so it equals the weight used in eval mode.
    For a plain nn.Linear / nn.Conv1d / nn.Conv2d: its weight, so probes need no scheme branch.
    """
    if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
        return layer.weight.detach()
    _check_layer(layer)
    with torch.autocast(device_type=layer.weight.device.type, enabled=False):
        w32, sigma = layer._power_step_and_sigma(update=False)
        return (layer.gamma.float() * w32 / sigma).to(layer.weight.dtype)


def spectral_estimate(layer: nn.Module) -> torch.Tensor:
    """The layer's `sigma` buffer (1,): the latest training-mode estimate of sigma(W)."""
    _check_layer(layer)
    return layer.sigma


def _fold_layer(layer: _SigmaReparam) -> nn.Module:
    w = layer.weight
    if isinstance(layer, SigmaReparamLinear):
        plain = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None,
                          device=w.device, dtype=w.dtype)
    else:
        plain = layer._plain_layer()
    with torch.no_grad():
        plain.weight.copy_(effective_weight(layer))
        if layer.bias is not None:
            plain.bias.copy_(layer.bias)
    plain.train(layer.training)
    return plain


def fold_sigma_reparam(module: nn.Module) -> nn.Module:
    """A deep copy of `module` in which every sigma-reparam layer is a plain nn.Linear /
    nn.Conv2d / nn.Conv1d with weight gamma * W / sigma (docs/methods.md §2.1: fold for inference).

    The folded network computes what the original computes in eval mode; the original is
    left untouched.
    """
    if isinstance(module, _SigmaReparam):
        return _fold_layer(module)
    folded = copy.deepcopy(module)
    _fold_children(folded)
    return folded


def _fold_children(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, _SigmaReparam):
            setattr(module, name, _fold_layer(child))
        else:
            _fold_children(child)
