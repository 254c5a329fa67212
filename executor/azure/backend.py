"""The ComputeBackend over azure-mgmt-compute (DESIGN §3, §9): the runner's only door to Azure.

- ``list_vms``: discovery (executor.azure.discovery), one list request per page.
- ``status``: one VM's instance view, read fresh.
- ``start_maintenance`` / ``start_scale_set_maintenance``: ``begin_perform_maintenance``, returning
  the poller's continuation token at once (the runner journals it before looking again).
- ``poll``: resumes from the token on this (or any new) client and looks once; it never loops, so
  it never blocks for long: the runner decides when to look again.

Errors come out as planner.errors classes: 409 -> NotEligibleError, 404 -> VMGoneError, 401 ->
AuthenticationError, 403 -> AuthorizationError naming the missing permission.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError
from azure.core.polling import LROPoller
from azure.core.polling.base_polling import StatusCheckPolling
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.core.polling.arm_polling import ARMPolling

from executor.azure.discovery import (
    UnknownValue,
    Warn,
    discover,
    maintenance_from,
    power_state_from,
)
from executor.azure.errors import (
    PERFORM_SCALE_SET,
    PERFORM_SCALE_SET_VM,
    PERFORM_VM,
    READ_INSTANCE_VIEW,
    READ_OPERATIONS,
    READ_SCALE_SET_VM_INSTANCE_VIEW,
    READ_SCALE_SET_VMS,
    READ_VMS,
    azure_errors,
    azure_message,
)
from executor.azure.ids import VMRef, parse_vm_id
from executor.azure.tokens import check_token
from executor.run.backend import Operation, OperationResult, VMStatus
from executor.run.clock import Clock, SystemClock
from planner.errors import AuthorizationError, AzureError, InputError
from planner.fleet import VM

if TYPE_CHECKING:
    from executor.azure.pacing import PacedRetryPolicy

# Sweeps (list_all statusOnly) spend at most half of Compute's HighCostGet windows, 160 requests per 3
# minutes and 800 per 30 (docs: "Troubleshooting throttling errors in Azure"), and at most half of what
# Azure says is left in them: the rest stays for the scale set lists, discovery and whoever else
# shares the subscription
SWEEP_BUDGET = ((180.0, 80), (1800.0, 400))  # (window in seconds, pages)
SWEEP_POLICIES = ("HighCostGet3Min", "HighCostGet30Min")


class _LookedOnce(Exception):
    """Raised instead of sleeping between two status requests: one look is all ``poll`` wants."""


class _OneLook(ARMPolling):
    """ARM polling that asks for the operation's status once (then, if it ended, does the final GET)."""

    def _delay(self) -> None:
        raise _LookedOnce

    def run(self) -> None:
        with contextlib.suppress(_LookedOnce):
            super().run()


class _NoLook(ARMPolling):
    """ARM polling that does not poll: used when starting, where only the continuation token matters."""

    def run(self) -> None:
        return None


class AzureBackend:
    """executor.run.backend.ComputeBackend over one ComputeManagementClient (one subscription)."""

    def __init__(
        self,
        client: ComputeManagementClient,
        subscription: str,
        *,
        clock: Clock | None = None,
        policy: PacedRetryPolicy | None = None,
        polling_interval: float = 30.0,
        poll_timeout: float = 120.0,
        endpoint: str = "",
    ):
        self.client = client
        self.subscription = subscription
        self.clock = clock or SystemClock()
        self.policy = policy
        self.polling_interval = polling_interval
        self.poll_timeout = (
            poll_timeout  # real seconds one look may take (retries included) before "not done"
        )
        self.endpoint = endpoint
        self.warnings: list[str] = []  # VMs discovery left out, and why
        self._sweeps: list[tuple[float, int]] = []  # (clock timestamp, pages) of the recent sweeps
        self._sweep_pages = 0  # pages the last sweep took (0: none yet)
        self._sweep_refused = False  # a role assigned on resource groups only may not list them all
        self._sweep_lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> AzureBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- fleet -------------------------------------------------------------------------------

    def list_vms(self, resource_groups: list[str] | None = None) -> list[VM]:
        return list(self.iter_vms(resource_groups))

    def iter_vms(
        self,
        resource_groups: list[str] | None = None,
        tags: dict[str, str] | None = None,
        warn: Warn | None = None,
    ) -> Iterator[VM]:
        """Like list_vms; ``tags`` must all match. A VM left out is told to ``warn`` and kept in
        ``warnings``."""

        def heard(message: str) -> None:
            self.warnings.append(message)
            if warn is not None:
                warn(message)

        return discover(self.client, resource_groups, tags, warn=heard)

    def status(self, vm: str) -> VMStatus:
        ref = self._ref(vm)
        if ref.scale_set:
            with azure_errors(f"read the instance view of {_short(ref)}", READ_SCALE_SET_VM_INSTANCE_VIEW):
                view: Any = self.client.virtual_machine_scale_set_vms.get_instance_view(
                    ref.resource_group, ref.scale_set, ref.name
                )
        else:
            with azure_errors(f"read the instance view of {_short(ref)}", READ_INSTANCE_VIEW):
                view = self.client.virtual_machines.instance_view(ref.resource_group, ref.name)
        return status_from(vm, view)

    def sweep_cost(self, estimate: int) -> int | None:
        """Pages a sweep costs (the last one's count, else ``estimate``), or None while the sweeps of
        the last 3 or 30 minutes spent their share of the HighCostGet budget (SWEEP_BUDGET), or
        Azure's answers say less than twice that is left."""
        pages = self._sweep_pages or max(1, estimate)
        if self._sweep_refused:
            return None
        if self.policy is not None:
            left = [self.policy.pacer.left(window) for window in SWEEP_POLICIES]
            if any(n is not None and n < 2 * pages for n in left):
                return None
        now = self.clock.now().timestamp()
        with self._sweep_lock:
            self._sweeps = [(at, n) for at, n in self._sweeps if now - at < SWEEP_BUDGET[-1][0]]
            for span, budget in SWEEP_BUDGET:
                if sum(n for at, n in self._sweeps if now - at < span) + pages > budget:
                    return None
        return pages

    def sweep(self) -> dict[str, VMStatus]:
        """Every VM resource's run-time status from ``list_all(status_only="true")`` (documented: "run
        time status of all Virtual Machines in the subscription"), one request per page."""
        at, pages, found = self.clock.now().timestamp(), 0, {}
        what = "list the run-time status of the subscription's VMs"
        try:
            with azure_errors(what, READ_VMS, gone=AzureError):
                for page in self.client.virtual_machines.list_all(status_only="true").by_page():
                    pages += 1
                    for m in page:
                        found[str(m.id).lower()] = _swept(str(m.id), m.instance_view)
            self._sweep_pages = pages  # a sweep cut short does not say what a whole one costs
        except AuthorizationError:
            self._sweep_refused = True  # read VM by VM from now on
            raise
        finally:
            with self._sweep_lock:
                self._sweeps.append((at, pages))
        return found

    def statuses(self, vms: list[VM]) -> dict[str, VMStatus]:
        """Statuses of scale set members with one list per scale set (two or more members wanted):
        uniform instances from the instance list with ``$expand=instanceView``, flexible members from
        the VM list filtered to their scale set (the only documented way to expand a VM list).
        Others are left to :meth:`status`; a listed VM without an instance view comes back unknown.
        Every member a list showed is in the answer, wanted or not (the live guard reads the others)."""
        sets: dict[tuple[str, str, str], list[VM]] = {}
        for vm in vms:
            if vm.scale_set and vm.orchestration in ("Uniform", "Flexible"):
                key = (vm.orchestration, vm.resource_group.lower(), vm.scale_set.lower())
                sets.setdefault(key, []).append(vm)
        found: dict[str, VMStatus] = {}
        for (kind, _, _), members in sets.items():
            if len(members) < 2:
                continue
            listed = (
                self._uniform_views(members[0]) if kind == "Uniform" else self._flexible_views(members[0])
            )
            found.update(listed)
            for vm in members:
                found[vm.id.lower()] = listed.get(vm.id.lower()) or VMStatus.unknown(
                    vm.id, "not in its scale set's list"
                )
        return found

    def _uniform_views(self, vm: VM) -> dict[str, VMStatus]:
        rg, name = vm.resource_group, str(vm.scale_set)
        with azure_errors(
            f"list the instances of scale set {rg}/{name}", READ_SCALE_SET_VMS, gone=AzureError
        ):
            pages = self.client.virtual_machine_scale_set_vms.list(rg, name, expand="instanceView")
            return {str(i.id).lower(): status_from(str(i.id), i.instance_view) for i in pages}

    def _flexible_views(self, vm: VM) -> dict[str, VMStatus]:
        rg = vm.resource_group
        scale_set = (
            f"/subscriptions/{vm.subscription}/resourceGroups/{rg}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/{vm.scale_set}"
        )
        flt = f"virtualMachineScaleSet/id eq '{scale_set}'"
        with azure_errors(f"list the members of scale set {rg}/{vm.scale_set}", READ_VMS, gone=AzureError):
            pages = self.client.virtual_machines.list(rg, filter=flt, expand="instanceView")
            return {str(m.id).lower(): status_from(str(m.id), m.instance_view) for m in pages}

    # --- perform-maintenance -----------------------------------------------------------------

    def start_maintenance(self, vm: str) -> Operation:
        ref = self._ref(vm)
        if ref.scale_set:
            with azure_errors(f"start maintenance on {_short(ref)}", PERFORM_SCALE_SET_VM):
                poller = self.client.virtual_machine_scale_set_vms.begin_perform_maintenance(
                    ref.resource_group, ref.scale_set, ref.name, polling=self._no_look()
                )
        else:
            with azure_errors(f"start maintenance on {_short(ref)}", PERFORM_VM):
                poller = self.client.virtual_machines.begin_perform_maintenance(
                    ref.resource_group, ref.name, polling=self._no_look()
                )
        token = check_token(poller.continuation_token(), f"the maintenance operation of {_short(ref)}")
        return Operation(vm=vm, token=token)

    def start_scale_set_maintenance(self, vms: list[str]) -> list[Operation]:
        """Start several instances of one uniform scale set in one call (one operation, one token)."""
        refs = [self._ref(vm) for vm in vms]
        scale_sets = {
            (r.subscription.lower(), r.resource_group.lower(), (r.scale_set or "").lower()) for r in refs
        }
        if not refs or len(scale_sets) != 1 or not refs[0].scale_set:
            raise InputError("start_scale_set_maintenance takes instances of one uniform scale set")
        first, scale_set = refs[0], refs[0].scale_set
        ids = [r.name for r in refs]
        with azure_errors(
            f"start maintenance on {first.resource_group}/{first.scale_set} instances {', '.join(ids)}",
            PERFORM_SCALE_SET,
        ):
            # the SDK spells the keyword vm_instance_i_ds: pass it positionally
            body: Any = {"instanceIds": ids}
            poller = self.client.virtual_machine_scale_sets.begin_perform_maintenance(
                first.resource_group, scale_set, body, polling=self._no_look()
            )
        token = check_token(poller.continuation_token(), f"the maintenance operation of {first.scale_set}")
        return [Operation(vm=vm, token=token) for vm in vms]

    def poll(self, operation: Operation) -> OperationResult:
        """Look once at a started operation (from its token, so any process can do it)."""
        ref = self._ref(operation.vm)
        what = f"check the maintenance operation of {_short(ref)}"
        with azure_errors(what, READ_OPERATIONS, gone=AzureError):
            poller = self._resume(ref, operation.token)
            try:
                poller.result(timeout=self.poll_timeout)
            except HttpResponseError as exc:
                if exc.status_code in (401, 403, 404, 429) or (exc.status_code or 0) >= 500:
                    raise  # could not look: a udroll error, not a verdict on the operation
                code, message = azure_message(exc)
                return OperationResult(
                    done=True,
                    succeeded=False,
                    error=f"{code}: {message}" if code else message,
                    status="Failed",
                )
        if not poller.done():
            return OperationResult(done=False, succeeded=False)
        status = poller.status()
        # a 200 without LRO headers: Azure did it synchronously (performMaintenance may answer 200)
        synchronous = isinstance(getattr(poller.polling_method(), "_operation", None), StatusCheckPolling)
        if status.lower() == "succeeded":
            return OperationResult(done=True, succeeded=True, status="Succeeded", synchronous=synchronous)
        if status.lower() in ("failed", "canceled", "cancelled"):
            return OperationResult(
                done=True, succeeded=False, error=f"operation {status.lower()}", status=status.capitalize()
            )
        return OperationResult(done=False, succeeded=False, status=status)

    def wait(self, operation: Operation, timeout: float) -> OperationResult:
        """Poll every ``polling_interval`` (clock time) until the operation ends or ``timeout`` passes."""
        deadline = self.clock.now().timestamp() + timeout
        while True:
            result = self.poll(operation)
            if result.done or self.clock.now().timestamp() >= deadline:
                return result
            self.clock.sleep(self.polling_interval)

    # --- helpers -----------------------------------------------------------------------------

    def _resume(self, ref: VMRef, token: str) -> LROPoller[None]:
        look = _OneLook(self.polling_interval)
        check_token(token, f"the maintenance operation of {_short(ref)}")  # before the SDK decodes it
        try:
            if ref.scale_set:
                return self.client.virtual_machine_scale_set_vms.begin_perform_maintenance(
                    ref.resource_group, ref.scale_set, ref.name, continuation_token=token, polling=look
                )
            return self.client.virtual_machines.begin_perform_maintenance(
                ref.resource_group, ref.name, continuation_token=token, polling=look
            )
        except (ValueError, TypeError, KeyError) as exc:  # not a token this SDK wrote
            raise InputError(
                f"the handle of the maintenance operation of {_short(ref)} is not a continuation token "
                f"({exc}): check the journal, or read the VM's status instead"
            ) from None

    def _no_look(self) -> _NoLook:
        return _NoLook(self.polling_interval)

    def _ref(self, vm: str) -> VMRef:
        ref = parse_vm_id(vm)
        if ref.subscription.lower() != self.subscription.lower():
            raise InputError(
                f"{vm} is in subscription {ref.subscription}, but udroll is connected to "
                f"{self.subscription}: pass --subscription"
            )
        return ref


def status_from(vm: str, view: Any) -> VMStatus:
    """A VMStatus from an instance view; unknown without one, or with a value udroll does not know."""
    if view is None:
        return VMStatus.unknown(vm, "listed without an instance view")
    try:
        maintenance = maintenance_from(view.maintenance_redeploy_status)
    except UnknownValue as exc:
        return VMStatus.unknown(vm, str(exc))
    return VMStatus(vm=vm, power_state=power_state_from(view.statuses), maintenance=maintenance)


def _swept(vm: str, view: Any) -> VMStatus:
    """A sweep's status of a VM. statusOnly is documented only as "run time status": a VM shown without
    its maintenance block comes back unknown (read on its own when wanted), never taken for one with
    nothing pending — which would skip it, or hold its group as maintained by someone else."""
    if view is not None and view.maintenance_redeploy_status is None:
        return VMStatus.unknown(vm, "swept without its maintenance status")
    return status_from(vm, view)


def _short(ref: VMRef) -> str:
    return (
        f"{ref.resource_group}/{ref.scale_set}/{ref.name}"
        if ref.scale_set
        else f"{ref.resource_group}/{ref.name}"
    )
