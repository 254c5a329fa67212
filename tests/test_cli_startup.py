"""`udroll --version`, `--help`, `validate` and `schema` start without the heavy libraries (issue 15).

Measured by which modules a fresh interpreter ends up holding, never by time; the times themselves
are printed by benchmarks/startup.py.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor.cli.main import LAZY_COMMANDS, cli
from planner.cycles import tier_cycle

ROOT = Path(__file__).resolve().parent.parent
SHOP = str(ROOT / "plans" / "three-tier-shop.yaml")
# what makes a command slow to start: the Azure SDK, the graph and solver libraries, the live view,
# and the executor's own layers that pull them in
HEAVY = ("azure", "networkx", "ortools", "rich", "executor.rollout", "executor.run", "executor.azure")

_PROBE = """
import json, sys
from executor.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def imported_by(*argv: str) -> list[str]:
    """The modules a fresh `udroll ARGV` holds when it ends."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, env=env, timeout=120
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv", [["--version"], ["--help"], ["validate", SHOP], ["schema"]], ids=lambda a: " ".join(a)[:20]
)
def test_light_commands_do_not_import_heavy_libraries(argv: list[str]) -> None:
    """--version, --help, validate and schema never load the Azure SDK, networkx, OR-Tools or rich."""
    heavy = [m for m in imported_by(*argv) if m.split(".")[0] in HEAVY or m.startswith(HEAVY)]
    assert heavy == []


def test_the_probe_sees_heavy_imports() -> None:
    """The probe itself works: `udroll run --help` does load the rollout API and the runner
    (so the test above can fail)."""
    modules = imported_by("run", "--help")
    assert "executor.rollout" in modules and "executor.run.runner" in modules


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_each_lazy_summary_is_its_commands_own(name: str) -> None:
    """The summary `udroll --help` shows without importing a command is the command's own first line."""
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert LAZY_COMMANDS[name][1] == command.get_short_help_str(limit=1000)


def test_help_lists_every_command() -> None:
    """`udroll --help` lists every command, the lazy ones included."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == {"validate", "schema", *LAZY_COMMANDS}


_TIERS = st.sampled_from("abcdef")


@given(st.dictionaries(_TIERS, st.lists(_TIERS, max_size=4), max_size=6))
def test_the_light_cycle_finder_agrees_with_networkx(depends_on: dict[str, list[str]]) -> None:
    """planner.cycles (used by validate, without networkx) finds a cycle exactly when networkx does, and
    what it returns is a cycle: each tier in it is depended on by the next."""
    graph = nx.DiGraph()
    graph.add_nodes_from(depends_on)
    graph.add_edges_from(
        (dep, tier) for tier, deps in depends_on.items() for dep in deps if dep in depends_on
    )
    cycle = tier_cycle(depends_on)
    assert (cycle is None) == nx.is_directed_acyclic_graph(graph)
    if cycle is not None:
        assert cycle[0] == cycle[-1]
        assert all(a in depends_on[b] for a, b in itertools.pairwise(cycle))
