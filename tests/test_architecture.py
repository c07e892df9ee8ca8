"""The package's shape is part of its design: layers, no cycles, the domain never imports flows.

Read from the source (every ``import`` and ``from … import``, including those inside
functions), so a lazy import cannot hide an edge. ``docs/architecture.md`` explains the
layers; this test keeps the code and that page telling the same story.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "aftercare"

# Lowest first. A module may import modules of its own layer or of a lower one, never higher.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset(
        {
            "aftercare",
            "aftercare.errors",
            "aftercare.events",
            "aftercare.order_state",
            "aftercare.catalogue",
            "aftercare.catalogue_changes",
            "aftercare.logging_setup",
            "aftercare.privacy",
            "aftercare.validation_errors",
        }
    ),
    frozenset({"aftercare.enrichment"}),
    frozenset({"aftercare.settings"}),
    frozenset(
        {
            "aftercare.storage",
            "aftercare.stores",
            "aftercare.rendering",
            "aftercare.transports",
            "aftercare.opt_out",
            "aftercare.action_links",
            "aftercare.catalogue_import",
        }
    ),
    frozenset({"aftercare.emails"}),
    frozenset(
        {"aftercare.drain", "aftercare.receiver", "aftercare.sample_store", "aftercare.learning"}
    ),
    frozenset({"aftercare.authoring"}),
    frozenset({"aftercare.command_line"}),
    frozenset(
        {
            "aftercare.cli",
            "aftercare.faq_commands",
            "aftercare.cross_sell_commands",
            "aftercare.catalogue_commands",
            "aftercare.report_commands",
        }
    ),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.parts  # Alembic scripts run inside Alembic, not the app
    }


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules ``path`` imports by name: ``from a.b import c`` is ``a.b.c`` when that
    is a module, else ``a.b``."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                found.add(candidate if candidate in known else module)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {
        name: {m for m in _imports(path, name, known) if m in known and m != name}
        for name, path in modules.items()
    }


def _layer_of(module: str) -> int:
    best, depth = -1, -1
    for index, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = index, len(prefix)
    return best


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in _modules() if _layer_of(m) < 0)
    assert unplaced == [], f"add these to LAYERS and docs/architecture.md: {unplaced}"


def test_no_module_imports_a_higher_layer() -> None:
    upward = sorted(
        f"{module} (layer {_layer_of(module)}) imports {target} (layer {_layer_of(target)})"
        for module, targets in _graph().items()
        for target in targets
        if _layer_of(target) > _layer_of(module)
    )
    assert upward == []


def test_the_import_graph_has_no_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_domain_never_imports_the_flows() -> None:
    offenders = sorted(
        f"{_module_name(path)} imports {target}"
        for path in PACKAGE.rglob("*.py")
        for target in _imports(path, _module_name(path), set())
        if target == "flows" or target.startswith(("flows.", "prefect"))
    )
    assert offenders == []


@pytest.mark.parametrize("package", sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py")))
def test_each_subpackage_says_why_it_exists(package: str) -> None:
    init = PACKAGE / package / "__init__.py"
    docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert docstring and len(docstring.split()) >= 8, f"{init} needs a docstring saying why"


def test_the_architecture_page_names_every_subpackage() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [
        p.parent.name for p in PACKAGE.glob("*/__init__.py") if f"{p.parent.name}/" not in page
    ]
    assert missing == []
