"""BLEU as the papers report it, and the detokenised sacreBLEU beside it (docs/recipes.md §5).

- `tokenized_bleu`: fairseq-generate's BLEU-4 on the Moses-tokenised, BPE-removed text,
  whitespace tokens, case-sensitive (multi-bleu.perl equivalent; IWSLT data is already
  lowercased). Computed with sacreBLEU tokenize='none' and smooth_method='none' (fairseq's
  scorer has no smoothing: a zero n-gram precision gives BLEU 0).
- `compound_split_bleu`: fairseq scripts/compound_split_bleu.sh for En-De: "a-b" -> "a ##AT##-##AT## b"
  in hypothesis and reference, then tokenised BLEU (docs/recipes.md §5; the AIAYN/t2t convention).
- `detok_sacrebleu`: sacremoses-detokenise the hypothesis, score against the untokenised
  reference with sacreBLEU's default 13a tokeniser; returns the score and its signature.
"""
from __future__ import annotations

import re
from typing import Sequence

from sacrebleu.metrics import BLEU
from sacremoses import MosesDetokenizer

_HYPHEN = re.compile(r"(\S)-(\S)")


def _check(hyps: Sequence[str], refs: Sequence[str]) -> None:
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references; they must pair up line by line")


def tokenized_bleu(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus BLEU-4 (0-100) on whitespace tokens, no smoothing, case-sensitive."""
    _check(hyps, refs)
    bleu = BLEU(tokenize="none", smooth_method="none", force=True)
    return float(bleu.corpus_score(list(hyps), [list(refs)]).score)


def compound_split(line: str) -> str:
    """perl -ple 's{(\\S)-(\\S)}{$1 ##AT##-##AT## $2}g' (non-overlapping, as in perl)."""
    return _HYPHEN.sub(r"\1 ##AT##-##AT## \2", line)


def compound_split_bleu(hyps: Sequence[str], refs: Sequence[str]) -> float:
    return tokenized_bleu([compound_split(h) for h in hyps], [compound_split(r) for r in refs])


def detokenize(lines: Sequence[str], lang: str) -> list[str]:
    """sacremoses detokenisation (also undoes the tokenizer's &amp; &quot; ... escapes)."""
    detok = MosesDetokenizer(lang=lang)
    return [detok.detokenize(line.split()) for line in lines]


def detok_sacrebleu(hyps_tokenized: Sequence[str], refs_raw: Sequence[str], lang: str,
                    lowercase: bool = False) -> tuple[float, str]:
    """(sacreBLEU 13a score, signature) of detokenised hypotheses against raw references."""
    _check(hyps_tokenized, refs_raw)
    bleu = BLEU(lowercase=lowercase)
    score = bleu.corpus_score(detokenize(hyps_tokenized, lang), [list(refs_raw)]).score
    return float(score), str(bleu.get_signature())
