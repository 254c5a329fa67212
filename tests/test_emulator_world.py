"""The maintenance state machine alone (no HTTP): random triggers and time steps keep Azure's invariants."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from executor.emulator import Faults, VMFaults
from executor.emulator.fleets import synthetic_fleet
from executor.emulator.world import World

T0 = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)
FLEET = synthetic_fleet(8, per_group=2)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("trigger"), st.integers(0, len(FLEET.vms) - 1)),
        st.tuples(st.just("wait"), st.integers(0, 20 * 60)),
    ),
    max_size=40,
)
vm_faults = st.builds(VMFaults, retry_later=st.integers(0, 2), abort=st.integers(0, 2))


@settings(max_examples=100, deadline=None)
@given(steps=steps, faults=st.lists(vm_faults, min_size=len(FLEET.vms), max_size=len(FLEET.vms)))
def test_random_triggers_keep_the_invariants(steps, faults) -> None:
    """A VM is refused while under maintenance and after completion, down only during a reboot, and
    completes exactly on the attempt after its RetryLater and MaintenanceAborted faults."""
    world = World(FLEET, Faults(vms={vm.ref: f for vm, f in zip(FLEET.vms, faults, strict=True)}), T0)
    now = T0
    started = [0] * len(FLEET.vms)
    for action, value in steps:
        if action == "wait":
            now += dt.timedelta(seconds=value)
        else:
            sim = world.vms[value]
            refusal = world.refusal(sim, now)
            active = sim.run is not None and sim.run.active(now)
            completed = sim.maintenance is not None and sim.maintenance.last_result == "MaintenanceCompleted"
            assert (refusal is not None) == (active or completed), refusal
            if refusal is None:
                world.start(sim.id, [sim], now, None)
                started[value] += 1
        for i, sim in enumerate(world.vms):
            power = sim.power_state(now)
            rebooting = sim.run is not None and sim.run.reboots and sim.run.active(now)
            assert (power == "running") == (not rebooting)
            assert sim.attempts == started[i]
            status = sim.maintenance
            assert status is not None
            needed = faults[i].retry_later + faults[i].abort + 1
            if status.last_result == "MaintenanceCompleted":
                assert sim.attempts == needed and not status.customer_initiated_allowed
            else:
                assert status.customer_initiated_allowed
            healthy, _ = world.health(sim, now)
            assert not (rebooting and healthy)


def test_operation_status_follows_its_runs() -> None:
    """An operation is InProgress until its last run ends, then Succeeded or Failed with the fault's code."""
    fleet = FLEET
    faults = Faults(vms={fleet.vms[0].ref: VMFaults(abort=1)})
    world = World(fleet, faults, T0)
    op = world.start("scale set", [world.vms[0], world.vms[1]], T0, None)
    assert op.status(T0 + dt.timedelta(minutes=9))[0] == "InProgress"
    status, error = op.status(T0 + dt.timedelta(minutes=10))
    assert status == "Failed" and error is not None and error["code"] == "MaintenanceAborted"
    ok = world.start("vm", [world.vms[2]], T0, None)
    assert ok.status(T0 + dt.timedelta(minutes=10)) == ("Succeeded", None)
