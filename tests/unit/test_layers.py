"""The layers of docs/architecture.md: pipelines → assets → (connectors, costlake), no arrow back,
no cycle between the domain's modules, and no Dagster below assets/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO_ROOT

LAYERS = ("costlake", "connectors", "assets", "pipelines", "demo")
# What each layer may not import (besides itself, everything else of the project is allowed).
FORBIDDEN = {
    "costlake": {"dagster", "connectors", "assets", "pipelines", "demo"},
    "connectors": {"dagster", "assets", "pipelines", "demo"},
    "demo": {"dagster", "assets", "pipelines"},
    "assets": {"pipelines", "demo"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for layer in LAYERS:
        for path in sorted((REPO_ROOT / layer).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_points_against_the_layers(module: str) -> None:
    layer = module.split(".")[0]
    bad = sorted(
        name for name in _imports(MODULES[module]) if name.split(".")[0] in FORBIDDEN.get(layer, ())
    )
    assert not bad, f"{module} imports {bad}"


def test_the_domain_modules_import_no_cycle() -> None:
    graph = {
        module: {name for name in _imports(path) if name in MODULES and name != module}
        for module, path in MODULES.items()
        if module.startswith(("costlake", "connectors"))
    }
    done: set[str] = set()

    def visit(module: str, trail: tuple[str, ...]) -> None:
        assert module not in trail, "import cycle: " + " → ".join((*trail, module))
        if module in done:
            return
        for name in sorted(graph.get(module, ())):
            # A package's __init__ is loaded before its modules: not an edge back.
            if not module.startswith(name + "."):
                visit(name, (*trail, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())
