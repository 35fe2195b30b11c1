"""Named sizes of every model family (docs/methods.md §5, docs/recipes.md §6, §7, §8).

A size is a frozen dataclass; `resolve_size(family, name, **overrides)` applies keyword
overrides, and an override that is not a field of the size fails naming the valid fields.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class TranslationSize:
    embed_dim: int = 512
    ffn_dim: int = 2048
    heads: int = 8
    encoder_layers: int = 6
    decoder_layers: int = 6
    dropout: float = 0.1
    attn_dropout: float = 0.0
    act_dropout: float = 0.0
    max_positions: int = 1024
    init: str = "xavier"  # fairseq 0.9 (Admin's code) and Xiong: xavier everywhere
    sigma_gamma_init: str = "sigma"
    sigma_init_std: float | None = None


@dataclass(frozen=True)
class ViTSize:
    image_size: int = 224
    patch_size: int = 16
    embed_dim: int = 768
    layers: int = 12
    heads: int = 12
    mlp_dim: int = 3072
    dropout: float = 0.0
    drop_path: float = 0.1
    ln_eps: float = 1e-6
    init: str = "timm"
    sigma_gamma_init: str = "sigma"  # vision code: gamma = sigma(W0)
    sigma_init_std: float | None = 0.02  # vision code re-inits every converted layer
    patch_init_std: float | None = 0.02  # ViT-L: 0.02 * 0.125 (conv_init_gain, docs/methods.md §2.3)


@dataclass(frozen=True)
class ASRSize:
    n_mels: int = 80
    embed_dim: int = 768
    layers: int = 36
    heads: int = 4
    mlp_dim: int = 3072
    dropout: float = 0.3  # on attention probabilities and after the ReLU (docs/recipes.md §8)
    layer_drop: float = 0.3
    conv_kernel: int = 7
    conv_stride: int = 3
    frame_shift_s: float = 0.01  # 10 ms filterbank frames
    cape_max_shift_s: float = 30.0
    cape_freq_scale: float = 30.0
    init: str = "torch"
    sigma_gamma_init: str = "one"  # speech code: gamma = 1
    sigma_init_std: float | None = 0.1


@dataclass(frozen=True)
class LMSize:
    embed_dim: int = 1024
    ffn_dim: int = 4096
    heads: int = 8
    layers: int = 16
    dropout: float = 0.3
    attn_dropout: float = 0.1
    act_dropout: float = 0.1
    max_positions: int = 3072
    init: str = "xavier"
    sigma_gamma_init: str = "sigma"
    sigma_init_std: float | None = None
    # Adaptive input / adaptive softmax (Baevski & Auli 2019; fairseq transformer_lm_wiki103):
    # vocabulary bands cut at adaptive_cutoffs (cutoffs >= V are dropped), band i of dimension
    # embed_dim / adaptive_factor^i; tied input/output weights and projections (models/lm.py).
    adaptive_input: bool = False
    adaptive_softmax: bool = False
    adaptive_cutoffs: tuple[int, ...] = (20000, 60000)
    adaptive_factor: float = 4.0
    adaptive_softmax_dropout: float = 0.0
    tie_adaptive_weights: bool = True
    tie_adaptive_proj: bool = True


SIZES: dict[str, dict[str, object]] = {
    "translation": {
        # fairseq transformer_iwslt_de_en / transformer_wmt_en_de / vaswani big (docs/methods.md §5)
        "transformer_iwslt_de_en": TranslationSize(ffn_dim=1024, heads=4),
        "transformer_wmt_en_de": TranslationSize(),
        "transformer_wmt_en_de_big": TranslationSize(embed_dim=1024, ffn_dim=4096, heads=16, dropout=0.3,
                                                     attn_dropout=0.1),
        "translation_tiny": TranslationSize(embed_dim=64, ffn_dim=128, heads=4, encoder_layers=2,
                                            decoder_layers=2, max_positions=256),
    },
    "vit": {
        "vit_s16": ViTSize(embed_dim=384, heads=6, mlp_dim=1536),
        "vit_b16": ViTSize(),
        "vit_l16": ViTSize(embed_dim=1024, layers=24, heads=16, mlp_dim=4096, drop_path=0.2,
                           patch_init_std=0.02 * 0.125),
        "vit_tiny": ViTSize(image_size=32, patch_size=4, embed_dim=64, layers=2, heads=4, mlp_dim=128,
                            drop_path=0.0),
    },
    "asr": {
        "asr_sigma_36x768": ASRSize(),
        "asr_small": ASRSize(embed_dim=384, layers=12, heads=4, mlp_dim=1536, layer_drop=0.1, dropout=0.1),
        "asr_tiny": ASRSize(embed_dim=64, layers=2, heads=4, mlp_dim=128, layer_drop=0.0, dropout=0.0),
    },
    "lm": {
        # fairseq transformer_lm_wiki103 (docs/recipes.md §6): adaptive input and softmax 20000/60000, factor 4,
        # tied weights and projections, adaptive softmax dropout 0.2. fairseq also drops the final
        # LayerNorm of its (always Pre-LN) stack; here the scheme decides the final norm.
        "lm_wiki103": LMSize(adaptive_input=True, adaptive_softmax=True, adaptive_softmax_dropout=0.2),
        "lm_small": LMSize(embed_dim=512, ffn_dim=2048, layers=6, dropout=0.1, attn_dropout=0.0,
                           act_dropout=0.0, max_positions=512),
        "lm_tiny": LMSize(embed_dim=64, ffn_dim=128, heads=4, layers=2, dropout=0.0, attn_dropout=0.0,
                          act_dropout=0.0, max_positions=256),
    },
}


def resolve_size(family: str, name: str, **overrides):
    if family not in SIZES:
        raise ValueError(f"unknown model family {family!r}; expected one of {sorted(SIZES)}")
    if name not in SIZES[family]:
        raise ValueError(f"unknown {family} size {name!r}; expected one of {sorted(SIZES[family])}")
    size = SIZES[family][name]
    valid = {f.name for f in fields(size)}
    bad = sorted(set(overrides) - valid)
    if bad:
        raise ValueError(f"unknown {family} size override(s) {bad}; valid keys are {sorted(valid)}")
    return replace(size, **overrides)
