"""The package's layers and its one direction of imports.

Foundation → lake → sources → record → replay → reports → upkeep → simulate → api → cli: a module
may import modules of its own layer or of a layer before it, never after, and no module is part of
an import cycle. Every import counts: at module level, inside functions (deferred) and under
`TYPE_CHECKING`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import evlog

PACKAGE = Path(evlog.__file__).parent

# A module's layer is the first entry whose prefix its dotted name starts with.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "evlog._errors",
        "evlog._faults",
        "evlog._progress",
        "evlog._time",
        "evlog._version",
        "evlog._window",
    ),
    ("evlog._lake",),
    ("evlog._sources",),
    ("evlog._record",),
    ("evlog._replay",),
    ("evlog._reports",),
    ("evlog._upkeep",),
    ("evlog._simulate",),
    ("evlog._api",),
    ("evlog._cli", "evlog.__main__"),
    ("evlog",),  # the package itself: the public surface, re-exported
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of `known` that the module `name` (whose code is `source`) imports, anywhere."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    resolved = set()
    for target in found:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def layer(name: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{name} belongs to no layer: add it to LAYERS")


def graph() -> dict[str, set[str]]:
    found = modules()
    return {
        name: imports(path.read_text(), name, path.name == "__init__.py", set(found))
        for name, path in found.items()
    }


def test_every_module_has_a_layer() -> None:
    for name in modules():
        layer(name)


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
        for name, targets in graph().items()
        for target in sorted(targets)
        if layer(target) > layer(name)
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycle() -> None:
    edges = {name: targets - {"evlog"} for name, targets in graph().items() if name != "evlog"}
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(edges.get(name, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(cycles)


def test_deferred_relative_and_type_checking_imports_count() -> None:
    # The rules are only as good as the parser: every kind of import must be seen.
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from evlog._api import EvlogLake\n"
        "def f():\n    from ..cli_part import main\n"
        "from . import sibling\n"
    )
    known = {"evlog._api", "evlog._x.cli_part", "evlog._x._y.sibling"}
    assert imports(source, "evlog._x._y.m", False, known) == known
