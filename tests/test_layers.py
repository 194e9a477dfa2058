"""The floors of the house hold: a module imports only from its own floor or below, and no modules import each
other in a circle.

Floors, from the ground up: config and schemas, policies, graph, reports, streams, lineage (docs: CONTRIBUTING.md).
Every import counts, wherever it stands: at the top of a module, inside a function (a deferred import is still a
dependency) or under ``TYPE_CHECKING`` (so is a type).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOORS = {"config": 1, "schemas": 1, "policies": 2, "graph": 3, "reports": 4, "streams": 5, "lineage": 6}


def modules() -> dict[str, Path]:
    """Every module of the floors, by dotted name."""
    found = {"config": ROOT / "config.py"}
    for package in FLOORS:
        folder = ROOT / package
        if folder.is_dir():
            for path in folder.rglob("*.py"):
                parts = path.relative_to(ROOT).with_suffix("").parts
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """The project modules that ``name`` imports, with the line of each import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import module` imports the module; `from module import name` the module itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target, node.lineno


def graph() -> dict[str, dict[str, int]]:
    found = modules()
    return {name: dict(imported(name, path, set(found))) for name, path in found.items()}


def floor(module: str) -> int:
    return FLOORS[module.split(".")[0]]


def test_no_module_imports_from_a_higher_floor() -> None:
    upward = [
        f"{m} (floor {floor(m)}) imports {t} (floor {floor(t)}) at line {line}"
        for m, targets in graph().items()
        for t, line in targets.items()
        if floor(t) > floor(m)
    ]
    assert not upward, "\n".join(upward)


def test_no_modules_import_each_other_in_a_circle() -> None:
    edges = {m: set(targets) for m, targets in graph().items()}
    circles = _circles(edges)
    assert not circles, "\n".join("modules in a circle: " + ", ".join(c) for c in circles)


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_checks_see_an_import_that_runs_back_up_and_a_circle() -> None:
    """The checks themselves: a planted arrow up and a planted circle are found."""
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "streams.handler" in graph()["lineage.wiring"]  # an import the parser must see
