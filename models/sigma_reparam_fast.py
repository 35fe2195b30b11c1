"""One autograd node for a sigma-reparam Linear: y = x W_hat^T + b, W_hat = gamma W / sigma(W).

The same function and the same first derivatives as the plain autograd graph of
models.sigma_reparam (Zhai 2023, eq. 1; u and v are the power-step constants, so
sigma = v^T W u and d sigma / dW = v u^T), with fewer passes over the weight:

  plain graph (per layer, train step)      this node
  3 mat-vecs (v, u', sigma = v^T W u')     2 mat-vecs: t = W^T v, sigma = |t|, u' = t / sigma
  W_hat = gamma W / sigma (2 passes)       W_hat = s W (1 pass; on CPU none: s is the gemm's alpha)
  backward: grad/sigma, sum(grad W),       backward, with G = gy^T x and s = gamma / sigma:
  grad*gamma, the v u^T outer product,       dL/ds = <G, W>             (1 fused read)
  its accumulation (~6 passes)               dL/dW = s G - (dL/ds) (gamma / sigma^2) v u'^T  (1 pass)
                                             dL/dgamma = (dL/ds) / sigma
sigma = |W^T v| equals v^T W u' = v^T W W^T v / |W^T v| exactly in real arithmetic; in fp32 the
two differ by rounding only (tests/test_sigma_reparam.py checks outputs, gradients and a
20-step trajectory against the plain graph).

Second derivatives (the Hessian studies' create_graph=True): when the backward itself is
recorded, it replays the plain graph on the saved inputs, so double backward is that of the
original formulation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def power_step(weight: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(v (out,), u' (in,), sigma 0-dim), fp32, no grad: one power step from the unit vector u."""
    # fp32 whatever the autocast state (docs/methods.md §2.1: sigma in fp32 under AMP)
    with torch.no_grad(), torch.autocast(device_type=weight.device.type, enabled=False):
        w = weight.float()
        v = F.normalize(w @ u.float(), dim=0, eps=1e-12)  # (out,)
        t = w.t() @ v  # (in,)
        sigma = torch.linalg.vector_norm(t).clamp_min(1e-12)
        return v, t / sigma, sigma


class SigmaLinearFn(torch.autograd.Function):
    """apply(x, weight, bias, gamma, v, u, sigma, dtype) -> y in `dtype`.

    x (..., in); weight (out, in) (any float dtype, read in fp32); bias (out,) or None;
    gamma (1,); v (out,), u (in,), sigma 0-dim: fp32 constants from `power_step`;
    dtype: the matmul dtype (the autocast dtype, or x's dtype).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, gamma, v, u, sigma, dtype):
        s = gamma.float().reshape(()) / sigma  # 0-dim fp32
        x2 = x.reshape(-1, x.shape[-1]).to(dtype)
        # CPU, one dtype: s rides as the gemm's alpha (a host scalar; no device sync on CPU)
        alpha = x.device.type == "cpu" and dtype == weight.dtype == x.dtype
        if alpha:
            s_item = float(s)
            base = bias if bias is not None else x2.new_zeros(())
            y = torch.addmm(base, x2, weight.t(), beta=1 if bias is not None else 0, alpha=s_item)
            w_hat = None
        else:
            w_hat = (weight.float() * s).to(dtype)
            y = F.linear(x2, w_hat, None if bias is None else bias.to(dtype))
        ctx.save_for_backward(x, weight, bias, gamma, v, u, sigma, w_hat)
        ctx.alpha, ctx.dtype = alpha, dtype
        return y.reshape(*x.shape[:-1], y.shape[-1])

    @staticmethod
    def backward(ctx, gy):
        x, weight, bias, gamma, v, u, sigma, w_hat = ctx.saved_tensors
        need_x, need_w, need_b, need_g = ctx.needs_input_grad[:4]
        if torch.is_grad_enabled():  # create_graph=True: replay the plain graph (double backward)
            return _replay(ctx, gy, x, weight, bias, gamma, v, u) + (None,) * 4
        dtype = ctx.dtype
        g2 = gy.reshape(-1, gy.shape[-1]).to(dtype)
        x2 = x.reshape(-1, x.shape[-1]).to(dtype)
        s = gamma.float().reshape(()) / sigma
        gx = gw = gb = gg = None
        if need_x:
            if ctx.alpha:
                gx = torch.addmm(g2.new_zeros(()), g2, weight, beta=0, alpha=float(s))
            else:
                gx = g2 @ w_hat
        if need_w or need_g:
            G = (g2.t() @ x2).float()  # dL/dW_hat (out, in)
            gs = torch.dot(G.flatten(), weight.float().flatten())  # dL/ds = <G, W>
        if need_w:
            c = -gs * gamma.float().reshape(()) / (sigma * sigma)  # dL/ds * ds/dsigma
            if ctx.alpha:  # s G + c v u'^T in one pass
                gw = torch.addr(G, v, u, beta=float(s), alpha=float(c))
            else:  # the same without host scalars (no device sync): two passes in place
                gw = G.mul_(s).addcmul_((c * v).unsqueeze(1), u.unsqueeze(0))
            gw = gw.to(weight.dtype)
        if need_g:
            gg = (gs / sigma).reshape(gamma.shape).to(gamma.dtype)
        if need_b:
            gb = g2.sum(0).to(bias.dtype)
        if gx is not None:
            gx = gx.reshape(x.shape).to(x.dtype)
        return gx, gw, gb, gg, None, None, None, None


def _replay(ctx, gy, x, weight, bias, gamma, v, u):
    """The plain formulation's gradients, recorded for a further backward."""
    w32 = weight.float()
    sigma = torch.dot(v, w32 @ u)
    w_hat = (gamma.float() * w32 / sigma).to(ctx.dtype)
    y = F.linear(x.to(ctx.dtype), w_hat, None if bias is None else bias.to(ctx.dtype))
    inputs = [t for t, need in zip((x, weight, bias, gamma), ctx.needs_input_grad[:4]) if need]
    grads = iter(torch.autograd.grad(y, inputs, gy, create_graph=True, allow_unused=True))
    return tuple(next(grads) if need else None for need in ctx.needs_input_grad[:4])


# ------------------------------------------------ all power steps of a model in a few kernels
def enable_batched_power_steps(model: torch.nn.Module) -> list:
    """Run the power steps of all of `model`'s SigmaReparamLinear layers together, per forward.

    A forward pre-hook on `model` stacks the weights of same-shape layers (WMT base: 4 shape
    groups for 96 layers) and does each group's power step with two batched mat-vecs; each layer
    then takes its (v, u', sigma) instead of running its own ~10 small kernels -- the GPU's
    per-kernel launch cost is what this saves. The same maths (bmm instead of mv: fp32
    rounding). In training mode the layers' u / sigma buffers are written as before, with one
    fused copy per group. A forward hook clears what was not consumed, so layers called outside
    `model`'s forward (generate()'s encode/decode) run their own power step as usual.
    Returns the hook handles (call .remove() on each to switch it off).
    """
    from models.sigma_reparam import SigmaReparamLinear

    layers = [m for m in model.modules() if isinstance(m, SigmaReparamLinear) and m.fast]
    groups: dict[tuple, list] = {}
    for layer in layers:
        groups.setdefault((tuple(layer.weight.shape), layer.weight.device), []).append(layer)

    def pre(module, args):
        device_types = {key[1].type for key in groups}
        with torch.no_grad(), torch.autocast(device_type=next(iter(device_types), "cpu"), enabled=False):
            for group in groups.values():
                w = torch.stack([layer.weight.float() for layer in group])  # (G, out, in)
                u = torch.stack([layer.u.float() for layer in group])  # (G, in)
                v = F.normalize(torch.bmm(w, u.unsqueeze(2)).squeeze(2), dim=1, eps=1e-12)  # (G, out)
                t = torch.bmm(w.transpose(1, 2), v.unsqueeze(2)).squeeze(2)  # (G, in)
                sigma = torch.linalg.vector_norm(t, dim=1).clamp_min(1e-12)  # (G,)
                u_new = t / sigma.unsqueeze(1)
                train = [i for i, layer in enumerate(group) if layer.training]
                if train:
                    torch._foreach_copy_([group[i].u for i in train], [u_new[i] for i in train])
                    torch._foreach_copy_([group[i].sigma for i in train], [sigma[i:i + 1] for i in train])
                for i, layer in enumerate(group):
                    layer._pending = (v[i], u_new[i], sigma[i])

    def post(module, args, output):
        for layer in layers:
            layer._pending = None

    for layer in layers:
        layer._pending = None
    return [model.register_forward_pre_hook(pre), model.register_forward_hook(post)]
