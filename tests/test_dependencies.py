"""Every third-party module refinedweb/ imports comes from a runtime dependency in pyproject.toml (bench's stay in its extra)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _optional(tree: ast.AST) -> set[int]:
    """ids of the imports inside a ``try`` that catches ImportError (optional: used where installed)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any("ImportError" in ast.unparse(h.type or ast.Name("")) for h in node.handlers):
            ids |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return ids


def _imported_modules() -> dict[str, str]:
    """Top-level module -> a file importing it, over every import in the package (deferred ones included)."""
    found: dict[str, str] = {}
    for path in (ROOT / "refinedweb").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        optional = _optional(tree)
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_the_package_imports_only_its_runtime_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_norm(re.split(r"[<>=!\[; ]", d, maxsplit=1)[0]) for d in project["dependencies"]}
    dists = packages_distributions()
    wrong = {}
    for module, where in _imported_modules().items():
        if module == "refinedweb" or module in sys.stdlib_module_names:
            continue
        owners = {_norm(d) for d in dists.get(module, [])}
        if not owners & runtime:
            wrong[module] = (where, sorted(owners))
    assert not wrong, f"imported but not a runtime dependency: {wrong}"
    assert "datasketch" not in runtime  # a bench baseline (bench/minhash.py), in the bench extra
