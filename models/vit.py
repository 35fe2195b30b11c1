"""Vision Transformer (ViT-S/B/L 16): patch embedding, cls token, learned positions, head.

Layout follows timm's VisionTransformer as used by DeiT (docs/recipes.md §7): fused qkv with bias, GELU
MLP, LayerNorm eps 1e-6, stochastic depth, classification from the cls token. Under the
`sigma_reparam` scheme (Zhai 2023 vision recipe, docs/methods.md §2.3) the patch-embedding convolution
and the head are reparametrised as well, and there is no LayerNorm anywhere.
"""
from __future__ import annotations

import torch
from torch import nn

from models.init import init_module, reparametrise
from models.scheme import Scheme
from models.sizes import ViTSize
from models.stack import LayerSpec, Stack


class ViT(nn.Module):
    def __init__(self, size: ViTSize, scheme: Scheme, num_classes: int = 1000):
        super().__init__()
        if size.image_size % size.patch_size:
            raise ValueError(f"image size {size.image_size} is not a multiple of patch size {size.patch_size}")
        d, self.size = size.embed_dim, size
        n_patches = (size.image_size // size.patch_size) ** 2
        self.patch_embed = nn.Conv2d(3, d, kernel_size=size.patch_size, stride=size.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, n_patches + 1, d))
        self.pos_drop = nn.Dropout(size.dropout)
        spec = LayerSpec(dim=d, heads=size.heads, ffn_dim=size.mlp_dim, dropout=size.dropout,
                         activation="gelu", ln_eps=size.ln_eps, grouping="fused", drop_path=size.drop_path)
        self.encoder = Stack(spec, scheme, size.layers)
        self.head = nn.Linear(d, num_classes)
        self._init(scheme)

    def _init(self, scheme: Scheme) -> None:
        size = self.size
        nn.init.trunc_normal_(self.pos_embed, std=0.02, a=-2.0, b=2.0)
        nn.init.normal_(self.cls_token, std=1e-6)
        init_module(self.encoder, size.init)
        nn.init.trunc_normal_(self.head.weight, std=0.02, a=-2.0, b=2.0)
        nn.init.zeros_(self.head.bias)
        if scheme.sigma_reparam:
            # fixed_gamma (spectral normalisation ablation): gamma = 1 and not trained, W_hat = W / sigma(W).
            gamma_init = "one" if scheme.fixed_gamma else size.sigma_gamma_init
            reparametrise(self.encoder, gamma_init, size.sigma_init_std)
            self.head = reparametrise(self.head, gamma_init, size.sigma_init_std)
            self.patch_embed = reparametrise(self.patch_embed, gamma_init, size.patch_init_std)
            if scheme.fixed_gamma:  # gamma becomes a constant buffer (kept in the state dict)
                for m in self.modules():
                    if isinstance(getattr(m, "gamma", None), nn.Parameter):
                        g = m.gamma.detach().clone()
                        del m.gamma
                        m.register_buffer("gamma", g)
        if scheme.weight_norm:  # the same layers as sigma-reparam, as g * V / ||V|| per output row
            from models.weight_norm import weight_normalise

            for part in (self.encoder, self.head, self.patch_embed):
                weight_normalise(part)

    def stacks(self) -> dict[str, Stack]:
        return {"encoder": self.encoder}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> logits (B, num_classes)."""
        x = self.patch_embed(images).flatten(2).transpose(1, 2)  # (B, N, d)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.encoder(self.pos_drop(x))
        return self.head(x[:, 0])
