"""Discovery (DESIGN §5): the live fleet from Azure, one list request per page, never a GET per VM.

Per resource group: ``virtual_machines.list(rg, expand="instanceView")`` gives standalone VMs,
availability set members and flexible scale set members (they carry ``virtualMachineScaleSet.id``);
``virtual_machine_scale_sets.list(rg)`` then ``virtual_machine_scale_set_vms.list(rg, ss,
expand="instanceView")`` gives the instances of uniform scale sets. Update and fault domains come only
from instance views. VMs are yielded page by page so a 20,000-VM subscription stays small in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from azure.mgmt.compute import ComputeManagementClient

from executor.azure.errors import READ_SCALE_SET_VMS, READ_SCALE_SETS, READ_VMS, azure_errors
from executor.azure.ids import last_segment, resource_group_of
from planner.errors import AzureError
from planner.fleet import VM, Fleet, Maintenance

_LAST_RESULTS = {"None", "RetryLater", "MaintenanceAborted", "MaintenanceCompleted"}
_POWER_STATES = {"running", "starting", "stopping", "stopped", "deallocating", "deallocated"}


def maintenance_from(status: Any) -> Maintenance | None:
    """``maintenanceRedeployStatus`` -> Maintenance; absent means nothing is planned."""
    if status is None:
        return None
    raw = status.last_operation_result_code or "None"
    code: Any = str(getattr(raw, "value", raw))  # an SDK enum or a plain string
    message = status.last_operation_message
    if code not in _LAST_RESULTS:  # a code newer than this tool: keep it visible in the message
        message = f"{code}: {message}" if message else code
        code = "None"
    return Maintenance(
        customer_initiated_allowed=bool(status.is_customer_initiated_maintenance_allowed),
        self_service_window=_window(
            status.pre_maintenance_window_start_time, status.pre_maintenance_window_end_time
        ),
        scheduled_window=_window(status.maintenance_window_start_time, status.maintenance_window_end_time),
        last_result=code,
        last_message=message,
    )


def _window(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime] | None:
    return (start, end) if start and end and end > start else None


def power_state_from(statuses: Iterable[Any] | None) -> str:
    """The ``PowerState/...`` code of an instance view's statuses ("unknown" without one)."""
    for status in statuses or ():
        code = (status.code or "").lower()
        if code.startswith("powerstate/"):
            state = code.split("/", 1)[1]
            return state if state in _POWER_STATES else "unknown"
    return "unknown"


def vm_from_machine(machine: Any) -> VM:
    """A VM (standalone, availability set member or flexible scale set member) from a list item."""
    view = machine.instance_view
    scale_set = machine.virtual_machine_scale_set
    return VM(
        id=machine.id,
        name=machine.name,
        resource_group=resource_group_of(machine.id),
        location=machine.location or "",
        availability_set=last_segment(machine.availability_set.id if machine.availability_set else None),
        scale_set=last_segment(scale_set.id if scale_set else None),
        orchestration="Flexible" if scale_set else None,
        zone=(machine.zones or [None])[0],
        update_domain=view.platform_update_domain if view else None,
        fault_domain=_fault_domain(view, machine if scale_set else None),
        tags=dict(machine.tags or {}),
        power_state=power_state_from(view.statuses if view else None),  # type: ignore[arg-type]
        ephemeral_os_disk=_ephemeral(machine.storage_profile),
        maintenance=maintenance_from(view.maintenance_redeploy_status if view else None),
    )


def vm_from_instance(instance: Any, scale_set: str) -> VM:
    """A uniform scale set instance from ``virtual_machine_scale_set_vms.list(expand="instanceView")``."""
    view = instance.instance_view
    return VM(
        id=instance.id,
        name=instance.name,
        resource_group=resource_group_of(instance.id),
        location=instance.location or "",
        scale_set=scale_set,
        instance_id=str(instance.instance_id),
        orchestration="Uniform",
        zone=(instance.zones or [None])[0],
        update_domain=view.platform_update_domain if view else None,
        fault_domain=view.platform_fault_domain if view else None,
        tags=dict(instance.tags or {}),
        power_state=power_state_from(view.statuses if view else None),  # type: ignore[arg-type]
        ephemeral_os_disk=_ephemeral(instance.storage_profile),
        maintenance=maintenance_from(view.maintenance_redeploy_status if view else None),
    )


def _fault_domain(view: Any, flexible_member: Any) -> int | None:
    """From the instance view; a flexible scale set member may show it only on the VM itself
    (``properties.platformFaultDomain``, the domain the scale set placed it in)."""
    domain = view.platform_fault_domain if view else None
    if domain is None and flexible_member is not None:
        domain = flexible_member.platform_fault_domain
    return domain  # type: ignore[no-any-return]


def _ephemeral(storage_profile: Any) -> bool:
    os_disk = storage_profile.os_disk if storage_profile else None
    return bool(os_disk and os_disk.diff_disk_settings)


def resource_groups_with_vms(client: ComputeManagementClient) -> dict[str, list[str]]:
    """Every resource group of the subscription that holds a VM or a scale set, with the names of its
    uniform scale sets (both lists without expand: names are all we need from them)."""
    groups: dict[str, tuple[str, list[str]]] = {}
    with azure_errors("list the VMs of the subscription", READ_VMS, gone=AzureError):
        for machine in client.virtual_machines.list_all():
            rg = resource_group_of(str(machine.id))
            groups.setdefault(rg.lower(), (rg, []))
    with azure_errors("list the scale sets of the subscription", READ_SCALE_SETS, gone=AzureError):
        for scale_set in client.virtual_machine_scale_sets.list_all():
            rg = resource_group_of(str(scale_set.id))
            uniform = groups.setdefault(rg.lower(), (rg, []))[1]
            if _orchestration(scale_set) != "Flexible":
                uniform.append(str(scale_set.name))
    return {rg: uniform for _, (rg, uniform) in sorted(groups.items())}


def discover(
    client: ComputeManagementClient,
    resource_groups: Iterable[str] | None = None,
    tags: dict[str, str] | None = None,
    *,
    workers: int = 4,
) -> Iterator[VM]:
    """Yield every VM of the resource groups (all that hold VMs when None) whose tags include ``tags``,
    group by group: its VMs, then its uniform scale sets' instances.

    Requests: per resource group one per page of its VMs (100 a page) and one for its scale sets
    (when the groups are given), plus one per page of each uniform scale set's instances; without
    groups, the pages of ``list_all`` for VMs and scale sets instead of the scale set lists. Lists
    run on ``workers`` threads (the pacing is shared and thread-safe); pages of one list in order.
    """
    known: dict[str, list[str] | None]
    if resource_groups:
        known = dict.fromkeys(dict.fromkeys(resource_groups))
    else:
        known = dict(resource_groups_with_vms(client))
    wanted = tags or {}
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="udroll-discover")
    try:
        machines = {rg: pool.submit(_machines, client, rg) for rg in known}
        sets = {rg: pool.submit(_uniform_scale_sets, client, rg) for rg, got in known.items() if got is None}
        instances: dict[str, list[Future[list[VM]]]] = {}
        for rg, uniform in known.items():
            names = sets[rg].result() if uniform is None else uniform
            instances[rg] = [pool.submit(_instances, client, rg, name) for name in names]
        for rg in known:
            for future in [machines[rg], *instances[rg]]:
                yield from (vm for vm in future.result() if _tagged(vm, wanted))
    finally:  # on an error (or a caller that stops early) the lists not yet started are not sent
        pool.shutdown(wait=True, cancel_futures=True)


def _tagged(vm: VM, wanted: dict[str, str]) -> bool:
    return all(vm.tags.get(k) == v for k, v in wanted.items())


def _machines(client: ComputeManagementClient, rg: str) -> list[VM]:
    with azure_errors(f"list the VMs of resource group {rg}", READ_VMS, gone=AzureError):
        return [vm_from_machine(m) for m in client.virtual_machines.list(rg, expand="instanceView")]


def _uniform_scale_sets(client: ComputeManagementClient, rg: str) -> list[str]:
    with azure_errors(f"list the scale sets of resource group {rg}", READ_SCALE_SETS, gone=AzureError):
        scale_sets = client.virtual_machine_scale_sets.list(rg)
        return [str(s.name) for s in scale_sets if _orchestration(s) != "Flexible"]


def _instances(client: ComputeManagementClient, rg: str, name: str) -> list[VM]:
    with azure_errors(f"list the instances of scale set {rg}/{name}", READ_SCALE_SET_VMS, gone=AzureError):
        pages = client.virtual_machine_scale_set_vms.list(rg, name, expand="instanceView")
        return [vm_from_instance(instance, name) for instance in pages]


def _orchestration(scale_set: Any) -> str:
    properties = scale_set.properties
    mode = properties.orchestration_mode if properties else None
    return str(getattr(mode, "value", mode) or "Uniform")  # an SDK enum's str() is its name, not value


def snapshot(vms: Iterable[VM], captured_at: dt.datetime) -> Fleet:
    """A fleet as `udroll discover` writes it (whole seconds, so a snapshot file reads back equal)."""
    return Fleet(captured_at=captured_at.replace(microsecond=0), vms=tuple(vms))
