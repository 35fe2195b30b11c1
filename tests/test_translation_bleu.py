"""BLEU as fairseq-generate computes it, cross-checked against sacreBLEU and an independent
n-gram implementation; BPE removal; compound splitting; detokenised sacreBLEU."""
import math
import random
from collections import Counter

import pytest
from sacrebleu.metrics import BLEU

from tasks.translation import bleu
from tasks.translation.dictionary import remove_bpe


def reference_bleu(hyps, refs, order=4):
    """multi-bleu.perl / fairseq scorer: corpus n-gram precisions, no smoothing, brevity penalty."""
    match, total = [0] * order, [0] * order
    hyp_len = ref_len = 0
    for h, r in zip(hyps, refs):
        h, r = h.split(), r.split()
        hyp_len, ref_len = hyp_len + len(h), ref_len + len(r)
        for n in range(1, order + 1):
            hc = Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
            rc = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
            match[n - 1] += sum(min(c, rc[g]) for g, c in hc.items())
            total[n - 1] += max(len(h) - n + 1, 0)
    if min(match) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(match, total)) / order
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100 * bp * math.exp(log_p)


def noisy_corpus(seed, n=40):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(30)] + ["&quot;", "@-@", ",", "."]
    refs, hyps = [], []
    for _ in range(n):
        ref = [rng.choice(words) for _ in range(rng.randint(3, 20))]
        hyp = [w if rng.random() < 0.7 else rng.choice(words) for w in ref]
        if rng.random() < 0.3:
            hyp = hyp[: rng.randint(1, len(hyp))]
        refs.append(" ".join(ref))
        hyps.append(" ".join(hyp))
    return hyps, refs


def test_identical_hypothesis_and_reference_give_100():
    refs = ["a b c d e", "das ist ein test .", "x y z w"]
    assert bleu.tokenized_bleu(refs, refs) == pytest.approx(100.0)
    assert bleu.compound_split_bleu(refs, refs) == pytest.approx(100.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tokenized_bleu_equals_sacrebleu_none_and_independent_ngram_count(seed):
    hyps, refs = noisy_corpus(seed)
    ours = bleu.tokenized_bleu(hyps, refs)
    sb = BLEU(tokenize="none", smooth_method="none", force=True).corpus_score(hyps, [refs]).score
    assert ours == pytest.approx(sb, abs=1e-9)
    assert ours == pytest.approx(reference_bleu(hyps, refs), abs=1e-9)
    assert 5 < ours < 95


def test_tokenized_bleu_is_case_sensitive_and_unsmoothed():
    assert bleu.tokenized_bleu(["The cat sat here"], ["the cat sat here"]) < 100
    assert bleu.tokenized_bleu(["a b c"], ["a b c d e f"]) == 0.0  # no 4-gram at all -> 0, as fairseq


def test_remove_bpe_is_fairseqs_rule():
    assert remove_bpe("ein Ha@@ us@@ boot und sch@@ iff") == "ein Hausboot und schiff"
    assert remove_bpe("end@@") == "end"  # the appended space makes a final "@@" go too
    assert remove_bpe("a@@  b") == "a b"


def test_compound_split_matches_the_perl_regex():
    assert bleu.compound_split("a-b-c-d x") == "a ##AT##-##AT## b-c ##AT##-##AT## d x"
    assert bleu.compound_split("Neu @-@ Eufrür") == "Neu @ ##AT##-##AT## @ Eufrür"
    assert bleu.compound_split("- a -") == "- a -"


def test_detokenised_sacrebleu_unescapes_and_reports_its_signature():
    hyps = ["Er sagt : &quot; Das Neu @-@ Eufrür ist hier . &quot;"]
    refs = ['Er sagt: "Das Neu-Eufrür ist hier."']
    score, sig = bleu.detok_sacrebleu(hyps, refs, "de")
    assert score == pytest.approx(100.0)
    assert "tok:13a" in sig and "case:mixed" in sig
    _, sig_lc = bleu.detok_sacrebleu(hyps, refs, "de", lowercase=True)
    assert "case:lc" in sig_lc


def test_mismatched_counts_are_an_error():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        bleu.tokenized_bleu(["a", "b"], ["a"])
