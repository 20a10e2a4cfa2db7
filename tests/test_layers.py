"""Layers import one way (DESIGN.md): a core over schema and config, stages above it, phases, then the CLI.

Every import in the package is walked, those inside functions included (only ``if TYPE_CHECKING:``
blocks are skipped), so a deferred import cannot hide a cycle. The test fails on an import of a
higher layer, on a cycle between modules, and on a cycle between subpackages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "refinedweb"

# (layer, module prefixes); a module takes the layer of its longest matching prefix.
LAYERS = {
    "refinedweb": 0,
    "refinedweb.schema": 0,
    "refinedweb.config": 0,
    "refinedweb.core": 1,  # stage contract, executor, stats, histograms, output, I/O, inputs, Ray start
    "refinedweb.filters": 2,  # stages: every filter, the language screen ...
    "refinedweb.pipeline": 2,  # ... reading, extraction and the list of stages
    "refinedweb.pipeline.config": 3,  # phases: the run's config composes every component's
    "refinedweb.pipeline.runner": 3,
    "refinedweb.dedup": 3,
    "refinedweb.tokenize": 3,
    "refinedweb.trainer": 3,
    "refinedweb.report": 3,
    "refinedweb.ablate": 3,
    "refinedweb.plan": 3,  # a snapshot's costs from measured per-unit costs
    "refinedweb.cli": 4,  # the command line
    "refinedweb.__main__": 4,
    "refinedweb.ablate_cli": 4,
    "refinedweb.tokenize.cli": 4,
    "refinedweb.trainer.cli": 4,
}
NAMES = {0: "schema/config", 1: "core", 2: "stages", 3: "phases", 4: "cli"}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def package(module: str) -> str:
    """The subpackage (``refinedweb.dedup``) or top-level module (``refinedweb.cli``) holding ``module``."""
    return ".".join(module.split(".")[:2])


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(name: str) -> str | None:
    """The project module an imported name refers to (a submodule where one exists), else None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("refinedweb"):
                    found.add(_resolve(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".") if is_pkg else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            if base.startswith("refinedweb"):
                for alias in node.names:
                    found.add(_resolve(f"{base}.{alias.name}") or _resolve(base))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(None)
    found.discard(module)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := dfs(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := dfs(node)):
            return found
    return None


def test_the_walk_sees_function_level_imports():
    assert "refinedweb.report.html" in GRAPH["refinedweb.cli"]  # imported inside _cmd_run
    assert "refinedweb.core.io" in GRAPH["refinedweb.core.inputs"]


def test_no_module_imports_a_higher_layer():
    upward = [f"{m} ({NAMES[layer(m)]}) imports {d} ({NAMES[layer(d)]})"
              for m, deps in GRAPH.items() for d in deps if layer(d) > layer(m)]
    assert not upward, "\n".join(sorted(upward))


def test_the_core_imports_only_schema_and_config():
    bad = [f"{m} imports {d}" for m, deps in GRAPH.items() if m.startswith("refinedweb.core")
           for d in deps if not (d.startswith("refinedweb.core") or d in ("refinedweb.schema", "refinedweb.config"))]
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_modules():
    cycle = _cycle(GRAPH)
    assert cycle is None, " -> ".join(cycle)


def test_no_import_cycle_between_subpackages():
    graph: dict[str, set[str]] = {}
    for m, deps in GRAPH.items():
        graph.setdefault(package(m), set()).update(package(d) for d in deps if package(d) != package(m))
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("graph, expect", [({"a": {"b"}, "b": {"a"}}, True), ({"a": {"b"}, "b": set()}, False)])
def test_the_cycle_finder_finds_cycles(graph, expect):
    assert (_cycle(graph) is not None) == expect
