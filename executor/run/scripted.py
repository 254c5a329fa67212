"""A scripted, in-memory ComputeBackend for runner tests (a fake that is part of the product).

It follows the emulator's maintenance state machine (executor/emulator/world.py) without HTTP:
a perform-maintenance keeps the VM down (stopping → stopped → starting) for ``duration`` seconds of
the injected clock and ends MaintenanceCompleted, or — as scripted per VM — RetryLater (after 30 s,
VM untouched) or MaintenanceAborted (after half the duration). Health is scripted too ("ok",
"never" healthy after maintenance, "down" even before it, "flapping", a warm-up), and
:meth:`ScriptedBackend.prober` plugs it into the runner in place of real HTTP probes. ``outages``
make every call raise a transient :class:`AzureError`.

``calls`` records every call with its clock time: the ground truth tests check the runner against.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from executor.run.backend import Operation, OperationResult, VMStatus
from executor.run.clock import Clock
from executor.run.gates import Check, Probe, Target
from planner.errors import AzureError, NotEligibleError, VMGoneError
from planner.fleet import VM, Fleet, Maintenance

RETRY_LATER_S = 30.0


@dataclass(frozen=True)
class VMScript:
    retry_later: int = 0  # the first N attempts end RetryLater
    abort: int = 0  # the next N attempts end MaintenanceAborted
    duration: float | None = None  # seconds the VM is down (default: the backend's)
    health: str = "ok"  # ok | never (after its maintenance) | down (before it too) | flapping
    warmup: float = 0.0  # unhealthy this long after coming back
    flap_period: float = 120.0


@dataclass
class _Run:
    token: str
    outcome: str  # completed | aborted | retry_later
    started: dt.datetime
    ends: dt.datetime
    settled: bool = False


@dataclass
class _SimVM:
    vm: VM
    script: VMScript
    maintenance: Maintenance | None
    power: str
    run: _Run | None = None
    attempts: int = 0
    booted: dt.datetime | None = None
    history: list[_Run] = field(default_factory=list)


class ScriptedBackend:
    """In-memory Azure for the runner: see the module docstring."""

    def __init__(
        self,
        fleet: Fleet,
        clock: Clock,
        duration: float = 600.0,
        scripts: dict[str, VMScript] | None = None,
        outages: Sequence[tuple[dt.datetime, dt.datetime]] = (),
    ):
        self.clock = clock
        self.duration = duration
        self.outages = list(outages)
        self.vms = {
            vm.id: _SimVM(vm, (scripts or {}).get(vm.id, VMScript()), vm.maintenance, vm.power_state)
            for vm in fleet.vms
        }
        self.calls: list[tuple[dt.datetime, str, str]] = []
        self._lock = threading.Lock()
        self._ops: dict[str, tuple[str, _Run]] = {}

    # --- the ComputeBackend protocol ------------------------------------------------------------

    def list_vms(self, resource_groups: list[str] | None = None) -> list[VM]:
        now = self._call("list", ",".join(resource_groups or []))
        wanted = {rg.lower() for rg in resource_groups or []}
        out = []
        for sim in self.vms.values():
            if wanted and sim.vm.resource_group.lower() not in wanted:
                continue
            self._settle(sim, now)
            out.append(
                sim.vm.model_copy(
                    update={"power_state": self._power(sim, now), "maintenance": sim.maintenance}
                )
            )
        return out

    def status(self, vm: str) -> VMStatus:
        now = self._call("status", vm)
        sim = self._sim(vm)
        self._settle(sim, now)
        return VMStatus(vm, self._power(sim, now), sim.maintenance)

    def start_maintenance(self, vm: str) -> Operation:
        now = self._call("trigger", vm)
        sim = self._sim(vm)
        self._settle(sim, now)
        why = self._refusal(sim, now)
        if why:
            raise NotEligibleError(why)
        n, s = sim.attempts, sim.script
        sim.attempts += 1
        length = s.duration if s.duration is not None else self.duration
        if n < s.retry_later:
            outcome, length = "retry_later", RETRY_LATER_S
        elif n < s.retry_later + s.abort:
            outcome, length = "aborted", length / 2
        else:
            outcome = "completed"
        token = f"op-{len(self._ops) + 1}"
        run = _Run(token, outcome, now, now + dt.timedelta(seconds=length))
        sim.run = run
        sim.history.append(run)
        self._ops[token] = (vm, run)
        return Operation(vm, token)

    def poll(self, operation: Operation) -> OperationResult:
        now = self._call("poll", operation.vm)
        _, run = self._ops[operation.token]
        if now < run.ends:
            return OperationResult(done=False, succeeded=False)
        if run.outcome == "completed":
            return OperationResult(done=True, succeeded=True)
        return OperationResult(
            done=True,
            succeeded=False,
            error="MaintenanceAborted" if run.outcome == "aborted" else "RetryLater",
        )

    # --- health, for the runner's prober seam ----------------------------------------------------

    def healthy(self, vm: str, now: dt.datetime) -> tuple[bool, str]:
        sim = self._sim(vm)
        self._settle(sim, now)
        if sim.run and sim.run.outcome != "retry_later" and sim.run.started <= now < sim.run.ends:
            return False, "rebooting"
        s = sim.script
        if s.health == "down" or (s.health == "never" and sim.booted):
            return False, "unhealthy"
        if sim.booted and now < sim.booted + dt.timedelta(seconds=s.warmup):
            return False, "warming up"
        if s.health == "flapping" and int(now.timestamp() // s.flap_period) % 2 == 1:
            return False, "flapping"
        return True, "ok"

    def prober(self, work: dict[str, tuple[Target, Sequence[Check]]]) -> dict[str, list[Probe]]:
        now = self.clock.now()
        out = {}
        for vm in work:
            ok, why = self.healthy(vm, now)
            out[vm] = [Probe("scripted", vm.rsplit("/", 1)[-1], ok, why)]
        return out

    # --- what tests look at ------------------------------------------------------------------------

    def triggers(self, vm: str | None = None) -> list[tuple[dt.datetime, str]]:
        return [(at, v) for at, kind, v in self.calls if kind == "trigger" and (vm is None or v == vm)]

    def completed(self) -> dict[str, int]:
        """How many maintenance runs ended MaintenanceCompleted, per VM."""
        return {vm: sum(1 for r in sim.history if r.outcome == "completed") for vm, sim in self.vms.items()}

    def runs(self, vm: str) -> list[tuple[dt.datetime, dt.datetime, str]]:
        return [(r.started, r.ends, r.outcome) for r in self._sim(vm).history]

    # --- internals -----------------------------------------------------------------------------

    def _call(self, kind: str, vm: str) -> dt.datetime:
        now = self.clock.now()
        with self._lock:
            self.calls.append((now, kind, vm))
        for start, end in self.outages:
            if start <= now < end:
                raise AzureError(f"Resource Manager is unavailable (503) until {end:%H:%M:%S}")
        return now

    def _sim(self, vm: str) -> _SimVM:
        try:
            return self.vms[vm]
        except KeyError:
            raise VMGoneError(f"VM {vm} was not found (404)") from None

    def _settle(self, sim: _SimVM, now: dt.datetime) -> None:
        run = sim.run
        if run is None or run.settled or now < run.ends:
            return
        run.settled = True
        current = sim.maintenance or Maintenance(customer_initiated_allowed=True)
        result = {
            "completed": "MaintenanceCompleted",
            "aborted": "MaintenanceAborted",
            "retry_later": "RetryLater",
        }[run.outcome]
        update: dict[str, object] = {"last_result": result}
        if run.outcome == "completed":
            update["customer_initiated_allowed"] = False
        sim.maintenance = current.model_copy(update=update)
        if run.outcome != "retry_later":
            sim.booted = run.ends
            sim.power = "running"

    def _power(self, sim: _SimVM, now: dt.datetime) -> str:
        run = sim.run
        if run and run.outcome != "retry_later" and run.started <= now < run.ends:
            progress = (now - run.started) / (run.ends - run.started)
            return "stopping" if progress < 0.1 else "stopped" if progress < 0.7 else "starting"
        return sim.power

    def _refusal(self, sim: _SimVM, now: dt.datetime) -> str | None:
        if sim.run and sim.run.started <= now < sim.run.ends:
            return "the VM is already under maintenance"
        m = sim.maintenance
        if m is None:
            return "no maintenance is pending for it"
        if m.last_result == "MaintenanceCompleted":
            return "maintenance has already been completed on it"
        if not m.customer_initiated_allowed:
            return "customer-initiated maintenance is not allowed on it"
        if m.self_service_window and not m.self_service_window[0] <= now <= m.self_service_window[1]:
            return "it is outside its self-service maintenance window"
        return None
