"""`udroll runs`: the runs journalled under .udroll/, newest first (how an operator finds a journal)."""

from __future__ import annotations

import datetime as dt
import json

import click

from executor.cli.display import display_zone, tz_option
from executor.run.catalog import ROOT, RunEntry, find_runs
from planner.timefmt import human_time

HEADER = ("spec", "state", "VMs done", "steps done", "started", "journal")


def _row(run: RunEntry, zone: dt.tzinfo) -> tuple[str, ...]:
    state = run.state + (" (runner active)" if run.runner_active else "")
    started = human_time(run.started, zone) if run.started else "-"
    spec = run.spec + (" (simulated)" if run.simulated else "")
    return (
        spec,
        state,
        f"{run.vms_done}/{run.vms_total}",
        f"{run.steps_done}/{run.steps_total}",
        started,
        run.journal,
    )


def render_runs(found: list[RunEntry], zone: dt.tzinfo) -> str:
    rows = [HEADER, *(_row(r, zone) for r in found)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


@click.command()
@click.option(
    "--dir",
    "root",
    default=str(ROOT),
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where to look for journals (any depth).",
)
@click.option(
    "-o", "--output", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@tz_option
def runs(root: str, fmt: str, tz: str | None) -> None:
    """List the runs journalled under .udroll/, newest first: spec, state, progress, start.

    Commands that take --journal default to the latest run listed here (of --spec NAME when runs of
    several specs are present). Runs journalled in Azure Storage are not listed.

    \b
    Example:
      udroll runs
      udroll runs -o json | jq '.[0].journal'
    """
    zone = display_zone(tz)  # runs of several specs: the local zone unless --tz
    found = find_runs(root)
    if fmt == "json":
        click.echo(json.dumps([r.to_dict() for r in found], indent=2))
    elif not found:
        click.echo(f"No runs under {root}/ (`udroll run SPEC` journals there by default).")
    else:
        click.echo(render_runs(found, zone), nl=False)
