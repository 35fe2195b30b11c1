"""Name mapping between our ViT (models/vit.py, Pre-LN) and timm's VisionTransformer.

timm's `vit_base_patch16_224` (timm 1.0.31) is the reference implementation DeiT trains; after a
weight copy the two compute the same logits (tests/test_vit_model.py). Used by that test and
by bench/vit_throughput.py to build the timm model at the same size.
"""
from __future__ import annotations

import re

import torch
from torch import nn

_RULES = [  # (our name pattern, timm name)
    (r"patch_embed\.(weight|bias)", r"patch_embed.proj.\1"),
    (r"encoder\.layers\.(\d+)\.self_attn\.pre_norm\.(weight|bias)", r"blocks.\1.norm1.\2"),
    (r"encoder\.layers\.(\d+)\.self_attn\.fn\.attn\.qkv_proj\.(weight|bias)", r"blocks.\1.attn.qkv.\2"),
    (r"encoder\.layers\.(\d+)\.self_attn\.fn\.attn\.out_proj\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (r"encoder\.layers\.(\d+)\.ffn\.pre_norm\.(weight|bias)", r"blocks.\1.norm2.\2"),
    (r"encoder\.layers\.(\d+)\.ffn\.fn\.(fc1|fc2)\.(weight|bias)", r"blocks.\1.mlp.\2.\3"),
    (r"encoder\.final_norm\.(weight|bias)", r"norm.\1"),
    (r"(cls_token|pos_embed|head\.weight|head\.bias)", r"\1"),
]


def timm_name(ours: str) -> str:
    for pattern, repl in _RULES:
        if re.fullmatch(pattern, ours):
            return re.sub(pattern, repl, ours)
    raise KeyError(f"{ours}: no timm counterpart (only the Pre-LN ViT maps onto timm's VisionTransformer)")


def timm_vit(size, num_classes: int, **kw) -> nn.Module:
    """timm's VisionTransformer at a ViTSize (Pre-LN, cls token, qkv bias, LN eps 1e-6)."""
    from functools import partial

    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=size.image_size, patch_size=size.patch_size, embed_dim=size.embed_dim,
                             depth=size.layers, num_heads=size.heads, mlp_ratio=size.mlp_dim / size.embed_dim,
                             qkv_bias=True, num_classes=num_classes, drop_path_rate=size.drop_path,
                             norm_layer=partial(nn.LayerNorm, eps=size.ln_eps), **kw)


@torch.no_grad()
def copy_to_timm(ours: nn.Module, timm_model: nn.Module) -> None:
    """Copy every parameter of our Pre-LN ViT into timm's model (strict both ways)."""
    target = timm_model.state_dict()
    mapped = {}
    for name, value in ours.state_dict().items():
        if name == "encoder.input_scale":
            if not torch.equal(value, torch.ones_like(value)):
                raise ValueError("encoder.input_scale is not all ones (a folded Admin model?): timm has no such scale")
            continue
        mapped[timm_name(name)] = value
    missing, extra = sorted(set(target) - set(mapped)), sorted(set(mapped) - set(target))
    if missing or extra:
        raise KeyError(f"weight copy to timm: missing in ours {missing[:5]}, unknown to timm {extra[:5]}")
    timm_model.load_state_dict(mapped, strict=True)
