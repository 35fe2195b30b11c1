"""normbench models: one residual stack under four stability schemes, four model families."""
from __future__ import annotations

from models.scheme import SCHEMES, Scheme, check_family, get_scheme
from models.sizes import SIZES, resolve_size

FAMILIES = ("translation", "vit", "asr", "lm")


def build_model(family: str, size: str, *, encoder_scheme: str = "pre_ln", decoder_scheme: str | None = None,
                src_vocab: int | None = None, tgt_vocab: int | None = None, share: str = "all",
                vocab: int | None = None, num_classes: int = 1000, **overrides):
    """Build a model of `family` at a named size under the given scheme(s).

    Translation takes encoder and decoder schemes independently (decoder defaults to the
    encoder's); the single-stack families use `encoder_scheme`. Keyword overrides must be
    fields of the family's size (see models.sizes). A scheme flag the family does not implement
    (models.scheme.FLAG_FAMILIES) fails instead of being dropped.
    """
    enc = get_scheme(encoder_scheme)
    dec = get_scheme(decoder_scheme) if decoder_scheme is not None else enc
    check_family(enc, family)
    check_family(dec, family)
    cfg = resolve_size(family, size, **overrides)
    if family == "translation":
        from models.translation import TranslationModel

        if src_vocab is None:
            raise ValueError("translation models need src_vocab (and tgt_vocab unless shared)")
        return TranslationModel(cfg, enc, dec, src_vocab, tgt_vocab or src_vocab, share)
    if decoder_scheme is not None and dec != enc:
        raise ValueError(f"the {family} family has a single stack; got different encoder/decoder schemes")
    if family == "vit":
        from models.vit import ViT

        return ViT(cfg, enc, num_classes)
    if family == "asr":
        from models.asr import ASREncoder

        return ASREncoder(cfg, enc, vocab or 29)
    from models.lm import CausalLM

    if vocab is None:
        raise ValueError("language models need vocab")
    return CausalLM(cfg, enc, vocab)


__all__ = ["FAMILIES", "SCHEMES", "SIZES", "Scheme", "build_model", "get_scheme", "resolve_size"]
