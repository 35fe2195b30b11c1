"""Generate speech-like data in the real LibriSpeech layout (16 kHz FLAC + trans.txt).

    python -m tasks.asr.make_tiny --dataset librispeech --size tiny|small --out RAW [--format tree|tarballs]

An invented "alphabet": each of the 27 symbols (a-z and the apostrophe) is a distinct spectral
pattern -- a chord of five tones under a Hann envelope, one tone in each of five frequency
regions (4 log-spaced bands per region, 20 bands from 250 Hz to 7 kHz, a factor 1.19 apart). The
symbols' band choices form a code of minimum Hamming distance 3, so a letter stays identifiable
when SpecAugment masks the bands of two regions (real speech is redundant across frequency too).
Words of a small seeded lexicon are spoken letter by letter with short pauses (30..70 ms) between
words, short enough that the model's 7-frame front-end sees letters on both sides of a pause: a word
boundary is then "a pause between letters", unlike the longer silence before and after an utterance.
Speakers differ in pitch (all frequencies x0.95..1.05, less than half the band spacing, so
letters stay distinct), rate (letter duration 55..95 ms), loudness and noise (white noise at 18..30 dB SNR for "clean" speakers,
8..14 dB for "other"). Evaluation speakers are not training speakers, as in LibriSpeech.
A letter lasts about 7 frames of 10 ms, about 2.5 output frames after the model's stride 3,
so every transcript fits CTC. A tiny CTC model learns this in minutes on a CPU.

Layout: RAW/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac and
<speaker>-<chapter>.trans.txt (upper-case text), plus SPEAKERS.TXT; or with --format tarballs
RAW/<split>.tar.gz holding the same members. Deterministic given (size, seed, format).
"""
from __future__ import annotations

import argparse
import gzip
import io
import itertools
import string
import sys
import tarfile
from pathlib import Path

import numpy as np

from common.io import atomic_write_bytes

SR = 16000
SYMBOLS = string.ascii_lowercase + "'"
BANDS = np.geomspace(250.0, 7000.0, 20).reshape(5, 4)  # region x band


def _code(n: int = 27, regions: int = 5, q: int = 4, distance: int = 3) -> list[tuple[int, ...]]:
    """The first n words of the lexicographic greedy code of length `regions` over q symbols."""
    codes: list[tuple[int, ...]] = []
    for c in itertools.product(range(q), repeat=regions):
        if all(sum(a != b for a, b in zip(c, d)) >= distance for d in codes):
            codes.append(c)
    return codes[:n]


CODE = _code()
# split -> (speakers, chapters per speaker, utterances per chapter, noisy "other" speakers)
SIZES = {
    "tiny": {"train-clean-100": (6, 2, 24, False), "dev-clean": (2, 1, 15, False), "dev-other": (2, 1, 15, True),
             "test-clean": (2, 1, 15, False), "test-other": (2, 1, 15, True)},
    "small": {"train-clean-100": (40, 4, 60, False), "dev-clean": (8, 1, 40, False),
              "dev-other": (8, 1, 40, True), "test-clean": (8, 1, 40, False), "test-other": (8, 1, 40, True)},
}
LEXICON_SIZE = {"tiny": 40, "small": 400}


def make_lexicon(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct words of 2..7 symbols; about one in twelve has an apostrophe before its last letter."""
    words: set[str] = set()
    while len(words) < n:
        w = "".join(rng.choice(list(string.ascii_lowercase), size=int(rng.integers(2, 8))))
        if rng.random() < 0.08:
            w = w[:-1] + "'" + w[-1]
        words.add(w)
    return sorted(words)


def speaker(rng: np.random.Generator, other: bool) -> dict:
    return {"pitch": float(rng.uniform(0.95, 1.05)), "letter_s": float(rng.uniform(0.055, 0.095)),
            "gain": float(rng.uniform(0.2, 0.5)), "snr_db": float(rng.uniform(8, 14) if other else rng.uniform(18, 30))}


def speak(text: str, spk: dict, rng: np.random.Generator) -> np.ndarray:
    """float32 samples of an utterance (lower-case words separated by spaces)."""
    parts = [np.zeros(int(SR * rng.uniform(0.1, 0.2)), np.float32)]
    for w, word in enumerate(text.split()):
        if w:
            parts.append(np.zeros(int(SR * rng.uniform(0.03, 0.07)), np.float32))
        for ch in word:
            n = int(SR * spk["letter_s"] * rng.uniform(0.85, 1.15))
            t = np.arange(n) / SR
            code = CODE[SYMBOLS.index(ch)]
            tone = sum(np.sin(2 * np.pi * BANDS[r, b] * spk["pitch"] * t + rng.uniform(0, 2 * np.pi))
                       for r, b in enumerate(code))
            parts.append((np.hanning(n) * tone * 0.25).astype(np.float32))
    parts.append(np.zeros(int(SR * rng.uniform(0.1, 0.2)), np.float32))
    clean = np.concatenate(parts) * spk["gain"]
    power = float(np.mean(clean ** 2))
    noise = rng.standard_normal(len(clean)) * np.sqrt(power / 10 ** (spk["snr_db"] / 10))
    return np.clip(clean + noise, -0.99, 0.99).astype(np.float32)


def flac_bytes(audio: np.ndarray) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, audio, SR, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def generate(size: str, seed: int = 1):
    """Yield (split, relative member path under LibriSpeech/, bytes) for every file."""
    rng = np.random.default_rng(seed)
    lexicon = make_lexicon(rng, LEXICON_SIZE[size])
    zipf = 1.0 / np.arange(1, len(lexicon) + 1) ** 0.7
    zipf /= zipf.sum()
    spk_id, speakers_txt = 100, [";ID  |SEX| SUBSET           |MINUTES| NAME"]
    for split, (n_spk, n_ch, n_utt, other) in SIZES[size].items():
        for _ in range(n_spk):
            spk_id += int(rng.integers(1, 40))
            spk = speaker(rng, other)
            speakers_txt.append(f"{spk_id:<5}| {'MF'[spk_id % 2]} | {split:<16} | 1.00 | generated speaker {spk_id}")
            for c in range(n_ch):
                ch_id = spk_id * 10 + c + 1
                lines = []
                for u in range(n_utt):
                    words = rng.choice(lexicon, size=int(rng.integers(2, 7)), p=zipf)
                    text = " ".join(words)
                    utt = f"{spk_id}-{ch_id}-{u:04d}"
                    lines.append(f"{utt} {text.upper()}\n")
                    yield split, f"{split}/{spk_id}/{ch_id}/{utt}.flac", flac_bytes(speak(text, spk, rng))
                yield split, f"{split}/{spk_id}/{ch_id}/{spk_id}-{ch_id}.trans.txt", "".join(lines).encode()
    yield None, "SPEAKERS.TXT", ("\n".join(speakers_txt) + "\n").encode()


def write(out: str | Path, size: str, fmt: str = "tree", seed: int = 1) -> list[Path]:
    out = Path(out)
    if size not in SIZES:
        raise ValueError(f"--size {size!r}: expected one of {sorted(SIZES)}")
    if fmt not in ("tree", "tarballs"):
        raise ValueError(f"--format {fmt!r}: expected tree or tarballs")
    files = list(generate(size, seed))
    if fmt == "tree":
        for _, rel, data in files:
            atomic_write_bytes(out / "LibriSpeech" / rel, data)
        return [out / "LibriSpeech"]
    written = []
    for split in SIZES[size]:
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for s, rel, data in files:
                if s not in (split, None):
                    continue
                info = tarfile.TarInfo(f"LibriSpeech/{rel}")
                info.size, info.mtime, info.mode = len(data), 1_200_000_000, 0o644
                tar.addfile(info, io.BytesIO(data))
        atomic_write_bytes(out / f"{split}.tar.gz", buf.getvalue())
        written.append(out / f"{split}.tar.gz")
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", required=True, choices=("librispeech",))
    ap.add_argument("--size", default="tiny", choices=sorted(SIZES))
    ap.add_argument("--out", required=True)
    ap.add_argument("--format", default="tree", choices=("tree", "tarballs"))
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    for p in write(a.out, a.size, a.format, a.seed):
        print(p, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
