"""docs/architecture.md's import rules hold, and its package map matches the tree.

A small AST walk (no import-linter: the rules live in the doc's tables, which this test reads, so
the doc cannot drift from the code). Every `import` counts, including ones inside functions and
under TYPE_CHECKING: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
SOURCES = {"carpages_shared": "shared", "carpages_api": "services/api",
           "carpages_cdc": "services/cdc_worker", "carpages_reco": "services/reco",
           "carpages_local": "deploy/local"}
API = ROOT / SOURCES["carpages_api"] / "carpages_api"


def modules() -> dict[str, Path]:
    """Every product module by dotted name."""
    found = {}
    for package, root in SOURCES.items():
        for path in (ROOT / root / package).rglob("*.py"):
            parts = path.relative_to(ROOT / root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = modules()


def imports(path: Path) -> Iterator[str]:
    """The product modules `path` imports (a `from package import module` names the module)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES
                       else node.module for alias in node.names]
        else:
            continue
        yield from (t for t in targets if t.split(".")[0] in SOURCES)


GRAPH = {name: set(imports(path)) - {name} for name, path in MODULES.items()}


def table(heading: str) -> dict[str, set[str]]:
    """`| name | a, b |` rows of the first table after the line starting with `heading`."""
    text = DOC.read_text()
    after = text[text.index(heading):]
    rows: dict[str, set[str]] = {}
    for line in after.splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = re.findall(r"`([^`]+)`", cells[0])
        if names:
            rows[names[0]] = set(re.findall(r"`([^`]+)`", cells[1]))
    assert rows, heading
    return rows


def api_unit(module: str) -> str:
    """`carpages_api.listing.reader` -> `listing`; `carpages_api.app` -> `app`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "carpages_api"


def test_distributions_import_only_what_the_doc_allows() -> None:
    allowed = table("Between distributions")
    assert set(allowed) == set(SOURCES)
    bad = sorted((a, b) for a, targets in GRAPH.items() for b in targets
                 if b.split(".")[0] not in allowed[a.split(".")[0]] | {a.split(".")[0]})
    assert not bad


def test_api_units_import_only_what_the_doc_allows() -> None:
    allowed = table("Inside `carpages_api`")
    bad = []
    for module, targets in GRAPH.items():
        if not module.startswith("carpages_api."):
            continue
        unit = api_unit(module)
        assert unit in allowed, f"{unit} ({module}) is missing from docs/architecture.md"
        for target in targets:
            other = api_unit(target) if target.startswith("carpages_api") else None
            if other is not None and other != unit and other not in allowed[unit]:
                bad.append((module, target))
    assert not bad


def test_the_api_top_level_holds_only_the_named_modules() -> None:
    top = {p.stem for p in API.glob("*.py")} - {"__init__"}
    assert top == {"app", "settings", "errors", "metrics", "bootstrap", "__main__"}
    packages = {p.parent.name for p in API.glob("*/__init__.py")}
    units = set(table("Inside `carpages_api`")) - top
    assert packages == units
    for package in packages:  # each says what it owns
        assert ast.get_docstring(ast.parse((API / package / "__init__.py").read_text()))
        assert f"`carpages_api.{package}`" in DOC.read_text()


def test_there_is_no_import_cycle() -> None:
    # Tarjan's strongly connected components over module imports.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH.get(node, ()):
            if nxt not in GRAPH:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert not cycles


def test_no_module_is_much_over_300_lines() -> None:
    long = {name: n for name, path in MODULES.items()
            if name.startswith(("carpages_api", "carpages_shared"))
            and (n := len(path.read_text().splitlines())) > 310}
    assert not long
