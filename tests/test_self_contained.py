"""The repository is self-contained: no file refers to documents outside it.

Facts from the project's working notes live in docs/methods.md and docs/recipes.md (with their
sources: papers and public repositories at commits); code, configs, docs and tracked outputs
must cite those, never the notes themselves (a user of the repository does not have them).
"""
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SELF = Path(__file__).resolve()

# Each pattern names something outside the repository. The folder name is spelled in two parts so
# that a plain `grep -rn` for the outside folder finds nothing in the repository, this file included.
OUT = "shared" + "/"
OUTSIDE = [
    (re.compile(r"\.\./shared|/work/shared|\b" + OUT + r"(?:papers|seeds|hooks)\b"), "the project's shared notes folder"),
    (re.compile(r"\b" + OUT), "a path under the outside notes folder"),
    (re.compile(r"\bSPEC\b|SPEC\.md"), "the working spec (cite docs/methods.md or docs/recipes.md)"),
    (re.compile(r"CLAIMS\.md"), "the claims notes (experiments/<id>/claims.py holds the claims)"),
    (re.compile(r"HYPERPARAMS(?:\.csv)?"), "the hyperparameter notes (cite docs/recipes.md)"),
    (re.compile(r"ECOSYSTEM(?:\.md)?"), "the ecosystem notes (cite the library's docs)"),
    (re.compile(r"\bDESIGN\.md"), "the design notes (docs/ARCHITECTURE.md is the repository's)"),
    (re.compile(r"\bseed 00\d\b|\b\d{3}_[0-9a-f]{16}\.txt"), "a seed document of the project's notes"),
]


def repository_files() -> list[Path]:
    """Tracked files plus new files git does not ignore (what a commit would hold)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, check=True).stdout.decode()
    return [REPO / p for p in out.split("\0") if p and (REPO / p).is_file()]


def outside_references(files, root: Path = REPO) -> list[str]:
    hits = []
    for path in files:
        if path.resolve() == SELF:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (images) carry no references
        for n, line in enumerate(text.splitlines(), 1):
            for pattern, what in OUTSIDE:
                m = pattern.search(line)
                if m:
                    hits.append(f"{path.relative_to(root)}:{n}: {m.group(0)!r} refers to {what}")
                    break
    return hits


def test_the_patterns_catch_outside_references(tmp_path):
    bad = tmp_path / "x.py"
    outside = "../" + OUT + "papers/CLAIMS.md"
    bad.write_text(f"# see SPEC 2.5\nok = 1\n# {outside}\nN_SPECIAL = 4\n")
    hits = outside_references([bad], tmp_path)
    assert len(hits) == 2 and ":1:" in hits[0] and ":3:" in hits[1]


def test_no_file_refers_to_documents_outside_the_repository():
    files = repository_files()
    assert len(files) > 50
    hits = outside_references(files)
    assert not hits, "references to files outside the repository:\n" + "\n".join(hits)


def test_docs_hold_the_facts_with_sources():
    methods = (REPO / "docs" / "methods.md").read_text()
    recipes = (REPO / "docs" / "recipes.md").read_text()
    for needle in ("power iteration", "σ(W_init)", "Theorem 3.1", "profiling", "sqrt((N + 1) / ln(N + 1) − 1)",
                   "fea4e359", "70f72b70", "arXiv:2303.06296"):
        assert needle in methods, needle
    assert "[U]" in recipes and "## 10." in recipes
