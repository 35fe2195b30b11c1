"""The translation task's own config sections (closed, typed; see tasks/config.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TranslationEval:
    """Section `eval`: beam search and BLEU of the final evaluation (fairseq-generate flags)."""
    beam: int = 5
    lenpen: float = 1.0
    max_len_a: float = 0.0
    max_len_b: int = 200
    bleu_lowercase: bool = False  # score lowercased text (the IWSLT'14 recipes' convention)
    compound_split: bool = False  # also report BLEU with compounds split (En-De)
    batch_sentences: int = 128
    split: str = "test"  # valid | test

    def validate(self) -> None:
        if self.beam < 1:
            raise ValueError(f"beam: expected a positive number, got {self.beam}")
        if self.batch_sentences < 1:
            raise ValueError(f"batch_sentences: expected a positive number, got {self.batch_sentences}")
        if self.split not in ("valid", "test"):
            raise ValueError(f"split: {self.split!r} is not one of ['valid', 'test']")
