"""The trainer never sees text: outside its package it imports only schema, config, the core and the token manifest.

Cycles and upward imports are tests/test_layers.py's; this is the trainer's narrower contract (DESIGN.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "refinedweb" / "trainer"
# Outside refinedweb.trainer, only the core and the token-manifest contract (DESIGN.md, "Layers import one way").
ALLOWED_OUTSIDE = ("refinedweb.config", "refinedweb.schema", "refinedweb.core", "refinedweb.tokenize.manifest")


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
           if not m.startswith("refinedweb.trainer") and not m.startswith(ALLOWED_OUTSIDE)]
    assert bad == []
