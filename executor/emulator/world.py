"""The emulated Compute resources and their maintenance state machine, in simulated time.

Nothing here knows HTTP. Every method takes ``now`` (the emulator's clock) and the state is settled
lazily: a maintenance run is fixed when it starts (its outcome and end time are known from the
faults), so reading the state at any later instant gives the same answer a ticking Azure would.

One perform-maintenance on a VM is a :class:`Run`:

    outcome    VM down?                   ends after       afterwards
    completed  yes, for the whole run     the duration     running; MaintenanceCompleted, not allowed
    aborted    yes, for half the run      half the duration running; pending, MaintenanceAborted
    retry_later no                        30 s             running; pending, RetryLater

While a VM is down its PowerState walks stopping → stopped → starting; the ProvisioningState is
``updating``. :meth:`World.refusal` says why a VM may not start maintenance now (a 409).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field
from typing import Literal

from executor.emulator.faults import SLOW_WARMUP, Faults, VMFaults
from planner.fleet import VM, Fleet, Maintenance
from planner.load import NO_SUBSCRIPTION

Outcome = Literal["completed", "aborted", "retry_later"]
RETRY_LATER_AFTER = dt.timedelta(seconds=30)

_RESULT = {"completed": "MaintenanceCompleted", "aborted": "MaintenanceAborted", "retry_later": "RetryLater"}


@dataclass
class Run:
    """One perform-maintenance of one VM, fixed when it starts."""

    operation: str
    outcome: Outcome
    started: dt.datetime
    ends: dt.datetime
    settled: bool = False

    @property
    def reboots(self) -> bool:
        return self.outcome != "retry_later"

    def active(self, now: dt.datetime) -> bool:
        return self.started <= now < self.ends


@dataclass
class SimVM:
    """A VM (or scale set instance) as the emulator sees it: fleet facts plus live state."""

    vm: VM
    faults: VMFaults
    power: str
    maintenance: Maintenance | None
    run: Run | None = None
    attempts: int = 0
    booted: dt.datetime | None = None  # when it last came back from a maintenance reboot

    @property
    def id(self) -> str:
        return self.vm.id

    def settle(self, now: dt.datetime) -> None:
        run = self.run
        if run is None or run.settled or now < run.ends:
            return
        run.settled = True
        current = self.maintenance or Maintenance(customer_initiated_allowed=True)
        result = _RESULT[run.outcome]
        changes: dict[str, object] = {"last_result": result, "last_message": _MESSAGES[run.outcome]}
        if run.outcome == "completed":
            changes["customer_initiated_allowed"] = False
        self.maintenance = current.model_copy(update=changes)
        if run.reboots:
            self.booted = run.ends
            # a redeploy brings the VM back as it was; only a stopped VM stays stopped
            self.power = "stopped" if self.power == "stopped" else "running"

    def power_state(self, now: dt.datetime) -> str:
        self.settle(now)
        run = self.run
        if run is not None and run.reboots and run.active(now):
            progress = (now - run.started) / (run.ends - run.started)
            return "stopping" if progress < 0.1 else "stopped" if progress < 0.7 else "starting"
        return self.power

    def provisioning_state(self, now: dt.datetime) -> str:
        run = self.run
        return "updating" if run is not None and run.reboots and run.active(now) else "succeeded"


_MESSAGES: dict[str, str] = {
    "completed": "Maintenance completed successfully.",
    "aborted": "Maintenance was aborted; Azure will reschedule it.",
    "retry_later": "Maintenance could not start now: retry later.",
}


@dataclass
class Operation:
    """A long-running perform-maintenance (on one VM, or on scale set instances)."""

    id: str
    subscription: str
    location: str
    target: str  # the VM or scale set the POST named
    runs: list[tuple[SimVM, Run]]
    started: dt.datetime
    client_request_id: str | None = None

    @property
    def ends(self) -> dt.datetime:
        return max((run.ends for _, run in self.runs), default=self.started)

    def status(self, now: dt.datetime) -> tuple[str, dict[str, str] | None]:
        """``InProgress``, ``Succeeded`` or ``Failed`` with a CloudError-shaped error."""
        if now < self.ends:
            return "InProgress", None
        for sim, run in self.runs:
            if run.outcome == "aborted":
                return "Failed", {
                    "code": "MaintenanceAborted",
                    "message": f"Maintenance of VM '{sim.vm.name}' was aborted: Azure marked it "
                    "skipped and will reschedule it.",
                }
            if run.outcome == "retry_later":
                return "Failed", {
                    "code": "RetryLater",
                    "message": f"Maintenance of VM '{sim.vm.name}' could not start now: retry later.",
                }
        return "Succeeded", None

    @property
    def vm_ids(self) -> list[str]:
        return [sim.id for sim, _ in self.runs]


@dataclass
class Group:
    """An availability set or a scale set, derived from its members in the fleet."""

    kind: Literal["availabilitySets", "virtualMachineScaleSets"]
    subscription: str
    resource_group: str
    name: str
    location: str
    orchestration: str | None
    members: list[SimVM] = field(default_factory=list)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Compute/{self.kind}/{self.name}"
        )


def subscription_of(vm: VM) -> str:
    return vm.subscription or NO_SUBSCRIPTION


class World:
    """All emulated resources, indexed the ways the routes look them up; guarded by one lock."""

    def __init__(self, fleet: Fleet, faults: Faults, epoch: dt.datetime):
        self.lock = threading.RLock()
        self.faults = faults
        self.epoch = epoch
        self.vms: list[SimVM] = []
        self.by_id: dict[str, SimVM] = {}
        self.by_ref: dict[str, SimVM] = {}
        self.resource_groups: dict[str, set[str]] = {}  # subscription -> lower-case rg names
        self.groups: dict[tuple[str, str, str, str], Group] = {}  # (kind, sub, rg, name), lower case
        self.operations: dict[str, Operation] = {}
        # VM resources (not uniform instances) by (subscription, rg) and (subscription, None), in fleet order
        self.vm_resources: dict[tuple[str, str | None], list[SimVM]] = {}
        for vm in fleet.vms:
            maintenance = vm.maintenance
            if maintenance is not None and maintenance.opens_later(epoch):  # allowed once it opens
                maintenance = maintenance.model_copy(update={"customer_initiated_allowed": True})
            sim = SimVM(vm, faults.for_vm(vm.ref), vm.power_state, maintenance)
            self.vms.append(sim)
            self.by_id[vm.id.lower()] = sim
            self.by_ref[vm.ref.lower()] = sim
            sub = subscription_of(vm).lower()
            self.resource_groups.setdefault(sub, set()).add(vm.resource_group.lower())
            if vm.orchestration != "Uniform":
                for key in ((sub, vm.resource_group.lower()), (sub, None)):
                    self.vm_resources.setdefault(key, []).append(sim)
            if vm.availability_set:
                self._group("availabilitySets", vm, vm.availability_set, None).members.append(sim)
            if vm.scale_set:
                self._group("virtualMachineScaleSets", vm, vm.scale_set, vm.orchestration).members.append(sim)
        if not self.resource_groups:
            self.resource_groups[NO_SUBSCRIPTION] = set()
        counts: dict[str, int] = {}
        for vm in fleet.vms:
            counts[subscription_of(vm)] = counts.get(subscription_of(vm), 0) + 1
        self.subscription = max(counts, key=lambda s: counts[s]) if counts else NO_SUBSCRIPTION

    def _group(
        self,
        kind: Literal["availabilitySets", "virtualMachineScaleSets"],
        vm: VM,
        name: str,
        orchestration: str | None,
    ) -> Group:
        sub = subscription_of(vm)
        key = (kind, sub.lower(), vm.resource_group.lower(), name.lower())
        if key not in self.groups:
            self.groups[key] = Group(kind, sub, vm.resource_group, name, vm.location, orchestration)
        return self.groups[key]

    # -- look-ups (None when absent; the routes turn that into the right 404) ------------------

    def has_subscription(self, sub: str) -> bool:
        return sub.lower() in self.resource_groups

    def has_resource_group(self, sub: str, rg: str) -> bool:
        return rg.lower() in self.resource_groups.get(sub.lower(), set())

    def vm(self, sub: str, rg: str, name: str) -> SimVM | None:
        """A VM resource (standalone, availability set or flexible scale set member)."""
        sim = self.by_id.get(
            f"/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.compute/"
            f"virtualmachines/{name}".lower()
        )
        return sim if sim and sim.vm.orchestration != "Uniform" else None

    def instance(self, sub: str, rg: str, vmss: str, instance_id: str) -> SimVM | None:
        sim = self.by_id.get(
            f"/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.compute/"
            f"virtualmachinescalesets/{vmss}/virtualmachines/{instance_id}".lower()
        )
        return sim if sim and sim.vm.orchestration == "Uniform" else None

    def group(self, kind: str, sub: str, rg: str, name: str) -> Group | None:
        return self.groups.get((kind, sub.lower(), rg.lower(), name.lower()))

    def list_groups(self, kind: str, sub: str, rg: str | None = None) -> list[Group]:
        return [
            g
            for (k, s, r, _), g in self.groups.items()
            if k == kind and s == sub.lower() and (rg is None or r == rg.lower())
        ]

    def list_vms(self, sub: str, rg: str | None = None) -> list[SimVM]:
        """VM resources (not uniform scale set instances) of a subscription or resource group."""
        return self.vm_resources.get((sub.lower(), rg.lower() if rg else None), [])

    def find(self, vm: str) -> SimVM | None:
        """A VM by ARM id or by ref."""
        return self.by_id.get(vm.lower()) or self.by_ref.get(vm.lower())

    # -- maintenance ---------------------------------------------------------------------------

    def refusal(self, sim: SimVM, now: dt.datetime) -> str | None:
        """Why perform-maintenance is not allowed on this VM now, or None when it is."""
        sim.settle(now)
        name = sim.vm.name
        prefix = f"Operation 'performMaintenance' is not allowed on VM '{name}' since"
        if sim.faults.not_eligible:
            return recorded_refusal(name)
        if sim.run is not None and sim.run.active(now):
            return f"{prefix} the VM is already under maintenance (operation {sim.run.operation})."
        status = sim.maintenance
        if status is None:
            return f"{prefix} no maintenance is pending for it."
        if status.last_result == "MaintenanceCompleted":
            return f"{prefix} maintenance has already been completed on it."
        if not status.customer_initiated_allowed:
            return (
                f"{prefix} customer-initiated maintenance is not allowed on it "
                "(isCustomerInitiatedMaintenanceAllowed is false)."
            )
        window = status.self_service_window
        if window is not None and not window[0] <= now <= window[1]:
            return (
                f"{prefix} it is outside its self-service maintenance window "
                f"{_iso(window[0])} to {_iso(window[1])} (now {_iso(now)})."
            )
        if sim.power in ("deallocated", "deallocating"):
            return f"{prefix} the VM is deallocated: start it first."
        return None

    def start(
        self, target: str, sims: list[SimVM], now: dt.datetime, client_request_id: str | None
    ) -> Operation:
        """Start maintenance on every VM in ``sims`` (all checked eligible by the caller)."""
        op_id = str(uuid.uuid4())
        runs = []
        for sim in sims:
            f = sim.faults
            n = sim.attempts
            sim.attempts += 1
            duration = dt.timedelta(
                seconds=f.duration if f.duration is not None else self.faults.maintenance_duration
            )
            outcome: Outcome
            if n < f.retry_later:
                outcome, length = "retry_later", RETRY_LATER_AFTER
            elif n < f.retry_later + f.abort:
                outcome, length = "aborted", duration / 2
            else:
                outcome, length = "completed", duration
            run = Run(op_id, outcome, now, now + length)
            sim.run = run
            runs.append((sim, run))
        location = sims[0].vm.location if sims else ""
        op = Operation(
            op_id,
            subscription_of(sims[0].vm) if sims else self.subscription,
            location or "local",
            target,
            runs,
            now,
            client_request_id,
        )
        self.operations[op_id] = op
        return op

    # -- application health ----------------------------------------------------------------------

    def health(self, sim: SimVM, now: dt.datetime) -> tuple[bool, str]:
        """Whether the VM's application answers healthy now, and a word for why not."""
        power = sim.power_state(now)
        if sim.run is not None and sim.run.reboots and sim.run.active(now):
            return False, "rebooting"
        if power != "running":
            return False, power
        f = sim.faults
        if f.health == "never":
            return False, "unhealthy"
        warmup = (
            f.warmup
            if f.warmup is not None
            else SLOW_WARMUP
            if f.health == "slow"
            else self.faults.health_warmup
        )
        if sim.booted is not None and now < sim.booted + dt.timedelta(seconds=warmup):
            return False, "warming up"
        if f.health == "flapping" and int((now - self.epoch).total_seconds() // f.flap_period) % 2 == 1:
            return False, "flapping"
        return True, "ok"

    # -- the read-only state view ------------------------------------------------------------------

    def snapshot(self, now: dt.datetime) -> dict[str, object]:
        vms = []
        for sim in self.vms:
            power = sim.power_state(now)
            healthy, why = self.health(sim, now)
            run = sim.run
            vms.append(
                {
                    "id": sim.id,
                    "ref": sim.vm.ref,
                    "power_state": power,
                    "maintenance": sim.maintenance.model_dump(mode="json") if sim.maintenance else None,
                    "attempts": sim.attempts,
                    "operation": None
                    if run is None
                    else {
                        "id": run.operation,
                        "outcome": run.outcome,
                        "started": _iso(run.started),
                        "ends": _iso(run.ends),
                        "active": run.active(now),
                    },
                    "healthy": healthy,
                    "health": why,
                }
            )
        return {
            "now": _iso(now),
            "epoch": _iso(self.epoch),
            "subscription": self.subscription,
            "vms": vms,
            "operations": [
                {
                    "id": op.id,
                    "target": op.target,
                    "vms": op.vm_ids,
                    "started": _iso(op.started),
                    "ends": _iso(op.ends),
                    "status": op.status(now)[0],
                }
                for op in self.operations.values()
            ],
        }


def recorded_refusal(name: str) -> str:
    """The 409 message Azure was recorded sending (Azure/azure-sdk-for-python, sdk/compute/
    azure-mgmt-compute/tests/recordings/test_mgmt_compute_vmss.pyTestMgmtComputetest_compute_vmss_
    perform_maintenance.json), for the scale set call and the instance call alike."""
    return (
        f"Operation 'performMaintenance' is not allowed on VM '{name}' "
        "since the Subscription of this VM is not eligible."
    )


def _iso(value: dt.datetime) -> str:
    """ARM's timestamp form: UTC with a Z, fractions only when there are any."""
    value = value.astimezone(dt.timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


iso = _iso
