"""Status, perform-maintenance and polling through the real SDK against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from backend_support import EPOCH, arm_requests, mixed_fleet

from executor.azure.connect import for_emulator
from executor.emulator import Faults, VMFaults
from executor.run.backend import Operation
from planner.errors import InputError, NotEligibleError, VMGoneError

pytestmark = pytest.mark.e2e


def _ids(fleet: Any) -> dict[str, str]:
    return {vm.ref: vm.id for vm in fleet.vms}


@pytest.mark.parametrize("ref", ["rg-data/db-1", "rg-data/vmss-app/0", "rg-web/flex-web-2"])
def test_start_poll_and_read_back(make_emulator: Callable[..., Any], ref: str) -> None:
    """A VM, a uniform instance and a flexible member: start, poll to the end, status says completed."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    backend = for_emulator(emu)
    vm = _ids(fleet)[ref]
    before = backend.status(vm)
    assert before.power_state == "running"
    assert before.maintenance is not None and before.maintenance.last_result == "None"
    operation = backend.start_maintenance(vm)
    assert operation.vm == vm and operation.token
    first = backend.poll(operation)
    assert not first.done  # maintenance takes 10 simulated minutes
    result = backend.wait(operation, timeout=3600)
    assert result.done and result.succeeded, result
    after = backend.status(vm)
    assert after.power_state == "running"
    assert after.maintenance is not None and after.maintenance.last_result == "MaintenanceCompleted"
    assert not after.maintenance.customer_initiated_allowed
    posts = [r for r in arm_requests(emu) if r["method"] == "POST"]
    assert len(posts) == 1 and posts[0]["status"] == 202 and posts[0]["vm"].lower() == vm.lower()


def test_poll_resumes_from_the_token_on_a_new_client(make_emulator: Callable[..., Any]) -> None:
    """The continuation token alone lets a fresh backend (a new process) follow the operation."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    vm = _ids(fleet)["rg-data/db-0"]
    operation = for_emulator(emu).start_maintenance(vm)
    fresh = for_emulator(emu)
    result = fresh.wait(Operation(vm=vm, token=operation.token), timeout=3600)
    assert result.succeeded
    assert len([r for r in arm_requests(emu) if r["method"] == "POST"]) == 1


def test_scale_set_batch_is_one_call(make_emulator: Callable[..., Any]) -> None:
    """Several instances of one scale set start in one POST with their instanceIds; one token for all."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    backend = for_emulator(emu)
    ids = _ids(fleet)
    vms = [ids["rg-data/vmss-app/0"], ids["rg-data/vmss-app/2"]]
    operations = backend.start_scale_set_maintenance(vms)
    assert [o.vm for o in operations] == vms and len({o.token for o in operations}) == 1
    assert backend.wait(operations[0], timeout=3600).succeeded
    posts = [r for r in arm_requests(emu) if r["method"] == "POST"]
    assert len(posts) == 1 and posts[0]["path"].split("?")[0].endswith("/vmss-app/performMaintenance")
    assert sorted(v.lower() for v in posts[0]["vms"]) == sorted(v.lower() for v in vms)
    assert all(backend.status(vm).maintenance.last_result == "MaintenanceCompleted" for vm in vms)  # type: ignore[union-attr]


def test_batch_refuses_instances_of_two_scale_sets(make_emulator: Callable[..., Any]) -> None:
    """The batch call is for one scale set: mixing is an input error, nothing is sent."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    ids = _ids(fleet)
    with pytest.raises(InputError, match="one uniform scale set"):
        for_emulator(emu).start_scale_set_maintenance([ids["rg-data/vmss-app/0"], ids["rg-idle/vmss-idle/0"]])
    assert arm_requests(emu) == []


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("rg-web/jump", "no maintenance is pending"),
        ("rg-data/vmss-app/3", "already been completed"),
        ("rg-web/flex-z-1", "outside its self-service maintenance window"),
        ("rg-web/batch-1", "deallocated"),
    ],
)
def test_ineligible_vm_is_not_eligible_with_azures_message(
    make_emulator: Callable[..., Any], ref: str, why: str
) -> None:
    """409 OperationNotAllowed becomes NotEligibleError (exit code 5) carrying Azure's reason."""
    fleet = mixed_fleet()
    backend = for_emulator(make_emulator(fleet, epoch=EPOCH))
    with pytest.raises(NotEligibleError, match=why) as err:
        backend.start_maintenance(_ids(fleet)[ref])
    assert err.value.exit_code == 5
    assert "409 OperationNotAllowed" in str(err.value)


def test_aborted_maintenance_is_a_failed_operation(make_emulator: Callable[..., Any]) -> None:
    """MaintenanceAborted ends the operation failed, with Azure's message; the status says aborted."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH, faults=Faults(vms={"rg-data/db-2": VMFaults(abort=1)}))
    backend = for_emulator(emu)
    vm = _ids(fleet)["rg-data/db-2"]
    result = backend.wait(backend.start_maintenance(vm), timeout=3600)
    assert result.done and not result.succeeded
    assert result.error is not None and "MaintenanceAborted" in result.error and "reschedule" in result.error
    assert backend.status(vm).maintenance.last_result == "MaintenanceAborted"  # type: ignore[union-attr]


def test_missing_vm_is_gone(make_emulator: Callable[..., Any]) -> None:
    """404 on a VM the plan names becomes VMGoneError (exit code 5)."""
    fleet = mixed_fleet()
    backend = for_emulator(make_emulator(fleet, epoch=EPOCH))
    gone = _ids(fleet)["rg-data/db-0"].replace("db-0", "db-9")
    with pytest.raises(VMGoneError, match="404 ResourceNotFound"):
        backend.status(gone)
    with pytest.raises(VMGoneError):
        backend.start_maintenance(gone)


def test_vm_of_another_subscription_is_refused(make_emulator: Callable[..., Any]) -> None:
    """A VM id in a subscription the backend is not connected to is an input error, not a request."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    other = _ids(fleet)["rg-data/db-0"].replace(emu.subscription, "33333333-0000-0000-0000-000000000000")
    with pytest.raises(InputError, match="pass --subscription"):
        for_emulator(emu).status(other)
