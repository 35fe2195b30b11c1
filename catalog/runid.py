"""Run identity: the one place that spells a run id and a run directory.

A run id is `{task}/{dataset}/{arch}/{scheme}/{variant}/seed{seed}`; its directory is
`{results}/{scale}/runs/{run id}`. `arch` spells size and depth (`<size>-<N>L` for one stack,
`<size>-<N>L-<M>L` for encoder-decoder); `scheme` is one name or `encoder+decoder`.
Everything that names runs (resolve, the workflow, aggregation, studies, figures) uses
`RunId`, `RUN_PATTERN` and `run_dir` from here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# The run-id path with Snakemake wildcards (the workflow's output paths use it as is).
RUN_PATTERN = "{task}/{dataset}/{arch}/{scheme}/{variant}/seed{seed}"
RUN_ID_RE = re.compile(r"^(?P<task>[a-z0-9_]+)/(?P<dataset>[a-z0-9_]+)/(?P<arch>[A-Za-z0-9_.-]+)/"
                       r"(?P<scheme>[a-z0-9_+]+)/(?P<variant>[A-Za-z0-9_.+-]+)/seed(?P<seed>\d+)$")
ARCH_RE = re.compile(r"^(?P<size>[a-z0-9_]+?)-(?P<depths>\d+L(?:-\d+L)*)$")
EXAMPLE = "translation/iwslt14_de_en/transformer_iwslt_de_en-6L-6L/post_ln/admin_iwslt/seed1"


class RunIdError(ValueError):
    """A run id, arch or scheme string that does not parse; the message says what was expected."""


@dataclass(frozen=True)
class RunId:
    task: str
    dataset: str
    arch: str
    scheme: str
    variant: str
    seed: int

    @classmethod
    def parse(cls, text: str) -> "RunId":
        m = RUN_ID_RE.match(str(text))
        if not m:
            raise RunIdError(f"malformed run id {text!r}; expected {RUN_PATTERN}, e.g. {EXAMPLE}")
        d = m.groupdict()
        return cls(**{**d, "seed": int(d["seed"])})

    @classmethod
    def from_dir(cls, path: str | Path) -> "RunId":
        """The run id of a run directory `.../runs/<run id>`."""
        parts = Path(path).parts
        if "runs" not in parts:
            raise RunIdError(f"{path}: not a run directory; expected .../runs/{RUN_PATTERN}")
        i = len(parts) - 1 - parts[::-1].index("runs")
        return cls.parse("/".join(parts[i + 1:]))

    def __str__(self) -> str:
        return RUN_PATTERN.format(**self.__dict__)

    @property
    def size(self) -> str:
        return parse_arch(self.arch)[0]

    @property
    def depth(self) -> str:
        """`transformer_wmt_en_de-18L-18L` -> `18L-18L`."""
        return self.arch.split("-", 1)[1]

    @property
    def schemes(self) -> tuple[str, ...]:
        return tuple(self.scheme.split("+"))

    def run_dir(self, results: str | Path, scale: str) -> Path:
        return Path(run_dir(str(results), scale, str(self)))


def run_dir(results: str, scale: str, run_id: str) -> str:
    return f"{results}/{scale}/runs/{run_id}"


def parse_arch(arch: str) -> tuple[str, tuple[int, ...]]:
    """`transformer_wmt_en_de-18L-18L` -> (size, (18, 18)); `vit_b16-12L` -> (size, (12,))."""
    m = ARCH_RE.match(arch)
    if not m:
        raise RunIdError(f"malformed arch {arch!r}; expected <size>-<N>L (one stack) or <size>-<N>L-<M>L "
                         "(encoder-decoder), e.g. transformer_wmt_en_de-18L-18L or vit_b16-12L")
    return m.group("size"), tuple(int(d[:-1]) for d in m.group("depths").split("-"))


def parse_scheme(scheme: str) -> tuple[str, str]:
    """`post_ln` -> (post_ln, post_ln); `post_ln+pre_ln` -> encoder post_ln, decoder pre_ln."""
    from models.scheme import SCHEMES

    parts = scheme.split("+")
    if len(parts) > 2:
        raise RunIdError(f"scheme {scheme!r}: expected one name or encoder+decoder")
    for name in parts:
        if name not in SCHEMES:
            raise RunIdError(f"unknown scheme {name!r} in run scheme {scheme!r}; expected one of {sorted(SCHEMES)}")
    return parts[0], parts[-1]
