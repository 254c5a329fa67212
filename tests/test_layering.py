"""The architecture stays as README draws it: rooms that import only downwards, read from the source.

executor.cli  ->  executor.rollout  ->  executor.run / executor.azure / executor.emulator /
                                        executor.report / executor.simulation  ->  planner
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("planner", "executor")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def _imports(path: Path) -> Iterator[str]:
    """Every module named by an import statement, top-level or inside a function."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


MODULES = dict(_modules())


def _imported_by(name: str) -> set[str]:
    """Our modules (and azure.*) imported by module ``name``."""
    found = set()
    for target in _imports(MODULES[name]):
        # `from executor import rollout` names executor.rollout, not the package
        if target.startswith("azure") or (target in MODULES and target not in PACKAGES):
            found.add(target)
    return found


def _room(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "executor" and len(parts) > 1 else parts[0]


# which rooms each room may import (besides itself and the planner, which everyone may use)
ALLOWED = {
    "planner": set(),
    "executor": set(),
    "executor.run": set(),
    "executor.azure": {"executor.run"},
    "executor.emulator": {"executor.run"},
    "executor.report": {"executor.run"},
    "executor.simulation": {"executor.run", "executor.azure", "executor.emulator"},
    "executor.notify": {"executor.run", "executor.azure"},
    "executor.rollout": {
        "executor.run",
        "executor.simulation",
        "executor.emulator",
        "executor.notify",
        "executor.azure",
    },
    "executor.cli": {
        "executor.run",
        "executor.azure",
        "executor.emulator",
        "executor.report",
        "executor.simulation",
        "executor.rollout",
        "executor.notify",
    },
}


def test_every_module_belongs_to_a_known_room() -> None:
    """A new top-level executor module is a decision: add it to the layering rules first."""
    assert {_room(name) for name in MODULES} <= set(ALLOWED)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_import_only_the_rooms_below_them(name: str) -> None:
    """Each module imports only its own room, the planner and the rooms its room may use."""
    room = _room(name)
    allowed = ALLOWED[room] | {room, "planner"}
    wrong = sorted(
        target
        for target in _imported_by(name)
        if not target.startswith("azure") and _room(target) not in allowed
    )
    assert not wrong, f"{name} ({room}) may not import {wrong}"


def test_the_planner_imports_nothing_from_the_executor() -> None:
    """planner/ is pure: spec + fleet + start -> plan, with no executor code under it."""
    offenders = {
        name: sorted(t for t in _imported_by(name) if t.startswith("executor"))
        for name in MODULES
        if name.startswith("planner")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_only_the_azure_room_imports_the_azure_sdk() -> None:
    """One seam to Azure (DESIGN §3): executor/azure/ is the only importer of azure.*."""
    offenders = sorted(
        name
        for name in MODULES
        if not name.startswith("executor.azure") and any(t.startswith("azure") for t in _imported_by(name))
    )
    assert offenders == []


def test_there_is_no_import_cycle() -> None:
    """Modules import each other in one direction only (package __init__ files excluded)."""
    graph = nx.DiGraph()
    for name in MODULES:
        for target in _imported_by(name):
            if target in MODULES and MODULES[target].name != "__init__.py" and target != name:
                graph.add_edge(name, target)
    cycles = list(nx.simple_cycles(graph))
    assert cycles == [], f"import cycles: {cycles[:5]}"


def test_the_run_room_does_not_reach_up() -> None:
    """executor.run knows nothing of the CLI, reports, Azure or the emulator (it is driven, not driving)."""
    offenders = {
        name: sorted(t for t in _imported_by(name) if _room(t) not in ("executor.run", "planner"))
        for name in MODULES
        if _room(name) == "executor.run"
    }
    assert not {k: v for k, v in offenders.items() if v}


def _sizes() -> Iterator[tuple[str, str, int]]:
    for name, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        yield name, "<module>", source.count("\n")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
                yield name, node.name, node.end_lineno - node.lineno + 1


def test_modules_and_functions_stay_small() -> None:
    """No module over ~500 lines and no function over ~60: big ones hide more than one idea."""
    too_big = [
        f"{name}.{what}: {lines} lines"
        for name, what, lines in _sizes()
        if lines > (MAX_MODULE_LINES if what == "<module>" else MAX_FUNCTION_LINES)
    ]
    assert too_big == []
