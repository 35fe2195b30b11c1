"""Installable as a package (pip install -e .) with a lock of the whole dependency set."""
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from setuptools import find_packages

REPO = Path(__file__).resolve().parents[1]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(req.name)] = spec.version
    return pins


def test_pyproject_packages_every_code_folder():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    find = cfg["tool"]["setuptools"]["packages"]["find"]
    packaged = set(find_packages(where=str(REPO), include=find["include"]))
    code_dirs = {".".join(p.parent.relative_to(REPO).parts) for p in REPO.rglob("*.py")
                 if not any(part.startswith(".") or part in ("tests", "envs", "workflow") for part in
                            p.relative_to(REPO).parts)} - {""}
    assert {"models", "tasks", "tasks.engine", "tasks.translation", "studies", "aggregate", "bench",
            "common"} <= packaged
    assert code_dirs <= packaged, f"folders with Python code that `pip install -e .` would miss: {code_dirs - packaged}"
    assert cfg["project"]["dynamic"] == ["dependencies"]


def test_lock_pins_every_requirement_at_its_version():
    lock = _lock()
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in lock, f"constraints.txt lacks {req.name}; run `make lock`"
        assert req.specifier.contains(lock[name]), f"{req} vs constraints.txt {lock[name]}"
    assert (lock["torch"], lock["torchvision"], lock["torchaudio"]) == ("2.11.0", "0.26.0", "2.11.0")


def test_lock_is_the_closure_of_the_requirements_in_this_venv():
    out = subprocess.run([sys.executable, str(REPO / "envs" / "lock.py")], capture_output=True, text=True,
                         check=True).stdout
    fresh = {canonicalize_name(Requirement(line).name): str(Requirement(line).specifier)
             for line in out.splitlines() if line and not line.startswith("#")}
    assert fresh == {k: f"=={v}" for k, v in _lock().items()}, \
        "constraints.txt is stale against requirements.txt and the installed set; run `make lock`"


def test_makefile_installs_with_the_lock_and_the_package():
    make = (REPO / "Makefile").read_text()
    assert "-c constraints.txt -r requirements.txt" in make
    assert "-e ." in make
