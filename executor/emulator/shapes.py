"""ARM JSON of the emulated resources, in the shapes azure-mgmt-compute's models deserialize.

A faithful subset: the properties udroll and the SDK's polling read, plus the identifying ones an
operator would look for (size, OS disk, computer name); no network, extension or agent details.

Field names follow azure/mgmt/compute/models/_models.py (api-version 2026-04-01): a VM's
``properties.instanceView`` (with ``$expand=instanceView``) and the ``instanceView`` routes carry
``platformUpdateDomain``, ``platformFaultDomain``, ``statuses`` and ``maintenanceRedeployStatus``
(absent when nothing is pending). Flexible scale set members carry no update domain.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Any

from executor.emulator.world import Group, SimVM, iso
from planner.fleet import Maintenance

VM_SIZE = "Standard_D2s_v5"
_CREATED = "2026-01-05T09:00:00Z"
_POWER_TEXT = {
    "running": "VM running",
    "starting": "VM starting",
    "stopping": "VM stopping",
    "stopped": "VM stopped",
    "deallocating": "VM deallocating",
    "deallocated": "VM deallocated",
}


def redeploy_status(status: Maintenance, now: dt.datetime) -> dict[str, Any]:
    # isCustomerInitiatedMaintenanceAllowed says whether maintenance may be started *at this time*
    # (shared/seeds): false before the self-service window opens and after it closes
    window = status.self_service_window
    outside = window is not None and not window[0] <= now <= window[1]
    out: dict[str, Any] = {
        "isCustomerInitiatedMaintenanceAllowed": status.customer_initiated_allowed and not outside
    }
    if status.self_service_window:
        out["preMaintenanceWindowStartTime"] = iso(status.self_service_window[0])
        out["preMaintenanceWindowEndTime"] = iso(status.self_service_window[1])
    if status.scheduled_window:
        out["maintenanceWindowStartTime"] = iso(status.scheduled_window[0])
        out["maintenanceWindowEndTime"] = iso(status.scheduled_window[1])
    out["lastOperationResultCode"] = status.last_result
    if status.last_message:
        out["lastOperationMessage"] = status.last_message
    return out


def statuses(sim: SimVM, now: dt.datetime) -> list[dict[str, Any]]:
    power = sim.power_state(now)
    provisioning = sim.provisioning_state(now)
    out = [
        {
            "code": f"ProvisioningState/{provisioning}",
            "level": "Info",
            "displayStatus": "Provisioning succeeded" if provisioning == "succeeded" else "Updating",
            "time": iso(sim.run.started if sim.run and provisioning == "updating" else _created_at()),
        }
    ]
    if power != "unknown":
        out.append(
            {"code": f"PowerState/{power}", "level": "Info", "displayStatus": _POWER_TEXT.get(power, power)}
        )
    return out


def instance_view(sim: SimVM, now: dt.datetime) -> dict[str, Any]:
    vm = sim.vm
    view: dict[str, Any] = {"computerName": _computer_name(sim), "osName": "ubuntu", "osVersion": "22.04"}
    if vm.orchestration != "Flexible":
        if vm.update_domain is not None:
            view["platformUpdateDomain"] = vm.update_domain
        if vm.fault_domain is not None:
            view["platformFaultDomain"] = vm.fault_domain
    sim.settle(now)  # a run that has ended has changed the status
    if sim.maintenance is not None:
        view["maintenanceRedeployStatus"] = redeploy_status(sim.maintenance, now)
    view["hyperVGeneration"] = "V2"
    view["statuses"] = statuses(sim, now)
    return view


def _storage(sim: SimVM) -> dict[str, Any]:
    os_disk: dict[str, Any] = {
        "osType": "Linux",
        "name": f"{sim.vm.name}_OsDisk_1",
        "createOption": "FromImage",
        "caching": "ReadOnly" if sim.vm.ephemeral_os_disk else "ReadWrite",
        "managedDisk": {"storageAccountType": "Standard_LRS"},
        "deleteOption": "Delete",
        "diskSizeGB": 30,
    }
    if sim.vm.ephemeral_os_disk:
        os_disk["diffDiskSettings"] = {"option": "Local", "placement": "CacheDisk"}
    return {"osDisk": os_disk, "dataDisks": []}


def _computer_name(sim: SimVM) -> str:
    """Uniform instances are named like Azure names them: the scale set and the id in hex."""
    vm = sim.vm
    if vm.orchestration == "Uniform" and (vm.instance_id or "").isdigit():
        return f"{vm.scale_set}{int(vm.instance_id or 0):06x}"
    return vm.name


def _vm_id(sim: SimVM) -> str:
    return _stable_uuid(sim.id.lower())


@functools.lru_cache(maxsize=65536)
def _stable_uuid(resource_id: str) -> str:
    """The same vmId for the same VM in every answer and every run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id))


def _base(sim: SimVM, kind: str) -> dict[str, Any]:
    vm = sim.vm
    out: dict[str, Any] = {
        "name": vm.name if kind != "instance" else f"{vm.scale_set}_{vm.instance_id}",
        "id": vm.id,
        "type": "Microsoft.Compute/virtualMachines"
        if kind != "instance"
        else "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
        "location": vm.location or "westeurope",
    }
    if vm.tags:
        out["tags"] = dict(vm.tags)
    if vm.zone:
        out["zones"] = [vm.zone]
    return out


def virtual_machine(sim: SimVM, now: dt.datetime, *, expand: bool, group_id: str | None) -> dict[str, Any]:
    """A VM resource: standalone, in an availability set, or a flexible scale set member."""
    vm = sim.vm
    props: dict[str, Any] = {
        "vmId": _vm_id(sim),
        "hardwareProfile": {"vmSize": VM_SIZE},
        "storageProfile": _storage(sim),
        "osProfile": {"computerName": vm.name, "adminUsername": "azureuser"},
    }
    if vm.availability_set and group_id:
        props["availabilitySet"] = {"id": group_id}
    if vm.orchestration == "Flexible" and group_id:
        props["virtualMachineScaleSet"] = {"id": group_id}
        if vm.fault_domain is not None:
            props["platformFaultDomain"] = vm.fault_domain
    props["provisioningState"] = "Updating" if sim.provisioning_state(now) == "updating" else "Succeeded"
    props["timeCreated"] = _CREATED
    if expand:
        props["instanceView"] = instance_view(sim, now)
    out = _base(sim, "vm")
    out["properties"] = props
    return out


def status_only(sim: SimVM, now: dt.datetime) -> dict[str, Any]:
    """A VM as ``ListAll(statusOnly=true)`` lists it: its run-time status, without tags or model
    (statusOnly lists drop tags: Azure/azure-sdk-for-go#18565); the client reads the rest elsewhere."""
    out = {k: v for k, v in _base(sim, "vm").items() if k != "tags"}
    out["properties"] = {"instanceView": instance_view(sim, now)}
    return out


def scale_set_vm(sim: SimVM, now: dt.datetime, *, expand: bool) -> dict[str, Any]:
    """A uniform scale set instance (``virtualMachineScaleSets/{name}/virtualMachines/{id}``)."""
    vm = sim.vm
    props: dict[str, Any] = {
        "latestModelApplied": True,
        "vmId": _vm_id(sim),
        "hardwareProfile": {"vmSize": VM_SIZE},
        "storageProfile": _storage(sim),
        "osProfile": {"computerName": _computer_name(sim), "adminUsername": "azureuser"},
        "provisioningState": "Updating" if sim.provisioning_state(now) == "updating" else "Succeeded",
        "timeCreated": _CREATED,
    }
    if expand:
        props["instanceView"] = instance_view(sim, now)
    out = _base(sim, "instance")
    out["instanceId"] = vm.instance_id
    out["sku"] = {"name": VM_SIZE, "tier": "Standard"}
    out["properties"] = props
    return out


def availability_set(group: Group) -> dict[str, Any]:
    uds = [m.vm.update_domain for m in group.members if m.vm.update_domain is not None]
    fds = [m.vm.fault_domain for m in group.members if m.vm.fault_domain is not None]
    return {
        "name": group.name,
        "id": group.id,
        "type": "Microsoft.Compute/availabilitySets",
        "location": group.location or "westeurope",
        "sku": {"name": "Aligned"},
        "properties": {
            "platformUpdateDomainCount": max(max(uds, default=4) + 1, 5),
            "platformFaultDomainCount": max(max(fds, default=1) + 1, 2),
            "virtualMachines": [{"id": m.id} for m in group.members],
        },
    }


def scale_set(group: Group) -> dict[str, Any]:
    zones = sorted({m.vm.zone for m in group.members if m.vm.zone})
    fds = [m.vm.fault_domain for m in group.members if m.vm.fault_domain is not None]
    props: dict[str, Any] = {
        "orchestrationMode": group.orchestration or "Uniform",
        "provisioningState": "Succeeded",
        "uniqueId": str(uuid.uuid5(uuid.NAMESPACE_URL, group.id.lower())),
        "platformFaultDomainCount": max(fds, default=0) + 1 if fds else 1,
        "timeCreated": _CREATED,
    }
    if group.orchestration != "Flexible":
        props["upgradePolicy"] = {"mode": "Manual"}
        props["overprovision"] = False
        props["singlePlacementGroup"] = True
    out: dict[str, Any] = {
        "name": group.name,
        "id": group.id,
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": group.location or "westeurope",
        "sku": {"name": VM_SIZE, "tier": "Standard", "capacity": len(group.members)},
        "properties": props,
    }
    if zones:
        out["zones"] = zones
    return out


def scale_set_instance_view(group: Group, now: dt.datetime) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for member in group.members:
        code = f"ProvisioningState/{member.provisioning_state(now)}"
        counts[code] = counts.get(code, 0) + 1
    return {
        "virtualMachine": {"statusesSummary": [{"code": c, "count": n} for c, n in sorted(counts.items())]},
        "statuses": [
            {
                "code": "ProvisioningState/succeeded",
                "level": "Info",
                "displayStatus": "Provisioning succeeded",
                "time": _CREATED,
            }
        ],
    }


def _created_at() -> dt.datetime:
    return dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)
