"""ARM resource ids of the things udroll maintains: a VM, or an instance of a uniform scale set."""

from __future__ import annotations

from dataclasses import dataclass

from planner.errors import InputError


@dataclass(frozen=True)
class VMRef:
    """Where a VM lives: ``scale_set``/``instance_id`` are set for a uniform scale set instance."""

    subscription: str
    resource_group: str
    name: str  # the VM name, or the instance id of a uniform scale set instance
    scale_set: str | None = None

    @property
    def instance_id(self) -> str | None:
        return self.name if self.scale_set else None

    @property
    def id(self) -> str:
        rg = f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
        base = f"{rg}/providers/Microsoft.Compute"
        if self.scale_set:
            return f"{base}/virtualMachineScaleSets/{self.scale_set}/virtualMachines/{self.name}"
        return f"{base}/virtualMachines/{self.name}"


def parse_vm_id(arm_id: str) -> VMRef:
    """Split ``/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/NAME``
    (or ``.../virtualMachineScaleSets/SS/virtualMachines/ID``); ARM compares names case-insensitively."""
    parts = arm_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    shape_ok = (
        len(parts) in (8, 10)
        and lowered[0] == "subscriptions"
        and lowered[2] == "resourcegroups"
        and lowered[4] == "providers"
        and lowered[5] == "microsoft.compute"
        and lowered[-2] == "virtualmachines"
        and (len(parts) == 8 or lowered[6] == "virtualmachinescalesets")
    )
    if not shape_ok or not all(parts):
        raise InputError(
            f"{arm_id!r} is not a VM id: expected /subscriptions/S/resourceGroups/RG/providers/"
            "Microsoft.Compute/virtualMachines/NAME or .../virtualMachineScaleSets/SS/virtualMachines/ID"
        )
    if len(parts) == 10:
        return VMRef(parts[1], parts[3], parts[9], scale_set=parts[7])
    return VMRef(parts[1], parts[3], parts[7])


def last_segment(arm_id: str | None) -> str | None:
    """The name at the end of a resource id (an availability set's or scale set's)."""
    return arm_id.rstrip("/").rsplit("/", 1)[-1] if arm_id else None


def resource_group_of(arm_id: str) -> str:
    parts = arm_id.strip("/").split("/")
    if len(parts) < 4 or parts[2].lower() != "resourcegroups":
        raise InputError(f"{arm_id!r} is not a resource id inside a resource group")
    return parts[3]
