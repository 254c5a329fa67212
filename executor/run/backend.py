"""The ComputeBackend seam (DESIGN §3): the handful of Azure operations the runner needs.

One implementation talks to Azure through azure-mgmt-compute (executor.azure.backend); tests of the
runner may inject a scripted backend; end-to-end tests use the real SDK against the emulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from planner.fleet import VM, Maintenance


@dataclass(frozen=True)
class VMStatus:
    """A fresh read of one VM: its power state and `maintenanceRedeployStatus` (None if absent).

    ``known`` is False when Azure gave no instance view for it (a list without one) or one with a value
    udroll does not know (``note`` says which): nothing may be decided from it — read it again alone.
    """

    vm: str  # ARM id
    power_state: str  # "running", "stopped", "deallocated", "starting", ... or "unknown"
    maintenance: Maintenance | None
    known: bool = True
    note: str = ""

    @classmethod
    def unknown(cls, vm: str, note: str) -> VMStatus:
        return cls(vm, "unknown", None, known=False, note=note)


@dataclass(frozen=True)
class Operation:
    """A started perform-maintenance: ``token`` is the poller's continuation token (durable)."""

    vm: str
    token: str


@dataclass(frozen=True)
class OperationResult:
    """One look at a perform-maintenance: ``status`` is Azure's terminal status (Succeeded, Failed,
    Canceled) once ``done``; a synchronous 200 is done and Succeeded with ``synchronous`` set."""

    done: bool
    succeeded: bool
    error: str | None = None  # Azure's message when the long-running operation failed
    status: str = ""
    synchronous: bool = False


class ComputeBackend(Protocol):
    def list_vms(self, resource_groups: list[str] | None = None) -> list[VM]:
        """Fleet facts of every VM (standalone, availability set, scale set members)."""
        ...

    def status(self, vm: str) -> VMStatus:
        """Read one VM's power state and maintenance status fresh from Azure."""
        ...

    def start_maintenance(self, vm: str) -> Operation:
        """Call perform-maintenance on one VM or scale set instance; raises NotEligibleError (409)."""
        ...

    def poll(self, operation: Operation) -> OperationResult:
        """One look at a started operation, resumable from its token in a new process."""
        ...


@runtime_checkable
class BatchMaintenance(Protocol):
    """A backend that can start several instances of one uniform scale set in one call."""

    def start_scale_set_maintenance(self, vms: list[str]) -> list[Operation]:
        """One perform-maintenance for all ``vms`` (instances of one scale set): one operation each."""
        ...


@runtime_checkable
class BatchStatus(Protocol):
    """A backend that reads the status of many scale set members with one list per scale set."""

    def statuses(self, vms: list[VM]) -> dict[str, VMStatus]:
        """Statuses by lower-case id of the ``vms`` a scale set list covers (others: ``status``), and
        of the other members the lists showed."""
        ...


@runtime_checkable
class StatusSweep(Protocol):
    """A backend that reads the run-time status of every VM resource of the subscription with one paged
    list (uniform scale set instances are not VM resources: they are not in it)."""

    def sweep_cost(self, estimate: int) -> int | None:
        """Requests (pages) a sweep costs — ``estimate`` until a first sweep counted them — or None when
        the subscription's budget for lists cannot spare one now."""
        ...

    def sweep(self) -> dict[str, VMStatus]:
        """Statuses by lower-case id of every VM resource of the subscription (unknown without a view)."""
        ...
