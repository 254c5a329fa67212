"""What every part of a run shares: its configuration, its outcome, and the context the loop, the step
phases and the VMs' state machines work in (journal, backend, clock, events, the run's flags).

The journal holds the durable state; :class:`LiveState` is the loop's in-memory view of it, kept in step
with every write, and the flags (``halting``, ``pausing``, ``aborted``) say why no new step or trigger
may start.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import threading
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from executor.run.backend import BatchStatus, ComputeBackend, StatusSweep, VMStatus
from executor.run.clock import Clock, FakeClock
from executor.run.events import Event, FanOut, JsonLinesReporter, NullReporter, Reporter
from executor.run.gates import Check, LastPass, Probe, Target, probe_all
from executor.run.guard import GroupGuard, Hold, touched
from executor.run.journal import EVENTS_NAME
from executor.run.store import JournalStore
from executor.run.work import answer_of
from planner.errors import AzureError
from planner.fleet import VM, Fleet
from planner.plan import Plan, Step
from planner.select import selection
from planner.spec import Spec, TierSettings

GUARD_LIST_MIN = 4  # without scale set lists: from this many VMs to read, the guard lists their groups
# Right before a trigger, a read this recent is the live state (another actor's trigger shows in Azure
# at once; a window this short is all that separates any read from the trigger that follows it). In a
# compressed simulation the runner's own real latency between a check and its trigger spans ``speed``
# times more clock time: the window is then FRESH_REAL_S of real time, never more than FRESH_MAX_S.
FRESH_S = 15.0
FRESH_REAL_S = 0.5
FRESH_MAX_S = 60.0
_T = TypeVar("_T")
_R = TypeVar("_R")

Prober = Callable[[dict[str, tuple[Target, Sequence[Check]]]], dict[str, list[Probe]]]


@dataclass(frozen=True)
class RunConfig:
    """Pacing of the runner; the defaults respect Azure's documented limits (DESIGN §9)."""

    confirm: str = "never"  # step | tier | never
    first_poll: float = 60.0  # after re-triggering a VM that answered RetryLater: it comes back quickly
    poll_interval: float = 60.0  # between later polls of one operation
    status_interval: float = 30.0  # between status reads while waiting for PowerState/running
    settle_s: float = 900.0  # after the operation ended: how long the VM may take to show it done
    retry_backoff: float = 120.0  # first wait after RetryLater, doubling
    azure_backoff: float = 15.0  # first wait after a transient Azure error, doubling, capped at 5 min
    control_interval: float = 5.0  # how often the journal's control rows are read
    batch_min: int = 20  # from this many VMs, a first status read is one list per resource group
    workers: int = 16  # threads running step turns (and status reads) side by side; 1: one thread
    retry_failed: bool = False
    workdir: str | None = None  # hooks and command checks run here: the spec's directory
    until_idle: bool = False  # stop ("waiting") once nothing can start before the open window closes


@dataclass(frozen=True)
class RunOutcome:
    state: str  # completed | halted | aborted | paused | waiting (--until-idle)
    message: str
    failed_steps: tuple[str, ...] = ()
    reschedule: tuple[str, ...] = ()  # VMs Azure will reschedule (MaintenanceAborted)
    azure_unavailable: bool = False  # paused because Azure kept failing (the CLI exits 5)


class StepFailed(Exception):
    """A step cannot go on: its message is the step's error in the journal."""


class AzureUnavailable(Exception):
    """Azure kept failing until a step's timeout: the run pauses (nothing is triggered blind, nothing
    is failed for it); the step goes on from its journal on resume."""


@dataclass
class LiveState:
    """The loop's view of the run, kept in step with the journal it writes."""

    state: dict[str, str] = field(default_factory=dict)  # step -> waiting|running|done|failed|skipped
    ended: dict[str, dt.datetime] = field(default_factory=dict)  # ends that impose a recovery gap
    started: dict[str, dt.datetime] = field(default_factory=dict)
    waiting: dict[str, tuple[str | None, dt.datetime | None]] = field(default_factory=dict)


class StepEvents(Protocol):
    """Pre/post maintenance events of a step (executor.notify.gate): ``pre`` yields wake times while it
    waits for an answer and raises StepFailed on ``stop`` or no answer; ``post`` follows the health gate."""

    def pre(self, ctx: RunContext, step: Step) -> Generator[dt.datetime, None, None]: ...

    def post(self, ctx: RunContext, step: Step) -> None: ...


class RunContext:
    """The run's shared surroundings: what a step or a VM needs besides its own state."""

    def __init__(
        self,
        journal: JournalStore,
        plan: Plan,
        spec: Spec,
        fleet: Fleet,
        backend: ComputeBackend,
        clock: Clock,
        reporter: Reporter | None,
        checks_for: Callable[[VM, TierSettings], Sequence[Check]] | None,
        config: RunConfig,
        prober: Prober | None,
    ):
        self.journal = journal
        self.plan = plan
        self.spec = spec
        self.fleet = {vm.id: vm for vm in fleet.vms}
        self.backend = backend
        self.clock = clock
        self.log = JsonLinesReporter(journal.dir / EVENTS_NAME)
        self.reporter: Reporter = FanOut(self.log, reporter or NullReporter())
        self.checks_for = checks_for or (lambda vm, settings: settings.health.checks)
        self.config = config
        self.prober: Prober = prober or probe_all  # tests swap in an in-memory prober
        self.settings = {t.name: spec.settings(t) for t in spec.tiers}
        self.steps = {s.id: s for s in plan.steps}
        self.live = LiveState()
        self.halting: str | None = None  # why no new step or trigger may start
        self.pausing: str | None = None
        self.aborted = False
        self.resumed_at = clock.now()
        self.guard = GroupGuard(
            selection(spec, fleet.vms), self.fleet, fleet.captured_at, self.config.status_interval
        )
        self.guard.zone = self.zone = ZoneInfo(spec.window.timezone)  # where messages write their times
        # the VMs this run has triggered (or may have): the live guard leaves them to the scheduler
        self.ours = {row.vm for row in journal.vms() if touched(row.state, row.attempts)}
        # whether a step still fits its windows if its VMs are triggered at a time (set by the runner)
        self.fits_now: Callable[[Step, dt.datetime], bool] = lambda step, at: True
        self.step_events: StepEvents | None = None  # set by the Runner when the spec has pre/post events
        self.last_pass = LastPass()  # every probe round feeds it; baselines reuse its fresh passes
        # a sweep lists every VM resource of the subscription, about 100 a page (until one counted them)
        swept = sum(1 for vm in fleet.vms if vm.orchestration != "Uniform")
        self.sweep_estimate = math.ceil(swept / 100)
        self._sweep_lock = threading.Lock()  # one sweep at a time

    def emit(
        self,
        kind: str,
        step: str | None = None,
        vm: str | None = None,
        message: str = "",
        journal: bool = True,
        **data: object,
    ) -> None:
        """Record a transition in the journal (unless ``journal=False``) and tell the reporters."""
        now = self.clock.now()
        if journal:
            self.journal.record_transition(now, kind, step, vm, message, dict(data) or None)
        self.reporter.emit(Event(kind, now, step, vm, message, dict(data)))

    def name(self, vm: str) -> str:
        facts = self.fleet.get(vm)
        return facts.ref if facts else vm.rsplit("/", 1)[-1]

    def later(self, seconds: float) -> dt.datetime:
        return self.clock.now() + dt.timedelta(seconds=seconds)

    def threaded(self) -> bool:
        """Each step's turns run in a thread pool, so one step's I/O never delays another's; a
        FakeClock run stays on one thread, where time moves only between turns (deterministic)."""
        return self.config.workers > 1 and not isinstance(self.clock, FakeClock)

    def each(self, call: Callable[[_T], _R], items: list[_T], name: str) -> list[_R]:
        """``call`` over ``items``, side by side when there are several (Azure calls are I/O)."""
        if len(items) > 1 and self.threaded():
            with ThreadPoolExecutor(min(8, len(items)), name) as pool:
                return list(pool.map(call, items))
        return [call(item) for item in items]

    def step_deadline(self, step: Step) -> dt.datetime:
        """The step's timeout: its planned duration plus the health timeout, from its start (or resume)."""
        timeout = self.settings[step.tier].health.timeout
        span = dt.timedelta(seconds=step.duration_s + timeout)
        started = self.live.started.get(step.id) or self.clock.now()
        return max(started + span, self.resumed_at + dt.timedelta(seconds=timeout))

    def targets(
        self, step: Step, vms: Iterable[str], settings: TierSettings
    ) -> dict[str, tuple[Target, Sequence[Check]]]:
        """What to probe for each VM: its names and the tier's checks (or the simulation's)."""
        names = tuple(self.fleet[v].name if v in self.fleet else v for v in step.vms)
        out: dict[str, tuple[Target, Sequence[Check]]] = {}
        for vm in vms:
            facts = self.fleet[vm]
            out[vm] = (
                Target(facts.name, facts.resource_group, names, self.config.workdir),
                tuple(self.checks_for(facts, settings)),
            )
        return out

    def record_probes(self, step: Step, results: dict[str, list[Probe]], baseline: bool = False) -> None:
        """Probe evidence goes to the journal's gates table; one event per VM to the reporters."""
        now = self.clock.now()
        prefix = "baseline:" if baseline else ""
        rows = [
            (vm, prefix + p.kind, p.target, p.ok, p.detail) for vm, probes in results.items() for p in probes
        ]
        self.journal.record_gates(now, step.id, rows)
        self.last_pass.note(now, results)
        for vm, probes in results.items():
            if probes:
                self.emit(
                    "gate",
                    step.id,
                    vm,
                    "; ".join(f"{p.kind} {p.detail}" for p in probes),
                    journal=False,
                    ok=all(p.ok for p in probes),
                    baseline=baseline,
                )

    def group_hold(self, step: Step, fresh_since: dt.datetime | None = None) -> Hold | None:
        """The live guard's verdict for a step: other domains of its group read, a reason to wait or None.

        At a step's start, reads within the recheck interval serve; right before a trigger
        (``fresh_since``: when the turn began), reads of this turn (the step's own list of its scale
        set) or made within :meth:`fresh_s` (the check at the step's start, when its baseline passed at
        once). Only VMs whose state can still hold the step are read: not the run's own (the scheduler
        keeps their gaps), not those seen done by someone else a full gap ago — by their scale sets'
        lists, one sweep of the subscription (:meth:`swept`) when cheaper, else one by one."""
        guard = self.guard
        others = guard.others(step)
        if not others:
            return None
        now = self.clock.now()
        wanted = guard.to_read([vm for vm in others if vm not in self.ours], step, now)
        max_age = None if fresh_since is None else max(self.fresh_s(), (now - fresh_since).total_seconds())
        trouble = self._read_for_guard(guard.stale(wanted, now, max_age), now, max_age)
        if trouble is not None:
            return trouble
        names = {vm: self.name(vm) for vm in others}
        return guard.hold(step, self.ours, names, now)

    def fresh_s(self) -> float:
        """How old (clock seconds) a read may be and still count as made right before a trigger."""
        speed = float(getattr(self.clock, "speed", 1.0))
        return min(FRESH_MAX_S, max(FRESH_S, FRESH_REAL_S * speed))

    def sweep_for_steps(self, steps: Sequence[Step]) -> None:
        """Steps about to start together: when their guards' reads and their VMs' reads before a
        trigger outnumber a sweep's pages, one sweep serves them all (each check finds them fresh)."""
        if not steps or not isinstance(self.backend, StatusSweep):
            return
        now = self.clock.now()
        wanted: dict[str, None] = {}  # in order, once each
        for step in steps:
            others = [vm for vm in self.guard.others(step) if vm not in self.ours]
            wanted.update(dict.fromkeys(self.guard.to_read(others, step, now)))
            wanted.update(dict.fromkeys(vm for vm in step.vms if vm not in self.ours))
        self.swept(list(wanted), now)

    def swept(self, vms: list[str], now: dt.datetime, max_age_s: float | None = None) -> dict[str, VMStatus]:
        """The statuses of ``vms`` read within ``max_age_s`` of ``now`` (default: the recheck interval),
        by lower-case id, after one sweep of the subscription's run-time statuses if those not read
        outnumber the pages it costs and its budget allows (every status it brings goes to the guard).
        Uniform scale set instances are not in a sweep (their set's list reads them)."""
        backend = self.backend
        if not isinstance(backend, StatusSweep) or not vms:
            return {}
        covered = [vm for vm in vms if vm not in self.fleet or self.fleet[vm].orchestration != "Uniform"]
        if self._sweep_pays(backend, len(covered)):
            with self._sweep_lock:  # a caller that waited for another's sweep finds its VMs fresh
                if self._sweep_pays(backend, len(self.guard.stale(covered, now, max_age_s))):
                    self._sweep(backend)
        age = self.guard.recheck.total_seconds() if max_age_s is None else max_age_s
        return self.guard.recent(covered, now, age)

    def _sweep_pays(self, backend: StatusSweep, reads: int) -> bool:
        """Whether one sweep is fewer requests than ``reads`` reads, and its budget allows one now."""
        pages = backend.sweep_cost(self.sweep_estimate)
        return pages is not None and reads > pages

    def _sweep(self, backend: StatusSweep) -> None:
        at = self.clock.now()
        try:
            found = backend.sweep()
        except AzureError:  # the VMs are read one by one instead
            return
        for status in found.values():
            self.guard.observe(status, at)

    def _read_for_guard(self, stale: list[str], now: dt.datetime, max_age_s: float | None) -> Hold | None:
        """Read ``stale`` into the guard (lists of their scale sets first, then one sweep of the
        subscription if cheaper, the rest one by one); a VM that cannot be read holds the step a minute."""
        listing = isinstance(self.backend, BatchStatus) or len(stale) >= GUARD_LIST_MIN
        unread = self._list_for_guard(stale, now) if stale and listing else stale
        if unread and isinstance(self.backend, StatusSweep):
            self.swept(unread, now, max_age_s)
            unread = self.guard.stale(unread, now, max_age_s)
        read = functools.partial(answer_of, self.backend.status)  # sign-in trouble stops the run
        for vm, found in zip(unread, self.each(read, unread, "udroll-guard"), strict=True):
            if isinstance(found, AzureError):
                return Hold(f"cannot read {self.name(vm)} of the same group: {found}", self.later(60))
            self.guard.observe(found, now)
        return None

    def _list_for_guard(self, vms: list[str], now: dt.datetime) -> list[str]:
        """One list per scale set holding ``vms`` (cheaper than a read each); the VMs it did not
        answer for are returned to be read one by one."""
        facts = [self.fleet[vm] for vm in vms if vm in self.fleet]
        try:
            if isinstance(self.backend, BatchStatus):  # only their scale sets, never a whole group
                listed = list(self.backend.statuses(facts).values())
            else:
                groups = sorted({vm.resource_group for vm in facts})
                listed = [VMStatus(v.id, v.power_state, v.maintenance) for v in self.backend.list_vms(groups)]
        except AzureError:
            return vms
        for status in listed:
            self.guard.observe(status, now)
        return self.guard.stale(vms, now, 0.0)
