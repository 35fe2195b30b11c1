"""CTC decoding and scoring (tasks.asr.decode, tasks.asr.metrics) on hand-made examples."""
from __future__ import annotations

import pytest
import torch

from tasks.asr import decode, vocab
from tasks.asr.metrics import error_rates


def log_probs_of(path: str, v: int = 29, peak: float = 0.9) -> torch.Tensor:
    """(T, V) log-probs whose best path is `path` ('-' blank, '|' word boundary, letters)."""
    rows = []
    for ch in path:
        i = vocab.BLANK if ch == "-" else vocab.INDEX[ch]
        p = torch.full((v,), (1 - peak) / (v - 1))
        p[i] = peak
        rows.append(p.log())
    return torch.stack(rows)


def test_greedy_collapses_repeats_drops_blanks_and_splits_words():
    paths = ["hhe-ll-lo||wwor-ld", "--c-aat''s|-|hat-", "-----"]
    t = max(len(p) for p in paths)
    lp = torch.full((3, t, 29), -50.0)
    for b, p in enumerate(paths):
        lp[b, :len(p)] = log_probs_of(p)
        lp[b, len(p):, vocab.INDEX["x"]] = 0.0  # padding frames say "x": must be ignored
    out = decode.greedy(lp, torch.tensor([len(p) for p in paths]))
    assert out == ["hello world", "cat's hat", ""]
    # "ll" without a blank between collapses to one "l"
    assert decode.greedy(log_probs_of("hello")[None], torch.tensor([5])) == ["helo"]


def test_beam_search_agrees_with_greedy_on_peaked_paths():
    lp = log_probs_of("hhe-ll-lo||wwor-ld", peak=0.97)[None]
    beam = decode.decoder("beam", 8)
    assert beam(lp, torch.tensor([lp.shape[1]])) == ["hello world"]


def test_beam_search_sums_paths_where_greedy_takes_one():
    # Two frames: best single path is blank-blank (0.36) -> "", but "a" has total probability
    # 0.4*0.4 + 0.4*0.6 + 0.6*0.4 = 0.64 (paths a-a, a-blank, blank-a).
    assert decode.beam_available(), "flashlight-text (pinned in requirements.txt) is not installed"
    p = torch.full((1, 2, 29), 1e-6)
    p[0, :, vocab.BLANK] = 0.6
    p[0, :, vocab.INDEX["a"]] = 0.4
    lp = (p / p.sum(-1, keepdim=True)).log()
    assert decode.greedy(lp, torch.tensor([2])) == [""]
    assert decode.decoder("beam", 4)(lp, torch.tensor([2])) == ["a"]


def test_wer_and_cer_on_a_hand_example():
    refs = ["the cat sat on the mat", "hello world"]
    hyps = ["the cat sit on mat", "hello world there"]
    r = error_rates(refs, hyps)
    # utterance 1: sat->sit (S), "the" deleted (D); utterance 2: "there" inserted (I); N = 8 words
    assert (r["substitutions"], r["deletions"], r["insertions"], r["words"]) == (1, 1, 1, 8)
    assert r["wer"] == pytest.approx(100 * 3 / 8)
    # characters: "sat"->"sit" 1 substitution, "the " deleted 4; " there" inserted 6; N = 22 + 11
    assert r["cer"] == pytest.approx(100 * (1 + 4 + 6) / 33)
    assert error_rates(["A  B"], ["a b"])["wer"] == 0.0  # case and spacing are normalised
    assert error_rates(["a b"], [""])["wer"] == 100.0  # an empty hypothesis deletes every word
    with pytest.raises(ValueError, match="2 references but 1"):
        error_rates(["a", "b"], ["a"])
