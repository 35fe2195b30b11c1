"""Label smoothing has fairseq's semantics; pads are ignored; CTC and CE are sums."""
import math

import pytest
import torch

from tasks.engine.losses import ctc, cross_entropy, label_smoothed_nll, task_loss


def fairseq_reference(logits, target, eps, pad):
    """Per-token formula written out with plain loops: eps spread over the V-1 wrong classes."""
    v = logits.size(-1)
    total = nll_total = 0.0
    for row, t in zip(logits.reshape(-1, v).tolist(), target.reshape(-1).tolist()):
        if t == pad:
            continue
        z = math.log(sum(math.exp(x) for x in row))
        logp = [x - z for x in row]
        q = [eps / (v - 1)] * v
        q[t] = 1.0 - eps
        total += -sum(qi * lp for qi, lp in zip(q, logp))
        nll_total += -logp[t]
    return total, nll_total


def test_label_smoothing_matches_fairseq_formula():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 11, generator=g)
    target = torch.randint(2, 11, (3, 5), generator=g)
    target[0, 3:] = 1  # padding
    loss, nll = label_smoothed_nll(logits, target, 0.1, ignore_index=1)
    ref_loss, ref_nll = fairseq_reference(logits, target, 0.1, pad=1)
    assert loss.item() == pytest.approx(ref_loss, rel=1e-5)
    assert nll.item() == pytest.approx(ref_nll, rel=1e-5)


def test_differs_from_torch_label_smoothing():
    g = torch.Generator().manual_seed(1)
    logits, target = torch.randn(8, 7, generator=g), torch.randint(0, 7, (8,), generator=g)
    ours = label_smoothed_nll(logits, target, 0.1, ignore_index=None)[0]
    theirs = torch.nn.functional.cross_entropy(logits, target, label_smoothing=0.1, reduction="sum")
    assert not torch.allclose(ours, theirs)


def test_uniform_prediction_costs_log_v():
    v = 13
    loss, nll = label_smoothed_nll(torch.zeros(4, v), torch.arange(4), 0.1, ignore_index=None)
    assert loss.item() == pytest.approx(4 * math.log(v), rel=1e-6)
    assert nll.item() == pytest.approx(4 * math.log(v), rel=1e-6)


def test_plain_ce_and_dispatch():
    g = torch.Generator().manual_seed(2)
    logits, target = torch.randn(6, 9, generator=g), torch.randint(0, 9, (6,), generator=g)
    ref = torch.nn.functional.cross_entropy(logits, target, reduction="sum", ignore_index=1)
    assert cross_entropy(logits, target, 1)[0].item() == pytest.approx(ref.item(), rel=1e-6)
    assert task_loss("ce", 0.1, logits, target, 1)[0].item() == pytest.approx(ref.item(), rel=1e-6)
    with pytest.raises(ValueError, match="loss.name='ctc'"):
        task_loss("ctc", 0.0, logits, target, 1)


def test_ctc_sums_over_utterances():
    g = torch.Generator().manual_seed(3)
    lp = torch.randn(2, 12, 6, generator=g).log_softmax(-1)
    targets = torch.tensor([[1, 2, 3], [4, 5, 0]])
    loss, _ = ctc(lp, torch.tensor([12, 10]), targets, torch.tensor([3, 2]))
    ref = torch.nn.functional.ctc_loss(lp.transpose(0, 1), targets, torch.tensor([12, 10]), torch.tensor([3, 2]),
                                       reduction="none").sum()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
