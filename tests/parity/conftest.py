"""tests/parity/: our models against the reference implementations, with weights copied.

These tests run under `make parity`, in .venv-parity, which holds the reference packages
(fairseq-fixed 0.12.3.1, admin-torch; timm is a project requirement). In the main venv
(`make test`) fairseq is absent: every test here is then reported as skipped, with the reason,
instead of failing (modules also import their reference package with pytest.importorskip).
"""
import importlib.util
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REFERENCES = ("fairseq", "admin_torch", "timm")
MISSING = [name for name in REFERENCES if importlib.util.find_spec(name) is None]


def pytest_collection_modifyitems(config, items):
    if not MISSING:
        return
    skip = pytest.mark.skip(reason=f"parity tests need {', '.join(MISSING)}: run `make parity`")
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(skip)
