"""The scheme axis: the only module that knows what a stability scheme is.

A scheme is a frozen record of construction-time flags. `models.stack` turns the flags into
modules (LayerNorm or Identity, Linear or SigmaReparamLinear, omega or none); `forward` code
never branches on a scheme name. Adding DeepNorm or ReZero later is one entry in SCHEMES.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scheme:
    name: str
    pre_norm: bool  # LN on the sublayer input: x + f(LN(x))            (Xiong 2020, Pre-LN)
    post_norm: bool  # LN after the residual sum: LN(x + f(x))            (Vaswani 2017, Post-LN)
    final_norm: bool  # LN after the last layer of the stack (Pre-LN stacks)
    admin_omega: bool  # x_i = LN(x_{i-1} * omega_i + f_i(x_{i-1}))     (Liu 2020, eq. 6)
    sigma_reparam: bool  # every Linear/Conv of the stack is W_hat = gamma * W / sigma(W) (Zhai 2023)
    # Zhai 2023 Table 1 ablations (ViT): gamma frozen at 1, i.e. plain spectral normalisation
    # W / sigma(W) (Miyato 2018); and weight normalisation g * V / ||V|| per output row
    # (Salimans & Kingma 2016) of every Linear/Conv the sigma-reparam recipe would convert.
    fixed_gamma: bool = False
    weight_norm: bool = False

    @property
    def has_layernorm(self) -> bool:
        return self.pre_norm or self.post_norm or self.final_norm


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in [
        Scheme("post_ln", pre_norm=False, post_norm=True, final_norm=False, admin_omega=False, sigma_reparam=False),
        Scheme("pre_ln", pre_norm=True, post_norm=False, final_norm=True, admin_omega=False, sigma_reparam=False),
        Scheme("admin", pre_norm=False, post_norm=True, final_norm=False, admin_omega=True, sigma_reparam=False),
        # The ViT recipe of Zhai 2023: every LayerNorm removed (docs/methods.md §2.3).
        Scheme("sigma_reparam", pre_norm=False, post_norm=False, final_norm=False, admin_omega=False, sigma_reparam=True),
        # The speech recipe of Zhai 2023: "post spectral", Post-LN kept (docs/methods.md §2.3).
        Scheme("sigma_reparam_post_ln", pre_norm=False, post_norm=True, final_norm=False, admin_omega=False, sigma_reparam=True),
        Scheme("sigma_reparam_pre_ln", pre_norm=True, post_norm=False, final_norm=True, admin_omega=False, sigma_reparam=True),
        # Zhai 2023 Table 1 (ViT-B) ablations: spectral normalisation without the learned gamma
        # (no LN, as sigma_reparam), and weight normalisation with Pre-LN.
        Scheme("spectral_norm_no_gamma", pre_norm=False, post_norm=False, final_norm=False, admin_omega=False,
               sigma_reparam=True, fixed_gamma=True),
        Scheme("weight_norm_pre_ln", pre_norm=True, post_norm=False, final_norm=True, admin_omega=False,
               sigma_reparam=False, weight_norm=True),
    ]
}


# Flags that only some families' builders implement (models/vit.py reads both). Any other family
# would build the scheme without them, e.g. weight_norm_pre_ln as plain pre_ln, so
# `check_family` refuses the pair instead.
FLAG_FAMILIES: dict[str, tuple[str, ...]] = {"fixed_gamma": ("vit",), "weight_norm": ("vit",)}


def get_scheme(name: str | Scheme) -> Scheme:
    """Look a scheme up by name; an unknown name fails with the list of known ones."""
    if isinstance(name, Scheme):
        return name
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown scheme {name!r}; expected one of {sorted(SCHEMES)}") from None


def unsupported_flags(scheme: str | Scheme, family: str) -> list[str]:
    """The flags `scheme` sets that the `family` builder does not implement (FLAG_FAMILIES)."""
    s = get_scheme(scheme)
    return [flag for flag, families in FLAG_FAMILIES.items() if getattr(s, flag) and family not in families]


def check_family(scheme: str | Scheme, family: str) -> None:
    """Fail if the `family` builder would silently drop a flag of `scheme`."""
    for flag in unsupported_flags(scheme, family):
        families = " and ".join(FLAG_FAMILIES[flag])
        raise ValueError(f"scheme {get_scheme(scheme).name!r} sets {flag}, which only the {families} model family "
                         f"implements; a {family} model would silently be built without it. "
                         f"Use this scheme with the {families} family only.")
