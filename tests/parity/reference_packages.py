"""The reference packages of tests/parity/, and what a missing one means.

Under `make parity` (the Makefile sets NORMBENCH_PARITY=1; any interpreter of .venv-parity counts
too) a missing reference package is an error and nothing in tests/parity/ may skip. Elsewhere
(`make test`, in the main venv, which has no fairseq) the tests that need one are skipped with a
reason that names `make parity`.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from pathlib import Path

import pytest

# import name -> where it comes from
PACKAGES = {
    "fairseq": "fairseq-fixed==0.12.3.1 (built from source by `make parity`)",
    "admin_torch": "admin-torch (requirements-parity.txt)",
    "timm": "timm (requirements.txt)",
}
PARITY = os.environ.get("NORMBENCH_PARITY") == "1" or Path(sys.prefix).name == ".venv-parity"


def missing() -> list[str]:
    return [name for name in PACKAGES if importlib.util.find_spec(name) is None]


def skip_reason(names) -> str:
    return f"parity tests need {', '.join(names)} (reference packages): run `make parity`"


def missing_message(names) -> str:
    lines = [f"  {name}: {PACKAGES[name]}" for name in names]
    return ("`make parity`: reference packages missing from this interpreter "
            f"({sys.prefix}):\n" + "\n".join(lines)
            + "\nRebuild the parity environment: rm -f .venv-parity/.parity.stamp && make parity")


def need(name: str):
    """Import a reference package: skip the module without it, except under `make parity`,
    where its ImportError fails the run."""
    if PARITY:
        with warnings.catch_warnings():  # as importorskip: fairseq's import-time torch.jit warnings
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    return pytest.importorskip(name, reason=skip_reason([name]))
