"""The experiment registry: one folder per paper table or figure, one entry here.

An experiment folder `experiments/<id>/` holds `experiment.yaml` (its grid, metrics, figure,
tolerance, scale notes), `reference.csv` (the paper's numbers; optional) and `claims.py`
(`CLAIMS`: the claims it decides). The workflow makes one target per entry; the aggregation,
the report and the tests iterate `experiments()`. Nothing outside an experiment's folder
spells its claim ids.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from catalog.config import REPO, CatalogError
from catalog.experiment import ExperimentSpec, load_spec

EXPERIMENTS: dict[str, str] = {  # in the order of the papers' claims
    "xiong_gradnorm": "experiments.xiong_gradnorm",
    "xiong_warmup": "experiments.xiong_warmup",
    "admin_table1": "experiments.admin_table1",
    "admin_output_change": "experiments.admin_output_change",
    "admin_table2": "experiments.admin_table2",
    "admin_relative_norms": "experiments.admin_relative_norms",
    "sigma_entropy": "experiments.sigma_entropy",
    "sigma_vit": "experiments.sigma_vit",
    "sigma_vit_entropy": "experiments.sigma_vit_entropy",
    "sigma_asr": "experiments.sigma_asr",
    "hessian_spectrum": "experiments.hessian_spectrum",
    "sigma_lm": "experiments.sigma_lm",
}


@dataclass(frozen=True)
class Experiment:
    spec: ExperimentSpec
    module: str  # the package of its folder

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def claims(self) -> tuple:
        """Its Claim records (imports its claims.py, which may import pandas)."""
        if importlib.util.find_spec(f"{self.module}.claims") is None:
            return ()  # an experiment that decides no claim (a table of our own)
        mod = importlib.import_module(f"{self.module}.claims")
        claims = tuple(getattr(mod, "CLAIMS", ()))
        from experiments.claim import Claim

        for c in claims:
            if not isinstance(c, Claim):
                raise CatalogError(f"{self.module}.claims: CLAIMS holds {c!r}; expected Claim records")
        return claims


def ids() -> list[str]:
    return sorted(EXPERIMENTS)


@functools.lru_cache(maxsize=None)
def experiment(exp_id: str) -> Experiment:
    if exp_id not in EXPERIMENTS:
        raise CatalogError(f"unknown experiment {exp_id!r}; expected one of {ids()} (experiments/registry.py)")
    module = EXPERIMENTS[exp_id]
    return Experiment(load_spec(REPO / Path(*module.split("."))), module)


def experiments() -> dict[str, Experiment]:
    return {i: experiment(i) for i in ids()}


def spec(exp_id: str) -> ExperimentSpec:
    return experiment(exp_id).spec


def all_claims() -> list:
    """Every claim of every experiment, in registry order; an id claimed twice is an error."""
    out, seen = [], {}
    for e in map(experiment, EXPERIMENTS):
        for c in e.claims:
            if c.id in seen:
                raise CatalogError(f"claim {c.id!r} is declared by experiments {seen[c.id]!r} and {e.id!r}")
            seen[c.id] = e.id
            out.append((e, c))
    return out


def claim_of(claim_id: str):
    """(Experiment, Claim) of a claim id."""
    for exp, claim in all_claims():
        if claim.id == claim_id:
            return exp, claim
    raise CatalogError(f"unknown claim {claim_id!r}; expected one of {[c.id for _, c in all_claims()]}")
