"""Synthetic fleets for benchmarks and tests: many VMs of every kind the emulator serves."""

from __future__ import annotations

import datetime as dt
from typing import Any

from planner.fleet import VM, Fleet, InventoryVM, Maintenance, vm_id

SUBSCRIPTION = "22222222-3333-4444-5555-666666666666"
_START = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)


def pending(start: dt.datetime = _START) -> Maintenance:
    """A maintenance wave: 34 days of self-service, then Azure's scheduled window."""
    return Maintenance(
        customer_initiated_allowed=True,
        self_service_window=(start, start + dt.timedelta(days=34)),
        scheduled_window=(start + dt.timedelta(days=38), start + dt.timedelta(days=51)),
    )


def synthetic_fleet(count: int, *, subscription: str = SUBSCRIPTION, per_group: int = 50) -> Fleet:
    """``count`` VMs in groups of ``per_group``, cycling through availability sets, uniform and
    flexible scale sets and zonal standalone VMs; every VM has maintenance pending."""
    status = pending().model_dump()
    vms: list[VM] = []
    for i in range(count):
        group, index = divmod(i, per_group)
        zone = str(index % 3 + 1)
        item: dict[str, Any] = {
            "resource_group": f"rg-{group // 4:03d}",
            "location": "westeurope",
            "tags": {"group": str(group)},
            "maintenance": status,
        }
        kind = group % 4
        if kind == 0:
            item.update(
                name=f"as{group}-vm{index}",
                availability_set=f"as-{group}",
                update_domain=index % 5,
                fault_domain=index % 3,
            )
        elif kind == 1:
            item.update(
                name=f"vmss-{group}_{index}",
                scale_set=f"vmss-{group}",
                orchestration="Uniform",
                instance_id=str(index),
                update_domain=index % 5,
                fault_domain=index % 5,
            )
        elif kind == 2:
            item.update(
                name=f"flex{group}-vm{index}",
                scale_set=f"flex-{group}",
                orchestration="Flexible",
                zone=zone,
                fault_domain=0,
                ephemeral_os_disk=True,
            )
        else:
            item.update(name=f"web{group}-vm{index}", zone=zone)
        vm = InventoryVM.model_validate(item)
        vms.append(VM.model_validate({**vm.model_dump(), "id": vm_id(subscription, vm)}))
    return Fleet(captured_at=_START, vms=tuple(vms))
