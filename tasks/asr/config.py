"""The asr task's own closed config sections (declared in tasks/asr/record.py).

audio       which prepared splits train / validate / evaluate, the duration filter, and the
            batch budget in input frames (10 ms each) -- the analogue of flashlight's
            dynamic batching by total duration (slimIPL: 200 s of audio per GPU = 20000 frames).
specaugment slimIPL 100h values (wav2letter recipes/slimIPL/100h_supervised.cfg): from update
            5000 on, 2 frequency masks <= 30 bins, 10 time masks <= 50 frames, each at most
            10% of the utterance.
decode      greedy CTC, or flashlight's lexicon-free beam search (tasks.asr.decode).
"""
from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other",
          "test-clean", "test-other")


@dataclass(frozen=True)
class AudioConfig:
    train_splits: tuple[str, ...] = ("train-clean-100",)
    valid_split: str = "dev-clean"  # validation loss (and best checkpoint)
    eval_splits: tuple[str, ...] = ("dev-clean", "dev-other", "test-clean", "test-other")
    min_duration_s: float = 0.0  # training utterances outside [min, max] are left out (with a note)
    max_duration_s: float = 36.0  # LibriSpeech's longest training utterance is ~35 s: keeps all [U]
    max_frames: int = 20000  # padded input frames per batch (per GPU, before update_freq)
    max_utterances: int = 0  # 0 = no cap on utterances per batch
    max_train_utterances: int = 0  # 0 = all; else the first N (sorted ids) -- a subset for small scale

    def validate(self) -> None:
        for s in self.train_splits + (self.valid_split,) + self.eval_splits:
            if s not in SPLITS:
                raise ValueError(f"splits: {s!r} is not a LibriSpeech split; expected one of {SPLITS}")
        if not self.train_splits:
            raise ValueError("train_splits: expected at least one training split")
        if self.max_frames <= 0:
            raise ValueError(f"max_frames: expected a positive number, got {self.max_frames}")
        if self.max_utterances < 0 or self.max_train_utterances < 0:
            raise ValueError("max_utterances / max_train_utterances: expected a number >= 0")
        if not 0 <= self.min_duration_s < self.max_duration_s:
            raise ValueError(f"min_duration_s/max_duration_s: expected 0 <= min < max, got "
                             f"{self.min_duration_s}, {self.max_duration_s}")


@dataclass(frozen=True)
class SpecAugmentConfig:
    enabled: bool = True
    start_update: int = 5000  # masks apply to batches of this update on (counted from 0)
    freq_masks: int = 2
    freq_width: int = 30
    time_masks: int = 10
    time_width: int = 50
    time_max_ratio: float = 0.1

    def validate(self) -> None:
        for name in ("start_update", "freq_masks", "freq_width", "time_masks", "time_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected a number >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.time_max_ratio <= 1.0:
            raise ValueError(f"time_max_ratio: expected a value in [0, 1], got {self.time_max_ratio}")


@dataclass(frozen=True)
class DecodeConfig:
    method: str = "greedy"  # greedy | beam (flashlight-text lexicon-free, no LM)
    beam_size: int = 50
    max_frames: int = 40000  # padded input frames per evaluation batch

    def validate(self) -> None:
        if self.method not in ("greedy", "beam"):
            raise ValueError(f"method: {self.method!r} is not one of ['greedy', 'beam']")
        if self.method == "beam" and self.beam_size < 1:
            raise ValueError(f"beam_size: expected >= 1 for beam decoding, got {self.beam_size}")
        if self.max_frames <= 0:
            raise ValueError(f"max_frames: expected a positive number, got {self.max_frames}")
