"""Beam search (tasks.translation.generate) on fake models with the TranslationModel API."""
import math

import pytest
import torch
from torch import nn

from tasks.translation.dictionary import EOS, PAD
from tasks.translation.generate import generate, max_length

V = 12


class RandomModel(nn.Module):
    """Deterministic stand-in: logits of the next token depend on the whole prefix and on the
    mean of the non-pad source embeddings, so padding and row independence are exercised."""

    def __init__(self, seed=0, d=16):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.emb = nn.Parameter(torch.randn(V, d, generator=g))
        self.mix = nn.Parameter(torch.randn(d, d, generator=g) / d ** 0.5)
        self.out = nn.Parameter(torch.randn(d, V, generator=g))

    def encode(self, src):
        pad = src.eq(PAD)
        return self.emb[src], pad

    def decode(self, prev, enc, enc_pad):
        keep = (~enc_pad).unsqueeze(-1).float()
        ctx = (enc * keep).sum(1) / keep.sum(1)  # (B, d)
        h = torch.cumsum(self.emb[prev], dim=1) / torch.arange(1, prev.size(1) + 1).view(1, -1, 1)
        return torch.tanh(h @ self.mix + ctx.unsqueeze(1)) @ self.out * 3  # (B, T, V)


class IncrementalRandomModel(RandomModel):
    """The same model with fairseq-style incremental decoding: the state caches the prefix sum."""

    def decode_incremental(self, last, enc, enc_pad, state):
        keep = (~enc_pad).unsqueeze(-1).float()
        ctx = (enc * keep).sum(1) / keep.sum(1)
        state["sum"] = state.get("sum", 0) + self.emb[last[:, 0]]
        state["n"] = state.get("n", 0) + 1
        h = state["sum"] / state["n"]
        return (torch.tanh(h @ self.mix + ctx) @ self.out * 3).unsqueeze(1)

    def reorder_incremental_state(self, state, rows):
        state["sum"] = state["sum"][rows]


class MarkovModel(nn.Module):
    """Next-token log-probabilities from a table indexed by the last token (source ignored)."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.log(torch.as_tensor(table, dtype=torch.float32))  # 0 -> -inf: impossible

    def encode(self, src):
        return torch.zeros(src.size(0), src.size(1), 1), src.eq(PAD)

    def decode(self, prev, enc, enc_pad):
        return self.table[prev]


def greedy(model, src_row, max_len):
    """Independent greedy decoding of one sentence with fairseq's eos/pad/length rules."""
    enc, pad = model.encode(src_row.unsqueeze(0))
    prefix = [EOS]
    for step in range(max_len + 1):
        lp = torch.log_softmax(model.decode(torch.tensor([prefix]), enc, pad)[0, -1], -1)
        lp[PAD] = -math.inf
        if step == max_len:
            return prefix[1:]
        if step < 1:
            lp[EOS] = -math.inf
        tok = int(lp.argmax())
        if tok == EOS:
            return prefix[1:]
        prefix.append(tok)
    return prefix[1:]


def test_beam_one_equals_greedy_on_a_padded_batch():
    torch.manual_seed(0)
    model = RandomModel()
    lengths = [3, 7, 5, 2, 9]
    src = torch.full((len(lengths), max(lengths)), PAD)
    for i, n in enumerate(lengths):
        src[i, :n - 1] = torch.randint(4, V, (n - 1,))
        src[i, n - 1] = EOS
    out = generate(model, src, beam=1, max_len_a=1.0, max_len_b=4)
    ml = max_length(src.size(1), 1.0, 4, 1024)
    for i in range(len(lengths)):
        # the fake model only sees non-pad source positions, so a row alone decodes the same
        assert out[i] == greedy(model, src[i, :lengths[i]], ml)
    assert any(len(h) > 0 for h in out)


@pytest.mark.parametrize("beam", [1, 3])
def test_incremental_decoding_gives_the_same_hypotheses(beam):
    src = torch.tensor([[5, 6, 7, 8, EOS], [9, 4, EOS, PAD, PAD], [10, EOS, PAD, PAD, PAD]])
    full = generate(RandomModel(seed=7), src, beam=beam, max_len_a=1.0, max_len_b=6)
    inc = generate(IncrementalRandomModel(seed=7), src, beam=beam, max_len_a=1.0, max_len_b=6)
    assert inc == full and len({len(h) for h in full}) > 1  # sentences ended at different steps


def markov_table(p_first_a=0.6):
    """From eos: token 4 w.p. 0.6, token 5 w.p. 0.4. After 4: 4, 5, eos uniform. After 5: eos 0.99."""
    t = torch.full((V, V), 1e-9)
    t[EOS, 4], t[EOS, 5] = p_first_a, 1 - p_first_a
    t[4, 4] = t[4, 5] = t[4, EOS] = 1 / 3
    t[5, EOS], t[5, 4] = 0.99, 0.01
    return t


@pytest.mark.parametrize("lenpen", [0.0, 1.0])
def test_beam_search_finds_the_best_sequence_greedy_misses(lenpen):
    model = MarkovModel(markov_table())
    src = torch.tensor([[6, 7, EOS]])
    assert generate(model, src, beam=1, lenpen=lenpen, max_len_b=10)[0][0] == 4  # greedy takes 4 first
    # "5 eos": log .4 + log .99 = -0.93 beats every sequence starting with 4 (<= log .6 + log 1/3)
    assert generate(model, src, beam=2, lenpen=lenpen, max_len_b=10) == [[5]]


def test_length_penalty_normalises_by_length_including_eos():
    # From eos: 4 then eos (p = .5), or 5 -> 6 -> 7 -> eos (p = .5 * .85^3); nothing else
    t = torch.zeros(V, V)
    t[EOS, 4] = t[EOS, 5] = 0.5
    t[4, EOS] = 1.0
    t[5, 6] = t[6, 7] = t[7, EOS] = 0.85
    t[5, EOS] = t[6, EOS] = t[7, 8] = 0.15
    model = MarkovModel(t)
    src = torch.tensor([[9, EOS]])
    short_lp, long_lp = math.log(0.5), math.log(0.5) + 3 * math.log(0.85)
    assert short_lp > long_lp and long_lp / 4 > short_lp / 2  # (2 and 4 tokens with eos)
    # beam 4: fairseq stops a sentence at `beam` finished hypotheses; [4], [5], [5, 6] end first
    assert generate(model, src, beam=4, lenpen=0.0, max_len_b=10) == [[4]]
    assert generate(model, src, beam=4, lenpen=1.0, max_len_b=10) == [[5, 6, 7]]
    assert generate(model, src, beam=3, lenpen=1.0, max_len_b=10) == [[4]]  # stopped before 5 6 7 ended


def test_max_and_min_length():
    t = torch.full((V, V), 1e-9)
    t[:, 4] = 1.0  # never eos
    t[EOS, EOS] = 10.0  # eos as first token would win, but min length 1 forbids it
    model = MarkovModel(t)
    src = torch.tensor([[5, 6, 7, EOS], [5, EOS, PAD, PAD]])
    out = generate(model, src, beam=2, max_len_a=0.5, max_len_b=3)
    assert max_length(4, 0.5, 3, 1024) == 5
    assert out == [[4] * 5, [4] * 5]  # the padded batch length sets max_len, as in fairseq
    assert generate(model, src, beam=2, max_len_a=0.5, max_len_b=3000, max_positions=8) == [[4] * 7] * 2
