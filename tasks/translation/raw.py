"""Readers of the raw translation distributions, with the recipes' text extraction rules.

- IWSLT'14 `de-en.tgz` (2014-01 release): `train_tag_lines` applies prepare-iwslt14.sh's
  filters to `train.tags.de-en.{de,en}`: drop lines containing <url>, <talkid> or
  <keywords>, delete the <title>/</title>/<description>/</description> tags and keep their
  text. Other metadata lines (<speaker>, <reviewer ...>, <translator ...>) are kept, as the
  script keeps them.
- dev/test XML and newstest SGML: `seg_lines` keeps the lines containing '<seg id', removes
  `<seg id="N">` plus following spaces and spaces plus `</seg>` plus spaces, then maps the
  right single quote U+2019 to "'" (the scripts' sed chain).
- WMT corpora: plain text files, one sentence per line, read from the extracted tree
  (a `.gz` next to the expected name is read too, as for giga-fren).
Lines are split on "\\n" only (like Perl's readline; Python's splitlines would also split on
U+2028, U+0085, ...). Text must be valid UTF-8: a byte sequence that is not (a Latin-1 or
cp1252 file, a damaged download) raises naming the file, line and byte offset, instead of
becoming U+FFFD "words" in the dictionary. Every failure raises `RawDataError` naming the file
and what was expected.
"""
from __future__ import annotations

import gzip
import hashlib
import re
import tarfile
import zlib
from pathlib import Path
from typing import Iterator

IWSLT_URL = "https://wit3.fbk.eu/archive/2014-01/texts/de/en/de-en.tgz"
IWSLT_EVAL_SETS = ("TED.dev2010", "TEDX.dev2012", "TED.tst2010", "TED.tst2011", "TED.tst2012")
WMT_URLS = "http://statmt.org/wmt14/translation-task.html (and data.statmt.org/wmt17 for news-commentary-v12)"
_SEG_OPEN = re.compile(r'<seg id="[0-9]*">\s*')
_SEG_CLOSE = re.compile(r"\s*</seg>\s*")


class RawDataError(ValueError):
    """Raw data that is missing, truncated, or not in the expected layout."""


def split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _decode(data: bytes, where: str = "<bytes>", first_line: int = 1, base_offset: int = 0) -> str:
    """Strict UTF-8; RawDataError naming `where`, the line and the byte offset of the first
    invalid sequence (offsets count from `base_offset`, lines from `first_line`)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = first_line + data.count(b"\n", 0, e.start)
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1)
        bad = data[e.start:e.start + 4]
        raise RawDataError(f"{where}: invalid UTF-8 at line {line}, byte offset {base_offset + e.start} "
                           f"(byte {col + 1} of the line, bytes {bad!r}: {e.reason}); expected UTF-8 text. "
                           "Is the file in another encoding (Latin-1, cp1252)? Convert it, e.g. "
                           "`iconv -f latin1 -t utf-8`, or download it again if it is damaged") from None


# ------------------------------------------------------------------------------- IWSLT
def iwslt_members(src: str = "de", tgt: str = "en") -> list[str]:
    pair = f"{src}-{tgt}"
    names = [f"{pair}/train.tags.{pair}.{lang}" for lang in (src, tgt)]
    names += [f"{pair}/IWSLT14.{s}.{pair}.{lang}.xml" for s in IWSLT_EVAL_SETS for lang in (src, tgt)]
    return names


def read_iwslt_archive(path: Path, src: str = "de", tgt: str = "en") -> dict[str, str]:
    """The text of every member the recipe needs, keyed by member name."""
    expected = iwslt_members(src, tgt)
    if not path.is_file():
        raise RawDataError(f"{path}: IWSLT'14 archive not found; expected {path.name} of the 2014-01 "
                           f"release ({IWSLT_URL}) or one written by tasks.translation.make_tiny")
    found: dict[str, str] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                if member.name in expected:
                    found[member.name] = _decode(tar.extractfile(member).read(), f"{path}:{member.name}")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise RawDataError(f"{path}: cannot read the archive ({type(e).__name__}: {e}); expected a "
                           f"complete gzip'd tar such as {IWSLT_URL} -- it may be truncated, "
                           "download it again") from None
    missing = [m for m in expected if m not in found]
    if missing:
        raise RawDataError(f"{path}: not the IWSLT'14 {src}-{tgt} archive: members {missing[:3]}"
                           f"{' ...' if len(missing) > 3 else ''} are missing; expected {expected}")
    return found


def train_tag_lines(text: str) -> list[str]:
    """prepare-iwslt14.sh's grep -v / sed chain over a train.tags file."""
    out = []
    for line in split_lines(text):
        if "<url>" in line or "<talkid>" in line or "<keywords>" in line:
            continue
        for tag in ("<title>", "</title>", "<description>", "</description>"):
            line = line.replace(tag, "")
        out.append(line)
    return out


def seg_lines(text: str) -> list[str]:
    """grep '<seg id' | sed 's/<seg id="[0-9]*">\\s*//g' | sed 's/\\s*<\\/seg>\\s*//g' | sed "s/’/'/g"."""
    out = []
    for line in split_lines(text):
        if "<seg id" not in line:
            continue
        line = _SEG_CLOSE.sub("", _SEG_OPEN.sub("", line))
        out.append(line.replace("\u2019", "'"))
    return out


# --------------------------------------------------------------------------------- WMT
def input_path(path: Path, what: str) -> Path:
    """The file to read for `path`: itself, or its .gz (giga-fren ships gzip'd); else an error."""
    gz = path.with_name(path.name + ".gz")
    if path.is_file():
        return path
    if gz.is_file():
        return gz
    raise RawDataError(f"{path}: {what} not found (nor {gz.name}); expected this file of the extracted "
                       f"WMT'14 downloads ({WMT_URLS}), or a tree written by tasks.translation.make_tiny")


def iter_lines(path: Path) -> Iterator[str]:
    """Lines of a plain or gzip'd UTF-8 text file without their "\n", streamed (split on b"\n"
    only). Invalid UTF-8 raises RawDataError with the line number and byte offset (of the
    decompressed text, for a .gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    offset = 0
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                text = _decode(raw, str(path), number, offset)
                offset += len(raw)
                yield text[:-1] if text.endswith("\n") else text
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise RawDataError(f"{path}: cannot decompress ({e}); the file looks truncated") from None


def count_lines(path: Path) -> int:
    return sum(1 for _ in iter_lines(path))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_parallel(n_a: int, n_b: int, name_a: str, name_b: str) -> None:
    """Both sides of a parallel file must have the same number of lines."""
    if n_a != n_b:
        raise RawDataError(f"{name_a} has {n_a} lines but {name_b} has {n_b}; the two sides of "
                           "a parallel corpus must have the same number of lines (one sentence per "
                           "line, aligned) -- is one of them truncated or from another release?")
