"""`udroll emulator serve`: run the local ARM Compute emulator in the foreground."""

from __future__ import annotations

import datetime as dt
import signal
import threading
from pathlib import Path
from typing import Any

import click

from planner.errors import InputError
from planner.fleet import Fleet, load_fleet
from planner.load import load_spec
from planner.timefmt import plural
from planner.values import parse_timestamp


@click.group()
def emulator() -> None:
    """A local Resource Manager Compute emulator for simulations and tests."""


@emulator.command()
@click.option(
    "--fleet", "fleet_path", type=click.Path(dir_okay=False), help="Fleet snapshot (udroll/fleet@1)."
)
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), help="A spec with an inventory.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind.")
@click.option(
    "--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port."
)
@click.option(
    "--speed",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Simulated seconds per real second (600: a real second is ten minutes).",
)
@click.option(
    "--epoch",
    help="Simulated time at start (default: the --spec window's not_before, else the fleet's captured_at).",
)
@click.option("--faults", "faults_path", type=click.Path(dir_okay=False), help="Faults file (YAML).")
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False),
    help="Write {base_url, ca_bundle, ...} here once serving.",
)
@click.option(
    "--log", "log_path", type=click.Path(dir_okay=False), help="Append the request log (JSON lines) here."
)
@click.option(
    "--azure-mode",
    metavar="KEY=VALUE,...",
    help="Which of Azure's documented answer shapes to give (over the faults file's azure: block): "
    "lro=async|location|sync, timestamps=z|offset|ticks, ids=upper|as-is, refusals=descriptive|recorded.",
)
def serve(
    fleet_path: str | None,
    spec_path: str | None,
    host: str,
    port: int,
    speed: float,
    epoch: str | None,
    faults_path: str | None,
    ready_file: str | None,
    log_path: str | None,
    azure_mode: str | None,
) -> None:
    """Serve the Compute API over HTTPS for a fleet until Ctrl-C or SIGTERM (exit 0).

    Give exactly one of --fleet or --spec. Clients trust the test CA in the ready file's ca_bundle.

    \b
    Example:
      udroll emulator serve --spec plans/three-tier-shop.yaml --speed 600 --ready-file emu.json
      udroll run plans/three-tier-shop.yaml --emulator emu.json
    """
    from executor.emulator import Emulator

    fleet, window_start = _fleet(fleet_path, spec_path)
    try:
        start = parse_timestamp(epoch) if epoch else window_start  # a spec's run begins at its window
    except ValueError as exc:
        raise InputError(f"--epoch: {exc}") from None
    emu = Emulator(
        fleet,
        speed=speed,
        epoch=start,
        faults=faults_path,
        log_path=log_path,
        host=host,
        port=port,
        azure_mode=azure_mode,
    )
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with emu:
            if ready_file:
                emu.write_ready_file(ready_file)
            click.echo(
                f"udroll emulator serving {plural(len(fleet.vms), 'VM')} of subscription {emu.subscription} "
                f"at {emu.base_url} (CA {emu.ca_bundle}, speed {emu.speed:g}x); Ctrl-C stops it."
            )
            while not stop.wait(0.2):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if ready_file:
            Path(ready_file).unlink(missing_ok=True)
    click.echo("udroll emulator stopped.")


def _fleet(fleet_path: str | None, spec_path: str | None) -> tuple[Fleet, dt.datetime | None]:
    """The fleet to serve, and a spec's window start (the default epoch: a run of it starts there)."""
    if bool(fleet_path) == bool(spec_path):
        raise InputError("give exactly one of --fleet FILE or --spec FILE")
    if fleet_path:
        return load_fleet(fleet_path), None
    assert spec_path is not None
    loaded = load_spec(spec_path)
    if loaded.inventory is None:
        raise InputError(f"{spec_path} has no inventory: add one, or serve a fleet snapshot with --fleet")
    return loaded.inventory, loaded.spec.window.not_before
