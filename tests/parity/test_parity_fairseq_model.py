"""Translation logits against fairseq 0.12's transformer_iwslt_de_en with our weights copied.

Schemes fairseq expresses: Post-LN, Pre-LN (normalize_before, with the final LayerNorm), and the
two mixed encoder/decoder pairs. Padding layouts:
- right-padded source and target on both sides (our layout): every position must agree, padded
  decoder positions included, since our causal self-attention masks padded keys as fairseq does;
- left-padded source for fairseq (its translation task's default, --left-pad-source True) against
  our right-padded source: fairseq counts positions over non-pad tokens, so the encoder output at
  each real token is the same and the decoder, which masks padded memory, must give the same
  logits everywhere; the encoder outputs are compared token for token after re-aligning.
Targets are right-padded in fairseq too (--left-pad-target False), so there is no other layout.
"""
import pytest
import torch

from reference_packages import need

need("fairseq")
# fairseq 0.12 hands torch a bool key-padding mask with a float future mask (its own choice)
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")

from fairseq_ref import build_pair, left_pad  # noqa: E402

SCHEMES = [("post_ln", "post_ln"), ("pre_ln", "pre_ln"), ("pre_ln", "post_ln"), ("post_ln", "pre_ln")]
V = 48


def padded_batch(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V, (4, 9), generator=g)
    prev = torch.randint(4, V, (4, 8), generator=g)
    for i, n in enumerate((9, 6, 4, 8)):  # source lengths incl. eos
        src[i, n - 1] = 2
        src[i, n:] = 1
    prev[:, 0] = 2  # decoder input starts with eos
    for i, n in enumerate((8, 5, 3, 7)):
        prev[i, n:] = 1
    lengths = src.ne(1).sum(1)
    return src, lengths, prev


@pytest.mark.parametrize("enc,dec", SCHEMES)
def test_logits_match_fairseq_right_padding_every_position(enc, dec):
    ours, ref, _ = build_pair(enc, dec, V)
    src, lengths, prev = padded_batch()
    with torch.no_grad():
        a = ref(src, lengths, prev)[0]
        b = ours(src, prev)
    diff = (a - b).abs().max().item()
    print(f"{enc}+{dec} right-padded: max |logit diff| {diff:.2e} over all positions")
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("enc,dec", SCHEMES)
def test_logits_match_fairseq_left_padded_source(enc, dec):
    ours, ref, _ = build_pair(enc, dec, V)
    src, lengths, prev = padded_batch(seed=2)
    src_left = left_pad(src)
    with torch.no_grad():
        a = ref(src_left, lengths, prev)[0]
        b = ours(src, prev)
        enc_ref = ref.encoder(src_left, src_lengths=lengths)["encoder_out"][0].transpose(0, 1)  # (B, S, D)
        enc_ours, _ = ours.encode(src)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    s = src.shape[1]
    for i, n in enumerate(lengths.tolist()):  # real tokens: ours at 0..n-1, fairseq at s-n..s-1
        torch.testing.assert_close(enc_ours[i, :n], enc_ref[i, s - n:], rtol=1e-5, atol=1e-5)


def test_padded_decoder_positions_would_differ_without_the_key_mask():
    """Guards the test above: dropping the decoder's key-padding mask changes padded rows."""
    import models.attention as attention

    ours, ref, _ = build_pair("post_ln", "post_ln", V)
    src, lengths, prev = padded_batch()
    dec_attn = [layer.self_attn.fn.attn for layer in ours.decoder.layers]
    with torch.no_grad():
        a = ref(src, lengths, prev)[0]
        original = attention.Attention.forward

        def no_key_mask(self, x, kv=None, key_padding_mask=None, **kw):
            if self in dec_attn:
                key_padding_mask = None
            return original(self, x, kv, key_padding_mask, **kw)
        attention.Attention.forward = no_key_mask
        try:
            b = ours(src, prev)
        finally:
            attention.Attention.forward = original
    real = prev.ne(1)
    torch.testing.assert_close(b[real], a[real], rtol=1e-5, atol=1e-5)
    assert (b[~real] - a[~real]).abs().max() > 1e-2
