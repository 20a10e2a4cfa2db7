"""The trainer's modules import one way: no cycles among them, nothing from the refinery's phases or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "refinedweb" / "trainer"
# Outside refinedweb.trainer, only the core and the token-manifest contract (DESIGN.md, "Layers import one way").
ALLOWED_OUTSIDE = ("refinedweb.config", "refinedweb.schema", "refinedweb.tokenize.manifest")
# trainer/cli.py's ``dispatch`` import is the CLI's own business (the main CLI registers these commands).
EXEMPT = {("cli", "refinedweb.cli")}


def _imports(path: Path) -> set[str]:
    """Every ``refinedweb...`` module a file imports, at any depth (lazy imports in functions count)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("refinedweb"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if node.module == "refinedweb.trainer"}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("refinedweb")}
    return out


def _graph() -> dict[str, set[str]]:
    return {p.stem: _imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}


def test_trainer_imports_only_the_core_and_the_manifest_from_outside():
    bad = [(name, m) for name, mods in _graph().items() for m in mods
           if not m.startswith("refinedweb.trainer") and not m.startswith(ALLOWED_OUTSIDE) and (name, m) not in EXEMPT]
    assert bad == []


def test_no_import_cycles_among_trainer_modules():
    graph = {name: {m.removeprefix("refinedweb.trainer.") for m in mods if m.startswith("refinedweb.trainer.")}
             for name, mods in _graph().items()}
    cycles, done = [], set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in done or node not in graph:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, stack + [node])
        done.add(node)

    for name in sorted(graph):
        visit(name, [])
    assert cycles == []
