"""Build fairseq 0.12's `transformer_iwslt_de_en` (fairseq-fixed 0.12.3.1) beside our translation
model and copy our weights into it, for tests/parity/.

Our schemes map onto fairseq flags: post_ln -> normalize_before False; pre_ln -> normalize_before
True (which also adds the stack's final LayerNorm); admin -> Post-LN layers (the omega on the skip
has no fairseq counterpart: tests that need it apply it themselves). Sharing: --share-all-embeddings (joined
dictionary; encoder/decoder embeddings and the output projection are one matrix), as in our
share="all". fairseq's dictionary layout (bos 0, pad 1, eos 2, unk 3) is ours.
"""
from __future__ import annotations

import argparse
from types import SimpleNamespace

import torch
from torch import nn

from models import build_model

FAIRSEQ_FLAG = {"post_ln": False, "pre_ln": True, "admin": False}  # admin: Post-LN + omega (no fairseq flag)
LAYERS = 2


def dictionary(vocab: int):
    from fairseq.data import Dictionary

    d = Dictionary()  # <s>=0, <pad>=1, </s>=2, <unk>=3
    for i in range(vocab - len(d)):
        d.add_symbol(f"w{i}")
    assert len(d) == vocab and d.pad() == 1 and d.eos() == 2
    return d


def build_pair(enc: str, dec: str, vocab: int = 48, layers: int = LAYERS, seed: int = 0, **size):
    """(ours, fairseq model, fairseq dictionary), both in eval mode, fairseq holding our weights."""
    from fairseq.models.transformer import TransformerModel
    from fairseq.models.transformer.transformer_legacy import transformer_iwslt_de_en

    torch.manual_seed(seed)
    ours = build_model("translation", "transformer_iwslt_de_en", encoder_scheme=enc, decoder_scheme=dec,
                       src_vocab=vocab, share="all", encoder_layers=layers, decoder_layers=layers,
                       dropout=0.0, attn_dropout=0.0, act_dropout=0.0, **size).eval()
    d = dictionary(vocab)
    args = argparse.Namespace(encoder_layers=layers, decoder_layers=layers, share_all_embeddings=True,
                              encoder_normalize_before=FAIRSEQ_FLAG[enc],
                              decoder_normalize_before=FAIRSEQ_FLAG[dec], dropout=0.0,
                              max_source_positions=ours.size.max_positions,
                              max_target_positions=ours.size.max_positions)
    transformer_iwslt_de_en(args)
    ref = TransformerModel.build_model(args, SimpleNamespace(source_dictionary=d, target_dictionary=d)).eval()
    copy_weights(ours, ref)
    return ours, ref, d


def _norm(residual) -> nn.LayerNorm:
    """The LayerNorm of one of our residual sublayers, wherever the scheme put it."""
    for m in (residual.pre_norm, residual.post_norm):
        if isinstance(m, nn.LayerNorm):
            return m
    raise ValueError("sublayer without a LayerNorm: no fairseq counterpart")


def name_map(ours) -> dict[str, torch.Tensor]:
    """fairseq state-dict key -> our tensor."""
    m: dict[str, torch.Tensor] = {}
    emb = ours.encoder_embed.embed.weight
    m["encoder.embed_tokens.weight"] = m["decoder.embed_tokens.weight"] = emb
    m["decoder.output_projection.weight"] = emb
    blocks = {"encoder": [("self_attn", "self_attn"), ("ffn", None)],
              "decoder": [("self_attn", "self_attn"), ("cross_attn", "encoder_attn"), ("ffn", None)]}
    for side, stack in ours.stacks().items():
        for i, layer in enumerate(stack.layers):
            pre = f"{side}.layers.{i}."
            for ours_name, fs_name in blocks[side]:
                res = getattr(layer, ours_name)
                norm = _norm(res)
                if fs_name is None:  # FFN: fc1, fc2, final_layer_norm
                    for k in ("fc1", "fc2"):
                        lin = getattr(res.fn, k)
                        m[pre + k + ".weight"], m[pre + k + ".bias"] = lin.weight, lin.bias
                    ln_name = "final_layer_norm"
                else:
                    attn = res.fn.attn
                    for k in ("q_proj", "k_proj", "v_proj", "out_proj"):
                        lin = getattr(attn, k)
                        m[pre + f"{fs_name}.{k}.weight"], m[pre + f"{fs_name}.{k}.bias"] = lin.weight, lin.bias
                    ln_name = fs_name + "_layer_norm"
                m[pre + ln_name + ".weight"], m[pre + ln_name + ".bias"] = norm.weight, norm.bias
        if isinstance(stack.final_norm, nn.LayerNorm):
            m[f"{side}.layer_norm.weight"], m[f"{side}.layer_norm.bias"] = stack.final_norm.weight, stack.final_norm.bias
    return m


def copy_weights(ours, ref) -> None:
    """Write our weights into fairseq's model; every fairseq parameter must be written."""
    m = name_map(ours)
    params = dict(ref.named_parameters(remove_duplicate=False))
    missing = sorted(set(params) - set(m))
    extra = sorted(set(m) - set(params))
    if missing or extra:
        raise AssertionError(f"name map mismatch: fairseq-only {missing}, ours-only {extra}")
    with torch.no_grad():
        for k, p in params.items():
            if p.shape != m[k].shape:
                raise AssertionError(f"{k}: fairseq {tuple(p.shape)} vs ours {tuple(m[k].shape)}")
            p.copy_(m[k])


def left_pad(tokens: torch.Tensor, pad: int = 1) -> torch.Tensor:
    """Right-padded (B, T) -> the same rows left-padded (fairseq's default source layout)."""
    out = torch.full_like(tokens, pad)
    for i, row in enumerate(tokens):
        real = row[row.ne(pad)]
        out[i, tokens.shape[1] - len(real):] = real
    return out
