"""The packages import in one direction, and no import circle crosses a folder.

Layers, bottom to top: common < models < catalog < tasks < studies < experiments < aggregate <
bench. A module may import its own package or one below it, never one above; every import counts,
at the top of a module or inside a function. Within the tree, a circle of imports (a strongly
connected set of modules) must stay inside one folder. The graph is read from the source (ast),
so nothing is imported to build it; the workflow's .smk files are held to the aggregate layer.
"""
from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("common", "models", "catalog", "tasks", "studies", "experiments", "aggregate", "bench")
RANK = {name: i for i, name in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, is_package: bool) -> set[str]:
    """First-party modules a source imports (absolute names; relative imports resolved)."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out |= {f"{name}.{a.name}" for a in node.names}  # `from pkg import module`
    return {m for m in out if m.split(".")[0] in RANK}


@functools.lru_cache(maxsize=None)
def graph(root: Path = REPO) -> dict[str, set[str]]:
    files = [p for top in LAYERS for p in (root / top).rglob("*.py")]
    modules = {module_name(p): p for p in files}
    edges = {}
    for name, path in modules.items():
        found = imports_of(path.read_text(), name, path.name == "__init__.py")
        # keep names that are modules (`from pkg import function` names the package)
        edges[name] = {m if m in modules else m.rsplit(".", 1)[0] for m in found}
        edges[name] = {m for m in edges[name] if m in modules and m != name}
    return edges


def upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} imports {b}" for a, deps in edges.items() for b in deps
                  if RANK[b.split(".")[0]] > RANK[a.split(".")[0]])


def circles_across_folders(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected sets of modules (Tarjan) that span more than one folder."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def folder(m: str) -> str:
        path = REPO / Path(*m.split("."))
        return m if path.is_dir() else m.rsplit(".", 1)[0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len({folder(m) for m in scc}) > 1:
                out.append(sorted(scc))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_package_imports_one_above_it():
    assert not upward(graph()), "\n".join(upward(graph()))


def test_no_import_circle_crosses_a_folder():
    circles = circles_across_folders(graph())
    assert not circles, circles


def test_the_workflow_imports_no_layer_above_aggregate():
    for path in [REPO / "Snakefile", *(REPO / "workflow").rglob("*.smk")]:
        for m in re.finditer(r"^\s*(?:from|import)\s+([a-z_]+)", path.read_text(), re.M):
            assert RANK.get(m.group(1), 0) <= RANK["aggregate"], f"{path.relative_to(REPO)} imports {m.group(1)}"


@pytest.mark.parametrize("case, expect", [
    ({"common.a": {"aggregate.b"}, "aggregate.b": set()}, "upward"),
    ({"tasks.x.a": {"tasks.y.b"}, "tasks.y.b": {"tasks.x.a"}}, "circle"),
    ({"tasks.x.a": {"tasks.x.b"}, "tasks.x.b": {"tasks.x.a"}}, None),
])
def test_the_checks_catch_what_they_are_for(case, expect):
    """The test itself: an upward import and a circle across two folders are found; a circle
    inside one folder is allowed."""
    assert bool(upward(case)) == (expect == "upward")
    assert bool(circles_across_folders(case)) == (expect == "circle")


def test_the_real_graph_is_read():
    edges = graph()
    assert len(edges) > 100 and "catalog.config" in edges["tasks.resolve"]
    assert "experiments.claim" in edges["aggregate.claims"]


def test_relative_imports_are_resolved():
    assert imports_of("from .claim import Claim", "experiments.registry", False) >= {"experiments.claim"}
    assert imports_of("from . import words", "catalog", True) >= {"catalog.words"}
