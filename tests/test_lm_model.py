"""The lm family's adaptive input / adaptive softmax, and the context-window evaluation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from common.tokens import EOS
from models import build_model
from models.lm import AdaptiveInput, AdaptiveSoftmax, band_edges
from tasks.lm import evaluate

V = 300
ADAPTIVE = dict(adaptive_input=True, adaptive_softmax=True, adaptive_cutoffs=(40, 120), max_positions=128)


def tiny(scheme="pre_ln", **kw):
    torch.manual_seed(0)
    return build_model("lm", "lm_tiny", encoder_scheme=scheme, vocab=V, **kw).eval()


@pytest.mark.parametrize("tied", [True, False])
def test_adaptive_softmax_log_probs_sum_to_one(tied):
    torch.manual_seed(0)
    inp = AdaptiveInput(V, 32, (40, 120), 4.0)
    sm = AdaptiveSoftmax(V, 32, (40, 120), 4.0, 0.0, inp if tied else None).eval()
    h = torch.randn(3, 5, 32) * 3
    lp = sm.log_prob(h)
    assert lp.shape == (3, 5, V)
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(3, 5), atol=1e-5, rtol=0)
    target = torch.randint(0, V, (3, 5))
    target[0, :3] = torch.tensor([0, 45, 250])  # one in each band
    torch.testing.assert_close(sm.target_log_prob(h, target), lp.gather(-1, target[..., None])[..., 0])


def test_untied_adaptive_softmax_equals_torch_adaptive_log_softmax():
    """Without tying and dropout the function is torch.nn.AdaptiveLogSoftmaxWithLoss's."""
    torch.manual_seed(0)
    ours = AdaptiveSoftmax(V, 32, (40, 120), 4.0, 0.0, None).eval()
    ref = nn.AdaptiveLogSoftmaxWithLoss(32, V, [40, 120], div_value=4.0, head_bias=False).eval()
    with torch.no_grad():
        ref.head.weight.copy_(torch.cat([ours.head_words.weight, ours.class_proj.weight]))
        for i in range(2):
            ref.tail[i][0].weight.copy_(ours.tail_proj[i].weight)
            ref.tail[i][1].weight.copy_(ours.tail_out[i].weight)
    h = torch.randn(7, 32)
    torch.testing.assert_close(ours.log_prob(h), ref.log_prob(h), atol=1e-5, rtol=1e-5)
    t = torch.randint(0, V, (7,))
    torch.testing.assert_close(-ours.target_log_prob(h, t).mean(), ref(h, t).loss, atol=1e-5, rtol=1e-5)


def test_tied_weights_are_shared_and_bands_follow_the_cutoffs():
    m = tiny(**ADAPTIVE)
    assert band_edges(V, (40, 120)) == [0, 40, 120, V] and band_edges(V, (20000, 60000)) == [0, V]
    ai, sm = m.adaptive_input, m.adaptive_softmax
    assert [e.weight.shape for e in ai.embeddings] == [(40, 64), (80, 16), (180, 4)]
    # tied: the softmax owns only the cluster logits; its words and tail maps are the input's
    own = {n for n, _ in sm.named_parameters()}
    assert own == {"class_proj.weight"}
    tokens = torch.randint(4, V, (2, 9))
    m.train()
    (-m.target_log_probs(tokens, torch.randint(0, V, (2, 9))).sum()).backward()
    assert all(e.weight.grad is not None for e in ai.embeddings)
    assert all(p.weight.grad is not None for p in ai.projections)


def test_lm_wiki103_size_is_the_fairseq_model():
    with torch.device("meta"):
        m = build_model("lm", "lm_wiki103", encoder_scheme="pre_ln", vocab=267_744)
    n = sum(p.numel() for p in m.parameters())
    assert abs(n - 247e6) < 1e6, n  # "247M parameters" (Baevski & Auli; fairseq README)
    assert band_edges(267_744, m.size.adaptive_cutoffs) == [0, 20000, 60000, 267_744]


def test_sigma_reparam_leaves_embeddings_and_output_untouched():
    from models.sigma_reparam import SigmaReparamLinear

    for kw in (ADAPTIVE, {}):
        m = tiny("sigma_reparam", **kw)
        converted = {n for n, mod in m.named_modules() if isinstance(mod, SigmaReparamLinear)}
        assert converted and all(n.startswith("decoder.") for n in converted)
        assert not any(isinstance(mod, SigmaReparamLinear) for mod in m.embed.modules())
        if m.adaptive_softmax is not None:
            assert not any(isinstance(mod, SigmaReparamLinear) for mod in m.adaptive_softmax.modules())


def test_plain_causal_lm_api_is_unchanged():
    m = tiny()
    tokens = torch.randint(4, V, (2, 7))
    logits = m(tokens)
    assert logits.shape == (2, 7, V)
    torch.testing.assert_close(m.target_log_probs(tokens, tokens),
                               torch.log_softmax(logits, -1).gather(-1, tokens[..., None])[..., 0])
    torch.testing.assert_close(m(tokens, target=tokens), m.target_log_probs(tokens, tokens))
    # causal: changing a later token leaves earlier outputs unchanged
    t2 = tokens.clone()
    t2[:, 5] = 4
    torch.testing.assert_close(m(t2)[:, :5], logits[:, :5])


def test_window_spans_score_every_token_once():
    for n, t, c in [(23, 8, 0), (23, 8, 5), (100, 16, 15), (7, 16, 12)]:
        spans = evaluate.window_spans(n, t, c)
        scored = [i for _, s, e in spans for i in range(s, e)]
        assert scored == list(range(n))
        assert all(s - ctx == min(c, s) and e - ctx <= t for ctx, s, e in spans)
    with pytest.raises(ValueError, match="context_window"):
        evaluate.window_spans(10, 8, 8)


@pytest.mark.parametrize("kw", [ADAPTIVE, {}])
def test_context_window_eval_equals_token_by_token(kw):
    """Each token scored once, given exactly the context fairseq-eval-lm gives it."""
    m = tiny(**kw)
    rng = np.random.default_rng(0)
    tokens = rng.integers(4, V, size=57).astype(np.int32)
    tokens[[10, 30, 56]] = EOS
    T, C = 16, 11
    got = evaluate.evaluate_stream(m, tokens, T, C, max_tokens=3 * T)
    direct = 0.0
    with torch.no_grad():
        for ctx, start, end in evaluate.window_spans(len(tokens), T, C):
            for i in range(start, end):  # one forward per token: its window [ctx, i]
                prev = np.concatenate([[EOS], tokens[:i]])[ctx:i + 1]  # the previous token of each position
                lp = torch.log_softmax(m(torch.as_tensor(prev[None], dtype=torch.long))[0, -1].float(), -1)
                direct -= float(lp[int(tokens[i])])
    assert got["tokens"] == len(tokens)
    assert got["nll_sum"] == pytest.approx(direct, rel=1e-5)
    assert got["ppl"] == pytest.approx(math.exp(direct / len(tokens)), rel=1e-5)
    assert got["bits"] == pytest.approx(got["nats"] / math.log(2))
    # more context changes the scores (the window is really used)
    assert evaluate.evaluate_stream(m, tokens, T, 0)["nll_sum"] != pytest.approx(direct, rel=1e-6)


def test_every_softmax_weight_gets_a_gradient_even_without_tail_targets():
    """DistributedDataParallel needs every parameter used in every step (fairseq runs this model
    with its legacy DDP for that reason): a band without targets still gets a zero gradient."""
    torch.manual_seed(0)
    sm = AdaptiveSoftmax(V, 32, (40, 120), 4.0, 0.1, None).train()
    h = torch.randn(6, 32, requires_grad=True)
    (-sm.target_log_prob(h, torch.randint(4, 40, (6,))).sum()).backward()  # head words only
    assert all(p.grad is not None for p in sm.parameters())
    assert float(sm.tail_out[1].weight.grad.abs().sum()) == 0.0
