"""Reading LibriSpeech as OpenSLR publishes it (https://www.openslr.org/12).

Two layouts, both under the raw path given to prepare:
- the tarballs `<split>.tar.gz` (e.g. train-clean-100.tar.gz), whose members are
  `LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac` and
  `LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`;
- the extracted tree `LibriSpeech/<split>/...` (or the raw path is `LibriSpeech/` itself).
A split found as a directory is read from the tree, else from its tarball.

A transcript line is `<speaker>-<chapter>-<utt> TEXT`. Everything is checked and a bad
input stops with a `LibriSpeechError` naming the file: a line whose id is not of its file's
speaker and chapter, a transcript id without audio, audio without a transcript line, a
duplicate id, a character outside the letter vocabulary, a FLAC that does not decode or
is shorter than its header says (truncated), a sample rate other than 16 kHz, more than
one channel, a missing split. FLAC is decoded with soundfile (libsndfile): torchaudio 2.11
only decodes through torchcodec/FFmpeg.
"""
from __future__ import annotations

import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from tasks.asr import vocab

SPLITS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other",
          "test-clean", "test-other")
EVAL_SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other")
SAMPLE_RATE = 16000
PUBLISHED = "https://www.openslr.org/12"
_FLAC = re.compile(r"^(\d+)-(\d+)-(\d+)\.flac$")
_TRANS = re.compile(r"^(\d+)-(\d+)\.trans\.txt$")


class LibriSpeechError(ValueError):
    """Raw LibriSpeech data that is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class AudioItem:
    """One FLAC file: its utterance id, where it came from (for messages) and its bytes or path."""
    utt_id: str
    where: str
    data: bytes | None = None  # from a tarball
    path: str | None = None  # from the tree


def split_source(raw: str | Path, split: str) -> tuple[str, Path]:
    """("tree", dir) or ("tar", archive) of `split` under `raw`; LibriSpeechError when neither exists."""
    raw = Path(raw)
    for d in (raw / "LibriSpeech" / split, raw / split if raw.name == "LibriSpeech" else None):
        if d is not None and d.is_dir():
            return "tree", d
    for t in (raw / f"{split}.tar.gz", raw.parent / f"{split}.tar.gz" if raw.name == "LibriSpeech" else None):
        if t is not None and t.is_file():
            return "tar", t
    raise LibriSpeechError(
        f"{raw}: LibriSpeech split {split!r} not found; expected the tarball {raw}/{split}.tar.gz or the "
        f"extracted tree {raw}/LibriSpeech/{split}/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac with "
        f"<speaker>-<chapter>.trans.txt (published at {PUBLISHED}; config key datasets.librispeech: the "
        "directory holding the tarballs, or the LibriSpeech/ directory itself)")


def parse_transcript(text: str, where: str, speaker: str, chapter: str) -> dict[str, str]:
    """utt id -> transcript of one `<speaker>-<chapter>.trans.txt`; every line checked."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        utt, _, words = line.strip().partition(" ")
        parts = utt.split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise LibriSpeechError(f"{where}:{n}: expected '<speaker>-<chapter>-<utt> TEXT', got {line!r}")
        if (parts[0], parts[1]) != (speaker, chapter):
            raise LibriSpeechError(f"{where}:{n}: utterance {utt} does not belong to this file "
                                   f"(speaker {speaker}, chapter {chapter})")
        if utt in out:
            raise LibriSpeechError(f"{where}:{n}: utterance {utt} is listed twice")
        try:
            vocab.encode(words)
        except ValueError as e:
            raise LibriSpeechError(f"{where}:{n}: {e}") from None
        out[utt] = vocab.normalize(words).upper()
    return out


def _check_path(rel: list[str], where: str, split: str) -> tuple[str, str, str] | None:
    """(kind, speaker, chapter) of a member path relative to the split dir, None if not data."""
    name = rel[-1]
    m_audio, m_trans = _FLAC.match(name), _TRANS.match(name)
    if not (m_audio or m_trans):
        return None
    m = m_audio or m_trans
    if len(rel) != 3 or rel[0] != m.group(1) or rel[1] != m.group(2):
        raise LibriSpeechError(f"{where}: expected {split}/<speaker>/<chapter>/{name} with speaker "
                               f"{m.group(1)} and chapter {m.group(2)}, found {split}/{'/'.join(rel)}")
    return ("audio" if m_audio else "trans"), m.group(1), m.group(2)


def iter_split(raw: str | Path, split: str, transcripts: dict[str, str]) -> Iterator[AudioItem]:
    """The FLAC files of `split` in storage order; transcripts are collected into `transcripts`
    (utt id -> text) as they are met. Call `check_pairs` afterwards."""
    kind, src = split_source(raw, split)
    if kind == "tree":
        yield from _iter_tree(src, split, transcripts)
    else:
        yield from _iter_tar(src, split, transcripts)


def _iter_tree(root: Path, split: str, transcripts: dict[str, str]) -> Iterator[AudioItem]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for p in files:
        rel = list(p.relative_to(root).parts)
        got = _check_path(rel, str(p), split)
        if got is None:
            continue
        kind, spk, ch = got
        if kind == "trans":
            _add_transcripts(transcripts, parse_transcript(p.read_text(encoding="utf-8"), str(p), spk, ch), str(p))
        else:
            yield AudioItem(p.name[:-5], str(p), path=str(p))


def _iter_tar(archive: Path, split: str, transcripts: dict[str, str]) -> Iterator[AudioItem]:
    prefix = ["LibriSpeech", split]
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                parts = member.name.split("/")
                if not member.isfile() or parts[:2] != prefix:
                    continue
                where = f"{archive}:{member.name}"
                got = _check_path(parts[2:], where, split)
                if got is None:
                    continue
                data = tar.extractfile(member).read()
                kind, spk, ch = got
                if kind == "trans":
                    _add_transcripts(transcripts, parse_transcript(data.decode("utf-8"), where, spk, ch), where)
                else:
                    yield AudioItem(parts[-1][:-5], where, data=data)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise LibriSpeechError(f"{archive}: cannot read the tarball ({e}); it is truncated or not a gzip'd tar; "
                               f"download it again from {PUBLISHED}") from None


def _add_transcripts(into: dict[str, str], new: dict[str, str], where: str) -> None:
    dup = sorted(set(into) & set(new))
    if dup:
        raise LibriSpeechError(f"{where}: utterance {dup[0]} already appears in another transcript file")
    into.update(new)


def check_pairs(split: str, audio_ids: list[str], transcripts: dict[str, str], raw) -> None:
    """Every transcript id has audio and every audio file a transcript line, and the split is not empty."""
    audio = set(audio_ids)
    if len(audio) != len(audio_ids):
        raise LibriSpeechError(f"{raw}: split {split} holds an audio file twice")
    if not audio and not transcripts:
        raise LibriSpeechError(f"{raw}: split {split} holds no .flac files and no .trans.txt files")
    no_audio = sorted(set(transcripts) - audio)
    if no_audio:
        raise LibriSpeechError(f"{raw}: split {split}: transcript id {no_audio[0]} has no audio file "
                               f"{no_audio[0]}.flac ({len(no_audio)} such ids); the split is incomplete")
    no_text = sorted(audio - set(transcripts))
    if no_text:
        raise LibriSpeechError(f"{raw}: split {split}: audio {no_text[0]}.flac has no line in its "
                               f"<speaker>-<chapter>.trans.txt ({len(no_text)} such files)")


def read_flac(item: AudioItem) -> np.ndarray:
    """float32 samples in [-1, 1) of a mono 16 kHz FLAC; LibriSpeechError naming the file otherwise."""
    import soundfile as sf

    src = io.BytesIO(item.data) if item.data is not None else item.path
    try:
        with sf.SoundFile(src) as f:
            rate, channels, frames = f.samplerate, f.channels, f.frames
            if rate != SAMPLE_RATE:
                raise LibriSpeechError(f"{item.where}: sample rate {rate} Hz; LibriSpeech is {SAMPLE_RATE} Hz "
                                       "and the features assume it (resample the file)")
            if channels != 1:
                raise LibriSpeechError(f"{item.where}: {channels} channels; expected mono")
            audio = f.read(dtype="float32")
    except LibriSpeechError:
        raise
    except Exception as e:  # libsndfile reports corrupt and truncated streams as RuntimeError subclasses
        raise LibriSpeechError(f"{item.where}: not a readable FLAC file ({e}); it is truncated or corrupt") from None
    if len(audio) != frames or frames == 0:
        raise LibriSpeechError(f"{item.where}: decoded {len(audio)} samples but the FLAC header says {frames}; "
                               "the file is truncated")
    return audio
