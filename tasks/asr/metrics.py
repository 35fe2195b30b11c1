"""Word and character error rates with jiwer (in percent), on normalised lower-case text.

WER = (S + D + I) / N words of the references, summed over the whole split (not a mean of
per-utterance rates), as the LibriSpeech results are reported; CER the same over characters
(spaces included, jiwer's definition).
"""
from __future__ import annotations

import jiwer

from tasks.asr.vocab import normalize


def error_rates(refs: list[str], hyps: list[str]) -> dict:
    """{"wer", "cer" (percent), "words", "chars", "substitutions", "deletions", "insertions"}."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise ValueError("no utterances to score")
    r = [normalize(x) for x in refs]
    h = [normalize(x) for x in hyps]
    if any(not x for x in r):
        raise ValueError("an empty reference transcript cannot be scored by WER")
    words = jiwer.process_words(r, h)
    chars = jiwer.process_characters(r, h)
    n_words = sum(len(x.split()) for x in r)
    return {"wer": 100.0 * words.wer, "cer": 100.0 * chars.cer, "words": n_words,
            "chars": sum(len(x) for x in r), "substitutions": words.substitutions,
            "deletions": words.deletions, "insertions": words.insertions}
