"""Atomic file writes and cached YAML loading, shared by every package.

Writes go through a uniquely named temp file in the target's directory and `os.replace`:
a reader never sees a partial file, a failed write leaves the previous content in place,
and two writers never share a temp name.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Callable

import yaml


class YamlError(ValueError):
    """A YAML file that is missing or not a mapping; the message names the file."""


def umask_mode() -> int:
    """The mode a plain open() would give a new file under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | Path, write: Callable[[str], None], suffix: str = ".tmp",
                 before_replace: Callable[[str], None] | None = None) -> None:
    """`write(tmp)` fills a temp file beside `path`, which then replaces `path` (os.replace).

    The temp file is `.<name>.<random><suffix>` (mkstemp: unique across processes and threads);
    it gets the mode a plain open() would give (mkstemp makes 0600) and `before_replace(tmp)` runs
    just before the rename. If anything fails the temp
    file is removed and `path` keeps its previous content; a killed writer leaves the temp
    file behind (checkpoints sweep `.*.tmp` at run start).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, umask_mode())
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


class Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-4` as a float (YAML 1.1 wants a dot: `1.0e-4`)."""


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(path: str | Path) -> dict:
    """A YAML mapping (a fresh copy: callers may modify it; files are parsed once per process)."""
    return copy.deepcopy(_load_yaml(str(path)))


@functools.lru_cache(maxsize=None)
def _load_yaml(path: str) -> dict:
    if not Path(path).is_file():
        raise YamlError(f"{path}: file not found")
    try:
        data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=Loader)
    except yaml.YAMLError as e:
        raise YamlError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise YamlError(f"{path}: expected a YAML mapping, got {type(data).__name__}")
    return data


def deep_merge(base: dict, over: dict) -> dict:
    """A copy of `base` with `over` merged in; nested mappings merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def digest(obj) -> str:
    """16 hex digits of sha256 over `obj` as sorted JSON: the one hash of a config."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
