"""`udroll run --simulate`: the same runner against an in-process emulator, in compressed time.

The emulator serves the plan's fleet from the plan's start (so the bundled examples, whose windows
are fixed dates, run on any day) at ``speed`` simulated seconds per real second; the runner shares
its ScaledClock, talks to it through the real SDK (AzureBackend), and probes each VM's simulated
health endpoint instead of the spec's checks, whose hosts do not exist in a simulation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from executor.run.backend import ComputeBackend
from executor.run.clock import Clock, ScaledClock
from executor.run.gates import Check
from planner.fleet import VM, Fleet
from planner.plan import Plan
from planner.spec import HttpCheck, TierSettings

if TYPE_CHECKING:
    from executor.emulator.faults import Faults

DEFAULT_SPEED = 3000.0  # the bundled three-tier example (~28 simulated hours) in about 35 s


def emulator_checks(
    base_url: str, ca_bundle: str, url_for: Callable[[str], str] | None = None
) -> Callable[[VM, TierSettings], Sequence[Check]]:
    """Each VM's checks replaced by one https check of its simulated health endpoint
    (``url_for(vm_id)``: the in-process emulator's ``health_url``; else built from ``base_url``)."""
    if url_for is None:
        from executor.emulator.health import health_token

        def url_for(vm_id: str) -> str:
            return f"{base_url}/_health/{health_token(vm_id)}"

    made: dict[str, Sequence[Check]] = {}

    def checks_for(vm: VM, settings: TierSettings) -> Sequence[Check]:
        if vm.id not in made:
            url = url_for(vm.id)
            check = {"http": url, "status": [200], "ca_bundle": ca_bundle, "probe_timeout": "10s"}
            made[vm.id] = (HttpCheck.model_validate(check),)
        return made[vm.id]

    return checks_for


def control_interval(speed: float) -> float:
    """Read control rows about four times a real second, whatever the speed."""
    return max(5.0, speed / 4)


@dataclass
class Simulation:
    emulator: object
    backend: ComputeBackend
    clock: Clock
    checks_for: Callable[[VM, TierSettings], Sequence[Check]]


@contextlib.contextmanager
def simulation(
    fleet: Fleet,
    plan: Plan,
    speed: float = DEFAULT_SPEED,
    faults: str | Path | Faults | None = None,
    log_path: str | Path | None = None,
) -> Iterator[Simulation]:
    from executor.azure.connect import for_emulator
    from executor.emulator import Emulator

    # one clock for the emulator and the runner, standing still while the runner works and until it
    # first waits (executor.run.lag)
    clock = ScaledClock(plan.start, speed, shared=True, standing=True)
    with Emulator(fleet, epoch=plan.start, faults=faults, log_path=log_path, clock=clock) as emu:
        backend = for_emulator(emu, clock=emu.clock)
        try:
            yield Simulation(
                emu, backend, emu.clock, emulator_checks(emu.base_url, emu.ca_bundle, emu.health_url)
            )
        finally:
            backend.close()
