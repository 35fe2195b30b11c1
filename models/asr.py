"""CTC speech encoder of the sigma-reparam speech recipe (docs/recipes.md §8).

feats (B, T, 80) log-mel filterbanks at 10 ms -> per-utterance normalisation over valid
frames -> Conv1d(k=7, stride=3, 'same' padding) to 2d channels + GLU -> dropout -> CAPE
positions -> the residual stack (4 heads, no biases, [Q;K] and V projections, layer drop)
-> Linear head to the CTC labels -> log-probabilities (B, T', V), T' = ceil(T / 3).
The front-end convolution is never reparametrised (spectral_conv=False in the reference);
the head is, under sigma-reparam schemes. The reference's learnable scalar added to the
attention input is not part of this model.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.init import init_module, reparametrise
from models.scheme import Scheme
from models.sizes import ASRSize
from models.stack import LayerSpec, Stack


def valid_mask(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """(B, t) bool, True on valid frames."""
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


class LengthMaskedNorm(nn.Module):
    """Normalise each utterance by the mean/std of its valid (time, channel) entries; padding -> 0."""

    def __init__(self, eps: float = 1e-7):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(()))
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask[:, :, None].to(x.dtype)
        n = m.sum(dim=(1, 2), keepdim=True) * x.shape[-1]
        mean = (x * m).sum(dim=(1, 2), keepdim=True) / n
        var = (((x - mean) * m) ** 2).sum(dim=(1, 2), keepdim=True) / n
        return ((x - mean) / torch.sqrt(var + self.eps) * self.scale + self.bias) * m


def cape_positions(lengths: torch.Tensor, t: int, dim: int, step_s: float, freq_scale: float,
                   max_shift_s: float, training: bool) -> torch.Tensor:
    """CAPE absolute positions (B, t, dim): positions in seconds, mean-centred per utterance,
    a global shift U(-max_shift, max_shift) per utterance in training; padded frames -> 0."""
    pos = torch.arange(t, device=lengths.device, dtype=torch.float)[None, :] * step_s
    mask = valid_mask(lengths, t)
    mean = (pos * mask).sum(1, keepdim=True) / lengths[:, None].clamp(min=1)
    pos = pos - mean
    if training and max_shift_s > 0:
        pos = pos + (torch.rand(lengths.shape[0], 1, device=pos.device) * 2 - 1) * max_shift_s
    k = torch.arange(dim, device=pos.device)
    freq = freq_scale * torch.exp(-2.0 * torch.div(k, 2, rounding_mode="floor") * math.log(1e4) / dim)
    emb = torch.sin(pos[:, :, None] * freq + (math.pi / 2) * (k % 2))
    return emb * mask[:, :, None]


class ASREncoder(nn.Module):
    def __init__(self, size: ASRSize, scheme: Scheme, vocab: int = 29):
        super().__init__()
        self.size = size
        d = size.embed_dim
        self.norm = LengthMaskedNorm()
        self.conv = nn.Conv1d(size.n_mels, 2 * d, size.conv_kernel, stride=size.conv_stride,
                              padding=size.conv_kernel // 2)
        # Reference front-end init: kernel lecun_uniform U(+-sqrt(3 / fan_in)), fan_in = 80 * 7; the bias
        # keeps PyTorch's U(+-sqrt(1 / fan_in)), as the reference. Never sigma-reparametrised (below).
        nn.init.uniform_(self.conv.weight, -math.sqrt(3.0 / (size.n_mels * size.conv_kernel)),
                         math.sqrt(3.0 / (size.n_mels * size.conv_kernel)))
        self.front_drop = nn.Dropout(size.dropout)
        # Dropout on attention probabilities and after the ReLU, none on sublayer outputs (docs/recipes.md §8).
        spec = LayerSpec(dim=d, heads=size.heads, ffn_dim=size.mlp_dim, dropout=0.0, attn_dropout=size.dropout,
                         act_dropout=size.dropout, bias=False, grouping="qk_v", layer_drop=size.layer_drop)
        self.encoder = Stack(spec, scheme, size.layers)
        self.head = nn.Linear(d, vocab)
        init_module(self.encoder, size.init)
        if scheme.sigma_reparam:
            reparametrise(self.encoder, size.sigma_gamma_init, size.sigma_init_std)
            self.head = reparametrise(self.head, size.sigma_gamma_init, size.sigma_init_std)

    def stacks(self) -> dict[str, Stack]:
        return {"encoder": self.encoder}

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        s, k = self.size.conv_stride, self.size.conv_kernel
        return torch.div(lengths + 2 * (k // 2) - k, s, rounding_mode="floor") + 1

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor):
        """feats (B, T, n_mels), lengths (B,) -> (log_probs (B, T', V), out_lengths (B,))."""
        x = self.norm(feats, valid_mask(lengths, feats.shape[1]))
        x = F.glu(self.conv(x.transpose(1, 2)), dim=1).transpose(1, 2)  # (B, T', d)
        out_len = self.output_lengths(lengths)
        pad = ~valid_mask(out_len, x.shape[1])
        size = self.size
        x = self.front_drop(x) + cape_positions(out_len, x.shape[1], x.shape[2], size.frame_shift_s * size.conv_stride,
                                                size.cape_freq_scale, size.cape_max_shift_s, self.training)
        x = self.encoder(x.masked_fill(pad[:, :, None], 0.0), pad=pad)
        return torch.log_softmax(self.head(x).float(), dim=-1), out_len
