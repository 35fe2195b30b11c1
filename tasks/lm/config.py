"""The lm task's own config section (closed, typed; see tasks/config.py)."""
from __future__ import annotations

from dataclasses import dataclass

SAMPLE_BREAK_MODES = ("none",)


@dataclass(frozen=True)
class LMData:
    """Section `lm`: fairseq's language_modeling task flags for training and fairseq-eval-lm.

    Training samples are consecutive blocks of `tokens_per_sample` tokens of the training stream
    (--sample-break-mode none); a batch holds max_tokens // tokens_per_sample blocks (at least one),
    as fairseq's --max-tokens does for equal-length blocks. The final evaluation follows
    fairseq-eval-lm: windows of `eval_tokens_per_sample` tokens (0 = tokens_per_sample) whose
    last eval_tokens_per_sample - context_window tokens are scored (tasks/lm/evaluate.py).
    """
    tokens_per_sample: int = 512
    max_tokens: int = 4096
    sample_break_mode: str = "none"
    context_window: int = 0
    eval_tokens_per_sample: int = 0
    eval_max_tokens: int = 0  # tokens per evaluation batch (0 = max_tokens)
    eval_splits: tuple[str, ...] = ("valid", "test")

    @property
    def eval_window(self) -> int:
        return self.eval_tokens_per_sample or self.tokens_per_sample

    def validate(self) -> None:
        if self.tokens_per_sample <= 0:
            raise ValueError(f"tokens_per_sample: expected a positive number, got {self.tokens_per_sample}")
        if self.max_tokens <= 0:
            raise ValueError(f"max_tokens: expected a positive number, got {self.max_tokens}")
        if self.sample_break_mode not in SAMPLE_BREAK_MODES:
            raise ValueError(f"sample_break_mode: {self.sample_break_mode!r} is not one of "
                             f"{list(SAMPLE_BREAK_MODES)} (fairseq's wiki103 recipes use none)")
        if self.eval_tokens_per_sample < 0 or self.eval_max_tokens < 0:
            raise ValueError("eval_tokens_per_sample and eval_max_tokens: expected numbers >= 0")
        if not 0 <= self.context_window < self.eval_window:
            raise ValueError(f"context_window: expected a value in [0, {self.eval_window}) (the evaluation "
                             f"window, eval_tokens_per_sample or tokens_per_sample), got {self.context_window}")
        bad = [s for s in self.eval_splits if s not in ("valid", "test")]
        if bad or not self.eval_splits:
            raise ValueError(f"eval_splits: expected a non-empty list of valid|test, got {list(self.eval_splits)}")
