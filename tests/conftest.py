"""Start the slow end-to-end workflow tests first, so that under `pytest -n 2` one worker runs
them while the other works through the unit tests."""


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: 0 if item.get_closest_marker("workflow") else 1)


# ---------------------------------------------------------------- a copy of the tree, and what changed
import hashlib  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


class TreeCopy:
    """The repository's tracked and unignored files copied under `root`; `changed()` lists the
    files that differ from the copy as it was made (added ones included)."""

    def __init__(self, root: Path):
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.split()
        for f in files:
            if (REPO / f).is_file():
                (root / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / f, root / f)
        self.root, self.before = root, _digest(root)

    def changed(self) -> list[str]:
        after = _digest(self.root)
        return sorted(f for f in after if self.before.get(f) != after[f])

    def snakemake(self, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
        """snakemake run in the copy, with this interpreter's environment first on PATH."""
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        return subprocess.run([str(Path(sys.executable).parent / "snakemake"), *args], cwd=self.root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


@pytest.fixture
def tree_copy(tmp_path) -> TreeCopy:
    return TreeCopy(tmp_path / "repo")
