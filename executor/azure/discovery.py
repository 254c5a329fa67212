"""Discovery (DESIGN §5): the live fleet from Azure, with only the calls Azure's contract allows.

Azure/azure-rest-api-specs, specification/compute/resource-manager/Microsoft.Compute/Compute/Compute/
VirtualMachine.tsp (interface VirtualMachines): on List and ListAll, ``$expand=instanceView`` "can only be
specified if a valid $filter option is specified" (the only filter: ``virtualMachineScaleSet/id``);
ListAll's ``statusOnly=true`` gives "run time status of all Virtual Machines in the subscription" but
drops tags (Azure/azure-sdk-for-go#18565). Update and fault domains come only from instance views. So:

- VM facts and tags: a plain ``virtual_machines.list(rg)`` per group, or ``list_all()`` for the subscription;
- their instance views: ``list_all(status_only="true")`` for the whole subscription (one page per 100
  VMs) or when many are wanted; ``list(rg, filter="virtualMachineScaleSet/id eq '...'",
  expand="instanceView")`` per flexible scale set; else one ``instance_view`` per VM (paced);
- uniform scale sets: ``virtual_machine_scale_set_vms.list(rg, name, expand="instanceView")`` (documented).

A VM listed without an instance view is read on its own; a VM udroll cannot describe (in an availability
set *and* a scale set, an enum value it does not know) is left out with a warning, never guessed at.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from azure.mgmt.compute import ComputeManagementClient
from pydantic import ValidationError

from executor.azure.errors import (
    READ_INSTANCE_VIEW,
    READ_SCALE_SET_VMS,
    READ_SCALE_SETS,
    READ_VMS,
    azure_errors,
)
from executor.azure.ids import last_segment, resource_group_of
from planner.errors import AzureError, VMGoneError
from planner.fleet import VM, Fleet, Maintenance

# Azure's enums, compared case-insensitively (ARM does not promise the case), kept in its spelling
_LAST_RESULTS = {v.lower(): v for v in ("None", "RetryLater", "MaintenanceAborted", "MaintenanceCompleted")}
_POWER_STATES = {"running", "starting", "stopping", "stopped", "deallocating", "deallocated"}
PER_VM_VIEWS_UP_TO = 50  # more standalone VMs wanted than this: one statusOnly list instead of GETs

Warn = Callable[[str], None]


class UnknownValue(ValueError):
    """Azure sent a value udroll does not know: report it, decide nothing from it."""


def maintenance_from(status: Any) -> Maintenance | None:
    """``maintenanceRedeployStatus`` -> Maintenance; absent means nothing is planned."""
    if status is None:
        return None
    raw = status.last_operation_result_code or "None"
    text = str(getattr(raw, "value", raw))  # an SDK enum or a plain string
    code: Any = _LAST_RESULTS.get(text.lower())
    if code is None:  # a code newer than this tool: never read as "None" (nothing done)
        raise UnknownValue(f"lastOperationResultCode {text!r} is not one udroll knows")
    message = status.last_operation_message
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


def vm_from_machine(machine: Any, view: Any = None) -> VM:
    """A VM (standalone, availability set member or flexible scale set member) from a list item and
    its instance view (``machine.instance_view`` when not given)."""
    view = view if view is not None else machine.instance_view
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


def discover(
    client: ComputeManagementClient,
    resource_groups: Iterable[str] | None = None,
    tags: dict[str, str] | None = None,
    *,
    workers: int = 4,
    warn: Warn | None = None,
) -> Iterator[VM]:
    """Yield every VM of the resource groups (the whole subscription when None) whose tags include
    ``tags``: VM resources first, then uniform scale set instances. ``warn`` hears of each VM left out.

    Requests, for N VMs in pages of 100: the whole subscription costs N/100 for facts, N/100 for
    statusOnly views, one per page of scale sets, one per page of each uniform scale set's instances.
    Named groups cost one per page of their VMs and one for their scale sets, plus the views (see the
    module doc). Lists run on ``workers`` threads (the pacing is shared and thread-safe).
    """
    wanted, say = tags or {}, warn or (lambda message: None)
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="udroll-discover")
    try:
        groups = list(dict.fromkeys(resource_groups or ()))
        if groups:
            machines_f = [pool.submit(_machines, client, rg) for rg in groups]
            sets_f = [pool.submit(_scale_sets, client, rg) for rg in groups]
        else:
            machines_f = [pool.submit(_machines, client, None)]
            sets_f = [pool.submit(_scale_sets, client, None)]
        machines = [m for f in machines_f for m in f.result()]
        uniform = [s for f in sets_f for s in f.result()]
        instances = [pool.submit(_instances, client, rg, name, say) for rg, name in uniform]
        views = _views(client, pool, machines, whole_subscription=not groups)
        for machine in machines:
            vm = _vm_or_warn(machine, views, client, say)
            if vm is not None and _tagged(vm, wanted):
                yield vm
        for future in instances:
            yield from (vm for vm in future.result() if _tagged(vm, wanted))
    finally:  # on an error (or a caller that stops early) the lists not yet started are not sent
        pool.shutdown(wait=True, cancel_futures=True)


def _tagged(vm: VM, wanted: dict[str, str]) -> bool:
    return all(vm.tags.get(k) == v for k, v in wanted.items())


def _machines(client: ComputeManagementClient, rg: str | None) -> list[Any]:
    """The VM resources (facts and tags, no instance view) of a group or of the subscription."""
    where = f"resource group {rg}" if rg else "the subscription"
    with azure_errors(f"list the VMs of {where}", READ_VMS, gone=AzureError):
        return list(client.virtual_machines.list(rg) if rg else client.virtual_machines.list_all())


def _scale_sets(client: ComputeManagementClient, rg: str | None) -> list[tuple[str, str]]:
    """(resource group, name) of each uniform scale set of a group or of the subscription."""
    where = f"resource group {rg}" if rg else "the subscription"
    with azure_errors(f"list the scale sets of {where}", READ_SCALE_SETS, gone=AzureError):
        found = (
            client.virtual_machine_scale_sets.list(rg) if rg else client.virtual_machine_scale_sets.list_all()
        )
        uniform = [s for s in found if _orchestration(s).lower() != "flexible"]  # enums: any case
        return [(resource_group_of(str(s.id)), str(s.name)) for s in uniform]


def _views(
    client: ComputeManagementClient,
    pool: ThreadPoolExecutor,
    machines: list[Any],
    *,
    whole_subscription: bool,
) -> dict[str, Any]:
    """Instance views by lower-case VM id, from the calls the contract allows (see the module doc)."""
    flexible: dict[tuple[str, str], None] = {}
    alone = 0
    for machine in machines:
        member = machine.virtual_machine_scale_set
        if member is not None and member.id:
            flexible[(resource_group_of(str(machine.id)), str(member.id))] = None
        else:
            alone += 1
    futures: list[Future[dict[str, Any]]] = []
    if whole_subscription or alone > PER_VM_VIEWS_UP_TO:
        futures.append(pool.submit(_status_only, client))
    elif not whole_subscription:
        futures += [pool.submit(_flexible_views, client, rg, ss) for rg, ss in flexible]
    views: dict[str, Any] = {}
    for future in futures:
        views.update(future.result())
    return views


def _status_only(client: ComputeManagementClient) -> dict[str, Any]:
    with azure_errors("list the run-time status of the subscription's VMs", READ_VMS, gone=AzureError):
        return {
            str(m.id).lower(): m.instance_view
            for m in client.virtual_machines.list_all(status_only="true")
            if m.instance_view is not None
        }


def _flexible_views(client: ComputeManagementClient, rg: str, scale_set_id: str) -> dict[str, Any]:
    flt = f"virtualMachineScaleSet/id eq '{scale_set_id}'"
    with azure_errors(f"list the members of scale set {scale_set_id}", READ_VMS, gone=AzureError):
        members = client.virtual_machines.list(rg, filter=flt, expand="instanceView")
        return {str(m.id).lower(): m.instance_view for m in members if m.instance_view is not None}


def _vm_or_warn(machine: Any, views: dict[str, Any], client: ComputeManagementClient, say: Warn) -> VM | None:
    """The VM of a list item, its instance view read on its own when no list brought it; None (with a
    warning) when udroll cannot describe it or it went away meanwhile."""
    view = views.get(str(machine.id).lower())
    try:
        if view is None:
            rg = resource_group_of(str(machine.id))
            with azure_errors(f"read the instance view of {rg}/{machine.name}", READ_INSTANCE_VIEW):
                view = client.virtual_machines.instance_view(rg, machine.name)
        return vm_from_machine(machine, view)
    except VMGoneError:
        say(f"{machine.id}: gone while being discovered; left out")
    except (UnknownValue, ValidationError) as exc:
        say(f"{machine.id}: {_reason(exc)}; left out of planning")
    return None


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return str(exc)


def _instances(client: ComputeManagementClient, rg: str, name: str, say: Warn) -> list[VM]:
    with azure_errors(f"list the instances of scale set {rg}/{name}", READ_SCALE_SET_VMS, gone=AzureError):
        pages = client.virtual_machine_scale_set_vms.list(rg, name, expand="instanceView")
        found = []
        for instance in pages:
            try:
                found.append(vm_from_instance(instance, name))
            except (UnknownValue, ValidationError) as exc:
                say(f"{instance.id}: {_reason(exc)}; left out of planning")
        return found


def _orchestration(scale_set: Any) -> str:
    properties = scale_set.properties
    mode = properties.orchestration_mode if properties else None
    return str(getattr(mode, "value", mode) or "Uniform")  # an SDK enum's str() is its name, not value


def snapshot(vms: Iterable[VM], captured_at: dt.datetime) -> Fleet:
    """A fleet as `udroll discover` writes it (whole seconds, so a snapshot file reads back equal)."""
    return Fleet(captured_at=captured_at.replace(microsecond=0), vms=tuple(vms))
