"""`udroll notify test SPEC`: one sample event to each of the spec's sinks, now, so the operator sees
the messages (and fixes a wrong URL or secret) before the night of the rollout."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from executor.cli.common import clock_of
from executor.notify.payload import RunInfo, sample
from executor.notify.sinks import DeliveryError, deliverer, describe
from planner.errors import InputError, UdrollError
from planner.fleet import Fleet
from planner.load import load_spec


class NotifyFailed(UdrollError):
    """Some sink did not take the sample (exit 1): the output says which and why."""


@click.group()
def notify() -> None:
    """Notifications of the spec's `notify:` sinks."""


@notify.command("test")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.pass_obj
def test(obj: Any, spec: str) -> None:
    """Send one sample event (a step.failed marked as a test) to each sink of SPEC, ignoring filters.

    Exits 0 when every sink took it, 1 when some did not, 2 when the spec is invalid or has no sinks.

    \b
    Example:
      UDROLL_WEBHOOK_SECRET=... udroll notify test plans/three-tier-shop.yaml
    """
    loaded = load_spec(spec)
    if not loaded.spec.notify:
        raise InputError(f"{spec} has no notify: sinks to test; add some (see README, Notifications)")
    now = clock_of(obj).now().astimezone(dt.timezone.utc)
    fleet = loaded.inventory or Fleet(captured_at=now, vms=())
    info = _sample_run(loaded.spec.name, loaded.file, fleet)
    failed = 0
    for i, sink in enumerate(loaded.spec.notify):
        try:
            deliverer(sink, info, str(Path(loaded.file).resolve().parent))(sample(info, now))
        except DeliveryError as exc:
            failed += 1
            click.echo(f"notify[{i}] {describe(sink)}: FAILED: {exc}")
            continue
        click.echo(f"notify[{i}] {describe(sink)}: sent")
    if failed:
        raise NotifyFailed(f"{failed} of {len(loaded.spec.notify)} sinks did not take the sample")


def _sample_run(name: str, spec_file: str, fleet: Fleet) -> RunInfo:
    """A made-up run of the spec: one sample step with (up to) three of its inventory's VMs."""
    vms = tuple(vm.id for vm in fleet.vms[:3])
    names = {vm.id: vm.ref for vm in fleet.vms}
    return RunInfo(name, spec_file, f".udroll/{name}", {"sample-step": ("sample-tier", vms)}, names)
