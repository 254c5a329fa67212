"""Fleets and helpers for the Azure backend tests (tests/test_backend_*.py)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from planner.fleet import VM, Fleet, Maintenance, vm_id

SUB = "22222222-3333-4444-5555-666666666666"
EPOCH = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)  # inside the self-service windows below


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


PENDING = Maintenance(
    customer_initiated_allowed=True,
    self_service_window=(_utc("2026-11-20T00:00:00Z"), _utc("2026-12-24T00:00:00Z")),
    scheduled_window=(_utc("2026-12-28T00:00:00Z"), _utc("2027-01-10T00:00:00Z")),
)
SOONER = PENDING.model_copy(
    update={"self_service_window": (_utc("2026-11-20T00:00:00Z"), _utc("2026-12-01T00:00:00Z"))}
)
LATER = PENDING.model_copy(
    update={
        "self_service_window": (_utc("2026-12-05T00:00:00Z"), _utc("2026-12-30T00:00:00Z")),
        "scheduled_window": (_utc("2027-01-02T00:00:00Z"), _utc("2027-01-20T00:00:00Z")),
    }
)
DONE = PENDING.model_copy(
    update={
        "customer_initiated_allowed": False,
        "last_result": "MaintenanceCompleted",
        "last_message": "Maintenance completed successfully.",
    }
)
RETRY = PENDING.model_copy(
    update={"last_result": "RetryLater", "last_message": "Maintenance could not start now."}
)


def make_vm(**fields: Any) -> VM:
    """A VM with its ARM id derived from its names (location defaults to westeurope)."""
    fields.setdefault("location", "westeurope")
    if fields.get("orchestration") == "Uniform":
        fields.setdefault("name", f"{fields['scale_set']}_{fields['instance_id']}")
    draft = VM(id="x", **fields)
    return draft.model_copy(update={"id": vm_id(SUB, draft)})


def mixed_fleet() -> Fleet:
    """Every kind of VM discovery must handle, over three resource groups."""
    vms = [
        # availability set: UD/FD from the instance view; one with an ephemeral OS disk
        *(
            make_vm(
                name=f"db-{i}",
                resource_group="rg-data",
                availability_set="as-db",
                update_domain=i,
                fault_domain=i % 2,
                tags={"role": "db", "tier": "data"},
                maintenance=PENDING,
                ephemeral_os_disk=i == 2,
            )
            for i in range(3)
        ),
        # uniform scale set, one instance already done
        *(
            make_vm(
                resource_group="rg-data",
                scale_set="vmss-app",
                orchestration="Uniform",
                instance_id=str(i),
                update_domain=i % 2,
                fault_domain=i % 3,
                tags={"role": "app"},
                maintenance=DONE if i == 3 else SOONER,
            )
            for i in range(4)
        ),
        # flexible scale sets: regional members by fault domain, zonal members by zone; no update domain
        *(
            make_vm(
                name=f"flex-web-{i}",
                resource_group="rg-web",
                scale_set="flex-web",
                orchestration="Flexible",
                fault_domain=i,
                tags={"role": "web"},
                maintenance=PENDING,
            )
            for i in range(3)
        ),
        *(
            make_vm(
                name=f"flex-z-{i}",
                resource_group="rg-web",
                scale_set="flex-z",
                orchestration="Flexible",
                zone=str(i),
                tags={"role": "web"},
                maintenance=LATER,
            )
            for i in (1, 2, 3)
        ),
        # standalone VMs: zonal, regional without maintenance, deallocated, retry-later
        make_vm(
            name="web-1",
            resource_group="rg-web",
            zone="1",
            update_domain=0,
            fault_domain=0,
            tags={"role": "web", "owner": "shop"},
            maintenance=RETRY,
        ),
        make_vm(name="jump", resource_group="rg-web", update_domain=0, fault_domain=0),
        make_vm(
            name="batch-1",
            resource_group="rg-web",
            update_domain=0,
            fault_domain=0,
            power_state="deallocated",
            maintenance=PENDING,
        ),
        # a resource group with only a uniform scale set, not in any maintenance wave
        *(
            make_vm(
                resource_group="rg-idle",
                scale_set="vmss-idle",
                orchestration="Uniform",
                instance_id=str(i),
                update_domain=i,
                fault_domain=i,
            )
            for i in range(2)
        ),
    ]
    return Fleet(captured_at=EPOCH, vms=tuple(vms))


def big_fleet(total: int, groups: int = 10) -> Fleet:
    """``total`` VMs over ``groups`` resource groups: in each, half in uniform scale sets of 100, a
    fifth in an availability set, a tenth in a flexible scale set, the rest standalone and zonal."""
    vms: list[VM] = []
    per_group = total // groups
    for g in range(groups):
        rg = f"rg-{g:02d}"
        uniform, in_set, flexible = per_group // 2, per_group // 5, per_group // 10
        standalone = per_group - uniform - in_set - flexible
        for i in range(uniform):
            vms.append(
                make_vm(
                    resource_group=rg,
                    scale_set=f"vmss-{i // 100}",
                    orchestration="Uniform",
                    instance_id=str(i % 100),
                    update_domain=i % 5,
                    fault_domain=i % 3,
                    tags={"role": "app"},
                    maintenance=PENDING,
                )
            )
        for i in range(in_set):
            vms.append(
                make_vm(
                    name=f"db-{i}",
                    resource_group=rg,
                    availability_set="as-db",
                    update_domain=i % 5,
                    fault_domain=i % 3,
                    tags={"role": "db"},
                    maintenance=PENDING,
                )
            )
        for i in range(flexible):
            vms.append(
                make_vm(
                    name=f"flex-{i}",
                    resource_group=rg,
                    scale_set="flex",
                    orchestration="Flexible",
                    fault_domain=i % 3,
                    tags={"role": "web"},
                    maintenance=PENDING,
                )
            )
        for i in range(standalone):
            vms.append(
                make_vm(
                    name=f"web-{i}",
                    resource_group=rg,
                    zone=str(1 + i % 3),
                    update_domain=0,
                    fault_domain=0,
                    tags={"role": "web"},
                    maintenance=SOONER,
                )
            )
    return Fleet(captured_at=EPOCH, vms=tuple(vms))


def arm_requests(emu: Any) -> list[dict[str, Any]]:
    """The emulator's log of Resource Manager requests (health probes and state reads left out)."""
    return [r for r in emu.requests() if r["kind"] == "arm"]


def by_id(vms: Any) -> dict[str, VM]:
    return {vm.id.lower(): vm for vm in vms}


def as_reported(vms: Any, now: dt.datetime = EPOCH) -> dict[str, VM]:
    """by_id of ``vms`` as Azure reports them at ``now``: isCustomerInitiatedMaintenanceAllowed is
    false outside the self-service window (it says whether maintenance may be started at this time)."""
    out = {}
    for vm in vms:
        m = vm.maintenance
        window = m.self_service_window if m else None
        if m is not None and window is not None and not window[0] <= now <= window[1]:
            vm = vm.model_copy(
                update={"maintenance": m.model_copy(update={"customer_initiated_allowed": False})}
            )
        out[vm.id.lower()] = vm
    return out


class HeldClock:
    """A scaled clock that stands still at ``epoch`` until :meth:`go`: an emulator's setup (its test CA)
    then takes no simulated time, so faults timed from the epoch line up with the test's first request."""

    def __init__(self, epoch: dt.datetime, speed: float = 600.0):
        self.epoch, self.speed = epoch, speed
        self._started: float | None = None

    def go(self) -> None:
        self._started = time.monotonic()

    def now(self) -> dt.datetime:
        if self._started is None:
            return self.epoch
        return self.epoch + dt.timedelta(seconds=(time.monotonic() - self._started) * self.speed)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)
