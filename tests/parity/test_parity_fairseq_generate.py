"""Beam search against fairseq 0.12's SequenceGenerator, same weights.

Both n-best lists (beam 5: every finalised hypothesis, its tokens and its length-normalised
score) must agree, for lenpen 1.0 and 0.6. A random model rarely ends a sentence before the
length limit, so the eos row of the shared embedding (= the output projection's eos row) is
moved along the mean direction of the decoder's output features, in the smallest step of a fixed
grid that makes our 5-best lists hold at least three different lengths (eos then competes with
the other tokens: hypotheses end at different steps, which exercises the length normalisation
and the finalisation order). fairseq gets the same weights.
Our `generate` returns only the best hypothesis; its per-sentence list of finalised
(score, tokens) is read by wrapping `tasks.translation.generate._best`.
"""
import pytest
import torch

from reference_packages import need

need("fairseq")
# fairseq 0.12 hands torch a bool key-padding mask with a float future mask (its own choice)
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")

import tasks.translation.generate as gen  # noqa: E402
from fairseq_ref import build_pair, copy_weights, left_pad  # noqa: E402

V, BEAM, MAX_LEN_B = 48, 5, 12
EOS_STEPS = [0.3 + 0.05 * k for k in range(15)]  # in units of the mean token-embedding norm


def our_nbest(model, src, lenpen, monkeypatch):
    lists = []
    original = gen._best

    def record(hyps):
        lists.append(sorted(((s, list(t)) for s, t in hyps), key=lambda h: -h[0]))
        return original(hyps)
    with monkeypatch.context() as patch:
        patch.setattr(gen, "_best", record)
        best = gen.generate(model, src, beam=BEAM, lenpen=lenpen, max_len_a=0.0, max_len_b=MAX_LEN_B,
                            max_positions=model.size.max_positions)
    return lists, best


def fairseq_nbest(ref, d, src, lenpen):
    from fairseq.sequence_generator import SequenceGenerator

    sg = SequenceGenerator([ref], d, beam_size=BEAM, max_len_a=0, max_len_b=MAX_LEN_B, len_penalty=lenpen)
    sample = {"net_input": {"src_tokens": src, "src_lengths": src.ne(1).sum(1)}}
    with torch.no_grad():
        out = sg.generate([ref], sample)
    lists = []
    for hyps in out:
        rows = []
        for h in hyps:
            toks = h["tokens"].tolist()
            assert toks[-1] == 2
            rows.append((float(h["score"]), toks[:-1]))
        lists.append(sorted(rows, key=lambda r: -r[0]))
    return lists


@pytest.mark.parametrize("lenpen", [1.0, 0.6])
@pytest.mark.parametrize("enc,dec", [("post_ln", "post_ln"), ("pre_ln", "pre_ln")])
def test_nbest_equals_fairseq_sequence_generator(enc, dec, lenpen, monkeypatch):
    ours, ref, d = build_pair(enc, dec, V)
    g = torch.Generator().manual_seed(3)
    src = torch.randint(4, V, (4, 7), generator=g)
    for i, n in enumerate((7, 5, 6, 3)):
        src[i, n - 1] = 2
        src[i, n:] = 1
    emb = ours.encoder_embed.embed.weight
    with torch.no_grad():
        prev = torch.cat([torch.full((4, 1), 2), src[:, :5].clamp(min=4)], 1)
        enc_out, enc_pad = ours.encode(src)
        h = ours.decoder(ours.decoder_embed(prev), pad=prev.eq(1), memory=enc_out, memory_pad=enc_pad)
        direction = h.mean((0, 1)) / h.mean((0, 1)).norm() * emb[4:].norm(dim=1).mean()
        eos_row = emb[2].clone()
    for step in EOS_STEPS:
        with torch.no_grad():
            emb[2] = eos_row + step * direction
        ours_lists, best = our_nbest(ours, src, lenpen, monkeypatch)
        if len({len(t) for hyps in ours_lists for _, t in hyps}) >= 3:
            break
    copy_weights(ours, ref)
    ref_lists = fairseq_nbest(ref, d, left_pad(src), lenpen)  # fairseq's default source layout
    lengths = set()
    worst = 0.0
    for i, (a, b) in enumerate(zip(ours_lists, ref_lists)):
        assert len(a) == len(b) == BEAM, i
        assert [t for _, t in a] == [t for _, t in b], f"sentence {i}: n-best tokens differ"
        for (sa, _), (sb, _) in zip(a, b):
            worst = max(worst, abs(sa - sb))
        assert best[i] == b[0][1]
        lengths |= {len(t) for _, t in a}
    print(f"{enc}+{dec} lenpen {lenpen}: hypothesis lengths {sorted(lengths)}, max |score diff| {worst:.2e}")
    assert worst < 1e-5
    assert len(lengths) >= 3 and min(lengths) < MAX_LEN_B  # hypotheses end at different lengths

