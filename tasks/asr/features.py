"""80-dim log-mel filterbanks and SpecAugment.

Features (computed once, in prepare): Kaldi-compatible log-mel filterbanks through
`torchaudio.compliance.kaldi.fbank` -- 25 ms Povey window, 10 ms hop, 80 mel bins, no dither
(deterministic), samples scaled to the 16-bit range first as Kaldi and fairseq's speech_to_text
do. T frames = 1 + (n_samples - 400) // 160. The sigma-reparam speech model reads 80 filterbanks
at 10 ms (its positions step 0.03 s after stride 3; docs/recipes.md §8); flashlight's slimIPL recipe
also uses 80 filterbanks. Per-utterance normalisation is the model's first layer, not done here.

SpecAugment (Park et al. 2019), slimIPL 100h values (wav2letter recipes/slimIPL/100h_supervised.cfg):
2 frequency masks of width U{0..30}, 10 time masks of width U{0..50}, each time mask at most
p = 0.1 of the utterance's frames. Masked entries get the utterance's mean log-mel value, which
is 0 after the model's per-utterance input normalisation -- the "zero" of implementations that
mask normalised features. (The raw value 0 would be ~10 below typical log-mel energies and would
distort that normalisation's statistics; measured here, it undid a tiny model's training.)
Applied from a set update on (slimIPL: 5000).
"""
from __future__ import annotations

import numpy as np
import torch

N_MELS, FRAME_LENGTH_MS, FRAME_SHIFT_MS = 80, 25.0, 10.0


def fbank(audio: np.ndarray, sample_rate: int = 16000, n_mels: int = N_MELS) -> np.ndarray:
    """(T, n_mels) float32 log-mel filterbanks of float32 samples in [-1, 1)."""
    from torchaudio.compliance import kaldi

    wave = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32) * 32768.0)[None, :]
    if wave.shape[1] < int(sample_rate * FRAME_LENGTH_MS / 1000):
        raise ValueError(f"{wave.shape[1]} samples is shorter than one 25 ms window")
    feats = kaldi.fbank(wave, num_mel_bins=n_mels, frame_length=FRAME_LENGTH_MS, frame_shift=FRAME_SHIFT_MS,
                        dither=0.0, energy_floor=0.0, sample_frequency=float(sample_rate))
    return feats.numpy()


def n_frames(n_samples: int, sample_rate: int = 16000) -> int:
    """Frames fbank gives for n_samples (Kaldi snip_edges: only whole windows)."""
    win, hop = int(sample_rate * FRAME_LENGTH_MS / 1000), int(sample_rate * FRAME_SHIFT_MS / 1000)
    return 0 if n_samples < win else 1 + (n_samples - win) // hop


def spec_augment(feats: np.ndarray, rng: np.random.Generator, freq_masks: int = 2, freq_width: int = 30,
                 time_masks: int = 10, time_width: int = 50, time_max_ratio: float = 0.1) -> np.ndarray:
    """A masked copy of one utterance's (T, F) features; draws only from `rng`."""
    out = np.array(feats, dtype=np.float32, copy=True)
    t, f = out.shape
    fill = float(out.mean()) if out.size else 0.0
    for _ in range(freq_masks):
        w = int(rng.integers(0, min(freq_width, f) + 1))
        f0 = int(rng.integers(0, f - w + 1))
        out[:, f0:f0 + w] = fill
    cap = min(time_width, int(time_max_ratio * t))  # each mask covers at most p of the frames
    for _ in range(time_masks):
        w = int(rng.integers(0, cap + 1)) if cap > 0 else 0
        t0 = int(rng.integers(0, t - w + 1))
        out[t0:t0 + w, :] = fill
    return out
