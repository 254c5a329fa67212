"""`udroll discover` and `udroll fleet`: a snapshot of the live fleet; the portal's maintenance view."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from executor.azure.connect import AzureOptions, azure_options, backend_from, connect, injected_clock
from executor.azure.discovery import snapshot
from executor.azure.fleet_view import render_csv, render_json, render_table, scale_set_rows, vm_rows
from executor.azure.pacing import interactive
from executor.cli.common import emit_text
from executor.cli.display import display_zone, text_width, tz_option, wide_option
from planner.errors import InputError
from planner.fleet import VM, Fleet
from planner.spec import Spec
from planner.timefmt import plural


def _tags(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: write KEY=VALUE, e.g. --tag role=web")
        tags[key] = val
    return tags


def _live_vms(
    obj: Any, azure: AzureOptions, resource_groups: tuple[str, ...], tags: dict[str, str]
) -> tuple[list[VM], dt.datetime]:
    """The VMs discovery finds and the time to show them at: the context's clock if one was
    injected, else the backend's (an emulator's simulated time with --emulator)."""
    injected = backend_from(obj)
    backend = injected or connect(azure, clock=injected_clock(obj), retry=interactive())
    try:
        now = (injected_clock(obj) or backend.clock).now()
        return list(backend.iter_vms(list(resource_groups) or None, tags or None, warn=_warn)), now
    finally:
        if injected is None:
            backend.close()


def _warn(message: str) -> None:
    """A VM discovery left out (exit code stays 0: the others are discovered)."""
    click.echo(f"warning: {message}", err=True)


resource_group_option = click.option(
    "--resource-group",
    "-g",
    "resource_groups",
    multiple=True,
    metavar="RG",
    help="Only this resource group (repeatable). Default: every resource group that holds VMs.",
)
tag_option = click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="K=V",
    callback=_tags,
    help="Only VMs with this tag (repeatable; all must match).",
)


@click.command()
@resource_group_option
@tag_option
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Write the snapshot here (default: standard output).",
)
@azure_options
@click.pass_obj
def discover(
    obj: Any, resource_groups: tuple[str, ...], tags: dict[str, str], out: str | None, azure: AzureOptions
) -> None:
    """Write a udroll/fleet@1 snapshot of the live fleet: update and fault domains, zones, tags,
    power and maintenance status of every VM and scale set instance.

    Exits 0 (a VM udroll cannot describe is named in a warning and left out), or 5 when Azure
    cannot be reached or refuses.

    \b
    Example:
      udroll discover -g rg-shop-db -g rg-shop-app -o fleet.json
      udroll plan plans/three-tier-shop.yaml --fleet fleet.json
    """
    vms, now = _live_vms(obj, azure, resource_groups, tags)
    fleet = snapshot(vms, now)
    text = fleet.to_json()
    emit_text(text, out or None)
    groups = len({vm.resource_group.lower() for vm in fleet.vms})
    where = f" to {out}" if out else ""
    click.echo(
        f"discovered {plural(len(fleet.vms), 'VM')} in {plural(groups, 'resource group')}{where}", err=True
    )


@click.command("fleet")
@resource_group_option
@tag_option
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@tz_option
@wide_option
@azure_options
@click.pass_obj
def fleet_command(
    obj: Any,
    resource_groups: tuple[str, ...],
    tags: dict[str, str],
    output: str,
    tz: str | None,
    wide: bool,
    azure: AzureOptions,
) -> None:
    """Show live maintenance status per VM (update and fault domain, zone, allowed, self-service and
    scheduled windows, last result) soonest deadline first, and per scale set the portal's
    "Self-service maintenance" column: Yes (a VM is in its self-service window now), No (none is),
    - (not part of a maintenance wave).

    Exits 0 (a VM udroll cannot describe is named in a warning and left out), or 5 when Azure
    cannot be reached or refuses.

    \b
    Example:
      udroll fleet -g rg-shop-app
      udroll fleet --emulator /tmp/emu.json -o csv > status.csv
      udroll fleet --tz Europe/Berlin --wide
    """
    zone = display_zone(tz)
    vms, now = _live_vms(obj, azure, resource_groups, tags)
    rows, sets = vm_rows(vms, now), scale_set_rows(vms, now)
    if output == "json":
        click.echo(render_json(rows, sets, now), nl=False)
    elif output == "csv":
        click.echo(render_csv(rows), nl=False)
    else:
        width = None if wide else text_width(sys.stdout.isatty())
        click.echo(render_table(rows, sets, now, zone, width), nl=False)


def live_fleet(spec: Spec, azure: AzureOptions, obj: Any = None) -> Fleet:
    """The fleet of a spec without inventory, discovered live: only the resource groups its selectors
    name, or the whole subscription when a selector may match any group. For `udroll plan`/`run`."""
    named = [selector.resource_groups for tier in spec.tiers for selector in tier.select]
    groups = None if any(not g for g in named) else sorted(set().union(*named), key=str.lower)
    injected = backend_from(obj)
    try:
        backend = injected or connect(
            azure, default_subscription=spec.subscription, clock=injected_clock(obj), retry=interactive()
        )
    except InputError as exc:
        raise InputError(
            f"{exc}; or plan offline: pass --fleet FILE (from `udroll discover`) or add an "
            "inventory to the spec"
        ) from None
    try:
        now = (injected_clock(obj) or backend.clock).now()
        return snapshot(backend.iter_vms(groups, warn=_warn), now)
    finally:
        if injected is None:
            backend.close()
