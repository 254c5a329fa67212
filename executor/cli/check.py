"""`udroll check SPEC`: the preflight to run the afternoon before a rollout.

It signs in, checks the identity's permissions (the role's actions) in every resource group the
rollout touches, reads every selected VM's maintenance state and window, plans, probes every health
check once now and looks at every hook; it prints a ✓/✗ table with a fix under each ✗.

Exit codes: 0 everything passed; 5 Azure refused the sign-in or lacks permissions (or could not be
reached); 3 some selected VM cannot be maintained inside its window; 2 a hook, a health check or a
selection is not ready (and, as everywhere, an invalid spec).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from executor import rollout
from executor.azure.backend import AzureBackend
from executor.azure.connect import AzureOptions, azure_options, connect, read_ready_file
from executor.azure.errors import SIGN_IN_HELP
from executor.azure.permissions import ROLE_ACTIONS, list_permissions, missing
from executor.cli.common import dep
from executor.cli.display import display_zone, tz_option
from executor.run.clock import SystemClock
from executor.run.preflight import (
    ChecksFor,
    Finding,
    exit_code,
    health_findings,
    hook_findings,
    permission_findings,
    selection_findings,
    vm_findings,
    window_findings,
)
from executor.simulation import emulator_checks
from planner.errors import AuthenticationError, AuthorizationError, AzureError, UdrollError
from planner.fleet import Fleet
from planner.load import LoadedSpec, load_spec
from planner.select import selection
from planner.timefmt import human_time, plural, rfc3339

MARK = {True: "✓", False: "✗"}


class PreflightFailed(UdrollError):
    """Some check failed: the table says which and how to fix it; the exit code names the gravest."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.exit_code = code


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@tz_option
@azure_options
@click.pass_obj
def check(obj: Any, spec_path: str, fmt: str, tz: str | None, azure: AzureOptions) -> None:
    """Preflight a spec the afternoon before: sign-in, permissions, VMs, health checks, hooks, windows.

    Signs in, checks the role's actions in every resource group the rollout touches, reads every
    selected VM's maintenance state and self-service window, plans from now, probes every health
    check once, and looks at every hook. Nothing is started. Exit 0 when all pass; 5 sign-in or
    permissions; 3 VMs that cannot be maintained in their windows; 2 hooks, health checks, selection.

    \b
    Examples:
      udroll check shop.yaml
      udroll check shop.yaml --emulator emu.json -o json
    """
    loaded = load_spec(spec_path)
    zone = display_zone(tz, loaded.spec.window.timezone)
    findings, now = preflight(obj, loaded, azure, zone)
    if fmt == "json":
        click.echo(json.dumps({"as_of": rfc3339(now), "checks": [asdict(f) for f in findings]}, indent=2))
    else:
        click.echo(render(findings, spec_path, human_time(now, zone)), nl=False)
    failed = [f for f in findings if not f.ok]
    if failed:
        raise PreflightFailed(
            f"{len(failed)} of {len(findings)} checks failed (✗ above, each with its fix)", exit_code(failed)
        )


def preflight(
    obj: Any, loaded: LoadedSpec, azure: AzureOptions, zone: dt.tzinfo
) -> tuple[list[Finding], dt.datetime]:
    """Every finding, in the order an operator fixes them; Azure's refusals stop the rest."""
    clock = dep(obj, "clock")
    try:
        backend = dep(obj, "backend") or connect(
            azure, default_subscription=loaded.spec.subscription, clock=clock
        )
        clock = clock or getattr(backend, "clock", None) or SystemClock()
        fleet = rollout.live_fleet(loaded, backend, clock)
    except AzureError as exc:
        area, fix = _refused(exc)
        said = str(exc).split("\n")[0].replace(f": {SIGN_IN_HELP}", "").rstrip(".")
        return [Finding(area, "Resource Manager", False, said, fix)], (clock or SystemClock()).now()
    now = clock.now()
    subscription = getattr(backend, "subscription", "")
    found = [
        Finding(
            "sign-in", "Resource Manager", True, f"subscription {subscription}: {len(fleet.vms)} VMs read"
        )
    ]
    found += _permissions(backend, loaded, fleet)
    plan = rollout.make_plan(loaded, fleet, rollout.planned_start(loaded, clock, False), allow_partial=True)
    workdir = str(Path(loaded.file).resolve().parent)  # where hooks and command checks run
    found += selection_findings(loaded.spec, fleet)
    found += vm_findings(loaded.spec, fleet, plan, now, zone)
    found += window_findings(plan, now, zone)
    found += hook_findings(loaded.spec, workdir)
    found += health_findings(loaded.spec, fleet, plan, _checks_for(azure), workdir)
    return found, now


def _refused(exc: AzureError) -> tuple[str, str]:
    """The area and the fix of Azure's refusal to list the fleet."""
    if isinstance(exc, AuthenticationError):
        return "sign-in", SIGN_IN_HELP
    if isinstance(exc, AuthorizationError):
        return "permissions", "see README: Permissions (a custom role)"
    return "azure", "check the network, --endpoint and --ca-bundle, then run the check again"


def _permissions(backend: Any, loaded: LoadedSpec, fleet: Fleet) -> list[Finding]:
    """The role's actions per resource group the rollout touches (only against Resource Manager)."""
    if not isinstance(backend, AzureBackend):
        return []  # a scripted backend (tests) has no identity to ask about
    groups = {rg for tier in loaded.spec.tiers for s in tier.select for rg in s.resource_groups}
    groups |= {vm.resource_group for vms in selection(loaded.spec, fleet.vms).values() for vm in vms}
    lacking: dict[str, list[str]] = {}
    for rg in sorted(groups, key=str.lower):
        try:
            lacking[rg] = missing(list_permissions(backend.client, backend.subscription, rg), ROLE_ACTIONS)
        except AzureError as exc:
            return [Finding("permissions", rg, False, str(exc).split("\n")[0], "see README: Permissions")]
    return permission_findings(lacking)


def _checks_for(azure: AzureOptions) -> ChecksFor | None:
    """Against an emulator, each VM's simulated health endpoint stands in for the spec's checks."""
    if not azure.emulator:
        return None
    info = read_ready_file(azure.emulator)
    return emulator_checks(info.base_url, info.ca_bundle)


def render(findings: list[Finding], spec_path: str, as_of: str) -> str:
    """The ✓/✗ table, a fix under each ✗, and the count."""
    subject = max((len(f.subject) for f in findings), default=0)
    area = max(len(f.area) for f in findings)
    lines = [f"udroll check {spec_path}, as of {as_of}", ""]
    for f in findings:
        lines.append(f"{MARK[f.ok]} {f.area:<{area}}  {f.subject:<{subject}}  {f.detail}")
        if not f.ok and f.fix:
            lines.append(f"  {'':<{area}}  fix: {f.fix}")
    failed = sum(1 for f in findings if not f.ok)
    lines += ["", f"{plural(len(findings), 'check')}: {len(findings) - failed} passed, {failed} failed"]
    return "\n".join(lines) + "\n"
