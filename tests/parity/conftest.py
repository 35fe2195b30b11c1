"""tests/parity/: our models against the reference implementations, with weights copied.

These tests run under `make parity`, in .venv-parity, which holds the reference packages
(fairseq-fixed 0.12.3.1, admin-torch; timm is a project requirement). In the main venv
(`make test`) fairseq is absent: every test here is then reported as skipped, with a reason that
names `make parity`, instead of failing. Under `make parity` (`reference_packages.PARITY`) a missing
reference package stops the run with the list of what is missing, and any skip in this folder
is reported as a failure.
"""
from pathlib import Path

import pytest

from reference_packages import PARITY, missing, missing_message, skip_reason

HERE = Path(__file__).parent
MISSING = missing()


def _here(path) -> bool:
    return HERE in Path(path).parents


def pytest_sessionstart(session):
    if PARITY and MISSING:
        pytest.exit(missing_message(MISSING), returncode=1)


def pytest_collection_modifyitems(config, items):
    if PARITY or not MISSING:
        return
    skip = pytest.mark.skip(reason=skip_reason(MISSING))
    for item in items:
        if _here(item.path):
            item.add_marker(skip)


def _skip_to_failure(report, where: str):
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"{where} skipped under `make parity`, where nothing may skip: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    if PARITY and report.skipped and _here(collector.path):
        _skip_to_failure(report, collector.nodeid)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if PARITY and report.skipped and not hasattr(report, "wasxfail") and _here(item.path):
        _skip_to_failure(report, item.nodeid)
    return report
