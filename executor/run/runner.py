"""The runner (DESIGN §7): one scheduler loop driving a cooperative worker per running step.

The plan is optimistic; the runner re-checks live state before acting (STYLE 6). A step starts when

- every step before it in its group has ended plus the group's recovery gap (R3), every step of the
  tiers it depends on has ended plus their gap (R4), and every step the plan lists in ``after`` has
  ended plus its gap — gaps measured from the *actual* end, read from the journal, so the time a
  crashed runner was down counts;
- its tier's ``max_unavailable`` (R5) and ``limits.max_parallel_steps`` (R6) allow it;
- the operator window and every VM's self-service window are open for its planned duration, ending
  ``cutoff`` before they close (R7);
- the operator confirmed it (``--confirm step|tier``) and no pause, abort or halt is in force.

Each step is a generator that does a short piece of I/O and yields the clock time it next wants to
run at; the loop sleeps on the injected Clock until the earliest of those. With a FakeClock one
thread runs every turn (a 6-hour rollout takes milliseconds, deterministically); with a real or
scaled clock each turn runs in a thread pool, so one step's Azure calls and probes never hold up
another's. Health probes of many VMs run side by side inside a turn (they never read the clock).

Requests (DESIGN §9 budget): a step's first status read is one list per resource group; after a
trigger the runner looks at the VM's status once soon (a quick RetryLater) and once when the
maintenance is expected to be done, and polls the operation from its handle only when the status
does not settle it — about three requests per VM that behaves, never faster than its buckets refill.

Per VM: fresh status (skip nothing-pending and completed; never trigger outside its self-service
window or when Azure does not allow it), journal the intent, trigger, journal the handle, follow it
to the end, read the result (RetryLater: back off and trigger again within the step's timeout;
MaintenanceAborted: fail, "Azure will reschedule this VM"), wait for PowerState/running, then the
health gate. A VM with an intent but no handle (a crash, or an ambiguous error, between the two) is
reconciled from Azure's status before anything else: maintenance under way or done is followed,
never triggered again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TypeVar

from executor.run.backend import BatchMaintenance, ComputeBackend, Operation, VMStatus
from executor.run.clock import Clock, FakeClock
from executor.run.events import Event, FanOut, JsonLinesReporter, NullReporter, Reporter
from executor.run.gates import Check, HealthGate, Probe, Target, close_connections, probe_all
from executor.run.hooks import run_hook
from executor.run.journal import EVENTS_NAME, Journal
from planner.errors import (
    AuthenticationError,
    AuthorizationError,
    AzureError,
    NotEligibleError,
    VMGoneError,
)
from planner.fleet import VM, Fleet
from planner.plan import Plan, Step
from planner.select import selection
from planner.spec import Spec, TierSettings

Wake = Generator[dt.datetime, None, None]
_T = TypeVar("_T")
_R = TypeVar("_R")
TERMINAL = ("healthy", "skipped", "failed")
SETTLED = ("RetryLater", "MaintenanceAborted", "MaintenanceCompleted")
HORIZON = dt.timedelta(days=120)  # how far ahead the runner looks for an open window


@dataclass(frozen=True)
class RunConfig:
    """Pacing of the runner; the defaults respect Azure's documented limits (DESIGN §9)."""

    confirm: str = "never"  # step | tier | never
    first_poll: float = 60.0  # after a trigger: RetryLater comes back quickly
    poll_interval: float = 60.0  # between later polls of one operation
    status_interval: float = 30.0  # between status reads while waiting for PowerState/running
    retry_backoff: float = 120.0  # first wait after RetryLater, doubling
    azure_backoff: float = 15.0  # first wait after a transient Azure error, doubling, capped at 5 min
    control_interval: float = 5.0  # how often the journal's control rows are read
    batch_min: int = 20  # from this many VMs, a first status read is one list per resource group
    workers: int = 16  # threads running step turns (and status reads) side by side; 1: one thread
    retry_failed: bool = False
    workdir: str | None = None  # hooks and command checks run here: the spec's directory


@dataclass(frozen=True)
class RunOutcome:
    state: str  # completed | halted | aborted | paused
    message: str
    failed_steps: tuple[str, ...] = ()
    reschedule: tuple[str, ...] = ()  # VMs Azure will reschedule (MaintenanceAborted)


class StepFailed(Exception):
    pass


class Paused(Exception):
    pass


@dataclass
class _VMWork:
    """What the step worker knows about one VM between turns (the journal holds the durable part)."""

    vm: VM
    state: str
    due: dt.datetime
    token: str | None = None
    needs_status: bool = False  # the next turn reads its status (precheck, reconcile, result, power)
    op_done: bool = False
    refused: str | None = None  # a 409 on trigger, kept until the status explains it
    gate: HealthGate | None = None
    backoff: float = 0.0
    retries: int = 0
    expected_at: dt.datetime | None = None  # when a started maintenance should be done
    early: bool = False  # the next status read is the early look after a trigger
    ready: bool = False  # checked and eligible: to be triggered this turn


@dataclass
class _Live:
    """The loop's view of the run, kept in step with the journal it writes."""

    state: dict[str, str] = field(default_factory=dict)  # step -> waiting|running|done|failed|skipped
    ended: dict[str, dt.datetime] = field(default_factory=dict)
    started: dict[str, dt.datetime] = field(default_factory=dict)
    waiting: dict[str, tuple[str | None, dt.datetime | None]] = field(default_factory=dict)


class Runner:
    def __init__(
        self,
        journal: Journal,
        plan: Plan,
        spec: Spec,
        fleet: Fleet,
        backend: ComputeBackend,
        clock: Clock,
        reporter: Reporter | None = None,
        confirm: Callable[[str], bool] | None = None,
        checks_for: Callable[[VM, TierSettings], Sequence[Check]] | None = None,
        config: RunConfig | None = None,
        prober: Callable[[dict[str, tuple[Target, Sequence[Check]]]], dict[str, list[Probe]]] | None = None,
    ):
        self.journal = journal
        self.plan = plan
        self.spec = spec
        self.fleet = {vm.id: vm for vm in fleet.vms}
        self.backend = backend
        self.clock = clock
        self._log = JsonLinesReporter(journal.dir / EVENTS_NAME)
        self.reporter: Reporter = FanOut(self._log, reporter or NullReporter())
        self.confirm = confirm
        self.checks_for = checks_for or (lambda vm, settings: settings.health.checks)
        self.config = config or RunConfig()
        self.prober = prober or probe_all  # tests swap in an in-memory prober
        self.settings = {t.name: spec.settings(t) for t in spec.tiers}
        self.steps = {s.id: s for s in plan.steps}
        self.order = sorted(plan.steps, key=lambda s: (s.start_offset_s, plan.steps.index(s)))
        self.preds = self._predecessors()
        totals = {tier: len(vms) for tier, vms in selection(spec, fleet.vms).items()}
        self.capacity = {
            t: self.settings[t].max_unavailable.of(max(1, totals.get(t, 0))) for t in self.settings
        }
        self.live = _Live()
        self.halting: str | None = None  # why no new step or trigger may start
        self.pausing: str | None = None
        self.aborted = False
        self.confirmed_tiers: set[str] = set()
        self._intervals: list[tuple[dt.datetime, dt.datetime]] | None = None
        self._baseline_cache: dict[str, tuple[dt.datetime, dict[str, list[Probe]]]] = {}
        self._baseline_lock: dict[str, threading.Lock] = {}
        self._resumed_at = clock.now()

    # --- the structure of the plan -------------------------------------------------------------

    def _predecessors(self) -> dict[str, list[Step]]:
        """For each step: earlier steps of its group, all steps of tiers it depends on, its ``after``."""
        preds: dict[str, list[Step]] = {}
        for step in self.order:
            before = {
                s.id: s
                for s in self.order
                if s.group == step.group
                and s.tier == step.tier
                and s is not step
                and (s.start_offset_s, self.order.index(s)) < (step.start_offset_s, self.order.index(step))
            }
            for dep in self.settings[step.tier].depends_on:
                before.update({s.id: s for s in self.order if s.tier == dep})
            before.update({sid: self.steps[sid] for sid in step.after if sid in self.steps})
            preds[step.id] = list(before.values())
        return preds

    # --- events --------------------------------------------------------------------------------

    def _emit(
        self,
        kind: str,
        step: str | None = None,
        vm: str | None = None,
        message: str = "",
        journal: bool = True,
        **data: object,
    ) -> None:
        now = self.clock.now()
        if journal:
            self.journal.record_transition(now, kind, step, vm, message, dict(data) or None)
        self.reporter.emit(Event(kind, now, step, vm, message, dict(data)))

    def _name(self, vm: str) -> str:
        facts = self.fleet.get(vm)
        return facts.ref if facts else vm.rsplit("/", 1)[-1]

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> RunOutcome:
        """Execute (or continue) the run in the journal; returns how it ended. Ctrl-C pauses."""
        try:
            return self._run()
        except KeyboardInterrupt:
            self.journal.set_run_state("paused", self.clock.now(), "interrupted (Ctrl-C)")
            self._emit(
                "run-paused",
                message="interrupted: in-flight VMs continue at Azure; "
                "`udroll resume` picks them up from their handles",
            )
            return RunOutcome("paused", "interrupted; continue with `udroll resume`")
        finally:
            self._log.close()
            close_connections()

    def _run(self) -> RunOutcome:
        previous = self.journal.run_state
        if previous == "aborted":
            return RunOutcome("aborted", "this run was aborted; start a new run with `udroll run`")
        if previous == "completed":
            return RunOutcome("completed", "this run already completed")
        self._load_state()
        self.journal.set_run_state("running", self.clock.now())
        if previous == "new":
            self._emit(
                "run-started",
                message=f"{self.plan.name}: {len(self.plan.steps)} steps",
                steps=len(self.plan.steps),
                planned_makespan_s=self.plan.makespan_s,
            )
        else:
            self._emit("run-resumed", message=f"resuming a {previous} run", previous=previous)
        workers: dict[str, tuple[Wake, dt.datetime]] = {}
        for step_id, state in self.live.state.items():
            if state == "running":
                workers[step_id] = (self._step_worker(self.steps[step_id]), self.clock.now())
        pool = ThreadPoolExecutor(self.config.workers, "udroll-step") if self._threaded() else None
        try:
            return self._loop(workers, pool)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)  # let a turn in flight end its writes

    def _threaded(self) -> bool:
        """Each step's turns run in a thread pool, so one step's I/O never delays another's; a
        FakeClock run stays on one thread, where time moves only between turns (deterministic)."""
        return self.config.workers > 1 and not isinstance(self.clock, FakeClock)

    def _loop(
        self, workers: dict[str, tuple[Wake, dt.datetime]], pool: ThreadPoolExecutor | None
    ) -> RunOutcome:
        busy: dict[str, Future[dt.datetime | None]] = {}  # step -> its turn in flight (threaded)
        next_control = self.clock.now()
        while True:
            now = self.clock.now()
            if now >= next_control:
                self._handle_controls()
                next_control = now + dt.timedelta(seconds=self.config.control_interval)
            self._check_failures()
            if not self.halting and not self.pausing:
                for step in self._startable(now):
                    if not self._confirmed(step):
                        self.pausing = f"the operator declined step {step.id}"
                        break
                    self._start_step(step)
                    workers[step.id] = (self._step_worker(step), self.clock.now())
            for step_id, future in list(busy.items()):
                if future.done():
                    del busy[step_id]
                    wake = future.result()  # a worker's exception (Azure sign-in, a bug) stops the run
                    if wake is None:
                        del workers[step_id]
                    else:
                        workers[step_id] = (workers[step_id][0], wake)
            for step_id in [s for s, (_, at) in workers.items() if at <= self.clock.now() and s not in busy]:
                gen = workers[step_id][0]
                if pool is not None:
                    busy[step_id] = pool.submit(_turn, gen)
                    continue
                wake = _turn(gen)
                if wake is None:
                    del workers[step_id]
                else:
                    workers[step_id] = (gen, wake)
            if not workers:
                outcome = self._finished()
                if outcome:
                    return outcome
            wakes = [at for s, (_, at) in workers.items() if s not in busy]
            if not self.halting and not self.pausing:
                ready = self._next_ready_time()
                if ready is not None:
                    wakes.append(ready)
            wakes.append(next_control)
            sleep = (min(wakes) - self.clock.now()).total_seconds()
            if busy:
                # wake for whichever comes first: a turn ending or the next due time
                real = sleep / float(getattr(self.clock, "speed", 1.0))
                wait(list(busy.values()), timeout=max(0.0, real), return_when=FIRST_COMPLETED)
            elif sleep > 0:
                self.clock.sleep(sleep)

    def _load_state(self) -> None:
        retry = self.config.retry_failed
        for row in self.journal.steps():
            state = row.state
            if retry and state == "failed":
                self._reset_failed(row.id)
                state = "waiting"
            self.live.state[row.id] = state
            if row.ended_at:
                self.live.ended[row.id] = row.ended_at
            if row.started_at:
                self.live.started[row.id] = row.started_at

    def _reset_failed(self, step_id: str) -> None:
        for row in self.journal.vms(step_id):
            if row.state == "failed":
                # maintenance done: only its health is in question, so probe again, never re-trigger
                state = "completed" if row.completed_at else "pending"
                self.journal.update_vm(row.vm, state=state, message=None, reschedule=0)
        self.journal.update_step(
            step_id, state="waiting", phase=None, error=None, started_at=None, ended_at=None
        )
        self._emit("step-retry", step_id, message="failed step will be retried (--retry-failed)")

    def _handle_controls(self) -> None:
        for control in self.journal.pending_controls():
            now = self.clock.now()
            if control.command == "pause":
                self.pausing = "paused from another terminal (`udroll pause`)"
            elif control.command == "abort":
                self.aborted = True
                self.halting = "aborted from another terminal (`udroll abort`)"
            elif control.command == "skip" and control.arg:
                self._skip(control.arg)
            self.journal.handled(control, now)
            self._emit(
                "control",
                message=f"{control.command} {control.arg or ''}".strip(),
                command=control.command,
                arg=control.arg,
            )

    def _skip(self, step_id: str) -> None:
        state = self.live.state.get(step_id)
        if state in ("waiting", "failed"):
            self.live.state[step_id] = "skipped"
            self.journal.update_step(step_id, state="skipped", waiting_for=None, waiting_until=None)
            self._emit("step-skipped", step_id, message="skipped by the operator (`udroll skip`)")
        else:
            self._emit("warning", step_id, message=f"cannot skip step {step_id}: it is {state or 'unknown'}")

    def _check_failures(self) -> None:
        """Halt when more steps failed than allowed (recomputed: a skip may lift it); abort is final."""
        if self.aborted:
            return
        failed = [s for s, st in self.live.state.items() if st == "failed"]
        limit = self.spec.limits.max_failed_steps
        before = self.halting
        self.halting = None
        if len(failed) > limit:
            self.halting = (
                f"{len(failed)} step{'s' if len(failed) > 1 else ''} failed "
                f"({', '.join(failed)}), more than limits.max_failed_steps={limit}"
            )
        if self.halting and self.halting != before:
            self._emit("run-halting", message=self.halting + ": no new triggers; in-flight VMs finish")

    def _finished(self) -> RunOutcome | None:
        """With no step running: the outcome, or None when some step can still start later."""
        states = self.live.state
        failed = tuple(s for s, st in states.items() if st == "failed")
        waiting = [s for s, st in states.items() if st == "waiting"]
        if waiting and not failed and not (self.aborted or self.halting or self.pausing):
            return None  # the common case, on every turn: keep it cheap
        reschedule = tuple(r.vm for r in self.journal.vms() if r.reschedule)
        if self.aborted:
            self.journal.set_run_state("aborted", self.clock.now(), self.halting or "aborted")
            self._emit("run-halted", message="aborted", failed=list(failed))
            return RunOutcome("aborted", self.halting or "aborted", failed, reschedule)
        if self.halting:
            message = (
                f"{self.halting}; fix the cause, then `udroll resume --journal {self.journal.dir} "
                f"--retry-failed` or `udroll skip STEP --journal {self.journal.dir}`"
            )
            self.journal.set_run_state("halted", self.clock.now(), message)
            self._emit("run-halted", message=message, failed=list(failed))
            return RunOutcome("halted", message, failed, reschedule)
        if self.pausing:
            self.journal.set_run_state("paused", self.clock.now(), self.pausing)
            self._emit("run-paused", message=self.pausing)
            return RunOutcome("paused", self.pausing + "; continue with `udroll resume`", failed, reschedule)
        if waiting:
            blocked = [s for s in waiting if self._blocked_by_failure(s)]
            if len(blocked) < len(waiting):
                return None
            message = (
                f"{len(failed)} failed step(s) ({', '.join(failed)}) block {len(blocked)} "
                f"waiting step(s); `udroll resume --journal {self.journal.dir} --retry-failed` "
                f"or `udroll skip STEP --journal {self.journal.dir}`"
            )
            self.journal.set_run_state("halted", self.clock.now(), message)
            self._emit("run-halted", message=message, failed=list(failed))
            return RunOutcome("halted", message, failed, reschedule)
        if failed:
            message = f"finished with {len(failed)} failed step(s): {', '.join(failed)}"
            self.journal.set_run_state("halted", self.clock.now(), message)
            self._emit("run-halted", message=message, failed=list(failed))
            return RunOutcome("halted", message, failed, reschedule)
        self.journal.set_run_state("completed", self.clock.now(), "every step done")
        self._emit("run-finished", message="every step done", reschedule=list(reschedule))
        return RunOutcome("completed", "every step done", (), reschedule)

    def _blocked_by_failure(self, step_id: str) -> bool:
        seen: set[str] = set()
        todo = [step_id]
        while todo:
            for pred in self.preds[todo.pop()]:
                if pred.id in seen:
                    continue
                seen.add(pred.id)
                if self.live.state.get(pred.id) == "failed":
                    return True
                todo.append(pred.id)
        return False

    # --- when may a step start -----------------------------------------------------------------

    def _ready_after(self, step: Step) -> tuple[dt.datetime | None, str]:
        """The earliest time the predecessors allow, or None with what it waits for."""
        at = self.plan.start if self.plan.start else self.clock.now()
        for pred in self.preds[step.id]:
            state = self.live.state.get(pred.id)
            if state == "skipped":
                continue
            if state != "done":
                return None, f"step {pred.id} ({state})"
            at = max(at, self.live.ended[pred.id] + dt.timedelta(seconds=pred.gap_after_s))
        return at, "recovery gap"

    def _intervals_all(self) -> list[tuple[dt.datetime, dt.datetime]]:
        if self._intervals is None:
            from planner.windows import allowed_intervals

            start = min(self.plan.start, self._resumed_at) - dt.timedelta(days=1)
            self._intervals = allowed_intervals(self.spec.window, start, self._resumed_at + HORIZON)
        return self._intervals

    def _window_start(self, step: Step, earliest: dt.datetime) -> dt.datetime | None:
        """The first time >= earliest at which the step fits every window it must lie in (R7)."""
        duration = dt.timedelta(seconds=step.duration_s)
        cutoff = dt.timedelta(seconds=self.spec.window.cutoff)
        lo, hi = earliest, None
        for vm in step.vms:
            facts = self.fleet.get(vm)
            window = facts.maintenance.self_service_window if facts and facts.maintenance else None
            if window:
                lo = max(lo, window[0])
                hi = window[1] if hi is None else min(hi, window[1])
        for a, b in self._intervals_all():
            end = b if hi is None else min(b, hi)
            start = max(a, lo)
            if start + duration <= end - cutoff:
                return start
        return None

    def _startable(self, now: dt.datetime) -> list[Step]:
        """Steps that may start now, in planned order; records why the others wait."""
        running = [s for s, st in self.live.state.items() if st == "running"]
        limit = self.spec.limits.max_parallel_steps
        in_tier: dict[str, int] = {}
        for sid in running:
            step = self.steps[sid]
            in_tier[step.tier] = in_tier.get(step.tier, 0) + len(step.vms)
        out: list[Step] = []
        for step in self.order:
            if self.live.state.get(step.id) != "waiting":
                continue
            ready, reason = self._ready_after(step)
            if ready is None:
                self._waiting(step.id, reason, None)
                continue
            start = self._window_start(step, ready)
            if start is None:
                self._fail_unstartable(step)
                continue
            if start > now:
                self._waiting(step.id, reason if start == ready else "window", start)
                continue
            if limit is not None and len(running) + len(out) >= limit:
                self._waiting(step.id, f"parallelism (max_parallel_steps={limit})", None)
                continue
            used = in_tier.get(step.tier, 0)
            if used + len(step.vms) > self.capacity[step.tier]:
                self._waiting(
                    step.id, f"capacity (max_unavailable={self.capacity[step.tier]} in {step.tier})", None
                )
                continue
            in_tier[step.tier] = used + len(step.vms)
            out.append(step)
        return out

    def _next_ready_time(self) -> dt.datetime | None:
        times = [
            until
            for sid, (_, until) in self.live.waiting.items()
            if until is not None and self.live.state.get(sid) == "waiting"
        ]
        return min(times) if times else None

    def _waiting(self, step_id: str, reason: str | None, until: dt.datetime | None) -> None:
        if self.live.waiting.get(step_id) != (reason, until):
            self.live.waiting[step_id] = (reason, until)
            self.journal.set_waiting(step_id, reason, until)
            self._emit(
                "step-waiting",
                step_id,
                f"waiting for {reason}" + (f" until {until:%Y-%m-%d %H:%M:%S}Z" if until else ""),
                journal=False,
                reason=reason,
                until=until.isoformat() if until else None,
            )

    def _fail_unstartable(self, step: Step) -> None:
        message = (
            "no open window left: the operator window and its VMs' self-service windows do not "
            "fit the step before they close; Azure will maintain these VMs in its scheduled window"
        )
        self.live.state[step.id] = "failed"
        self.journal.update_step(step.id, state="failed", error=message, waiting_for=None, waiting_until=None)
        self._emit("step-failed", step.id, message=message)

    def _confirmed(self, step: Step) -> bool:
        mode = self.config.confirm
        if mode == "never" or self.confirm is None:
            return True
        if mode == "tier":
            if step.tier in self.confirmed_tiers:
                return True
            ok = self.confirm(f"Start tier {step.tier} with step {step.id} ({len(step.vms)} VMs)?")
            if ok:
                self.confirmed_tiers.add(step.tier)
            return ok
        return self.confirm(
            f"Start step {step.id} ({len(step.vms)} VMs: {', '.join(self._name(v) for v in step.vms)})?"
        )

    def _start_step(self, step: Step) -> None:
        now = self.clock.now()
        self.live.state[step.id] = "running"
        self.live.started[step.id] = now
        self.live.waiting[step.id] = (None, None)
        self.journal.update_step(
            step.id, state="running", phase="baseline", started_at=now, waiting_for=None, waiting_until=None
        )
        self._emit(
            "step-started",
            step.id,
            message=f"{len(step.vms)} VMs",
            tier=step.tier,
            vms=list(step.vms),
            planned_start=step.start.isoformat(),
        )

    # --- one step --------------------------------------------------------------------------------

    def _step_worker(self, step: Step) -> Wake:
        try:
            yield from self._step_phases(step)
        except StepFailed as exc:
            now = self.clock.now()
            self.live.state[step.id] = "failed"
            self.live.ended[step.id] = now
            self.journal.update_step(step.id, state="failed", ended_at=now, error=str(exc))
            self._emit("step-failed", step.id, message=str(exc))
            return
        now = self.clock.now()
        self.live.state[step.id] = "done"
        self.live.ended[step.id] = now
        self.journal.update_step(step.id, state="done", ended_at=now, phase=None)
        self._emit("step-ended", step.id, message="done", planned_end=step.end.isoformat())

    def _step_phases(self, step: Step) -> Wake:
        settings = self.settings[step.tier]
        phase = self.journal.step(step.id).phase or "baseline"
        if phase == "baseline":
            yield from self._baseline(step, settings)
            phase = self._phase(step, "before_step")
        if phase == "before_step":
            self._hook(step, settings, "before_step")
            phase = self._phase(step, "maintenance")
        if phase == "maintenance":
            yield from self._maintain(step, settings)
            phase = self._phase(step, "after_step")
        if phase == "after_step":
            self._hook(step, settings, "after_step")

    def _phase(self, step: Step, phase: str) -> str:
        self.journal.update_step(step.id, phase=phase)
        return phase

    def _targets(
        self, step: Step, vms: Iterable[str], settings: TierSettings
    ) -> dict[str, tuple[Target, Sequence[Check]]]:
        names = tuple(self.fleet[v].name if v in self.fleet else v for v in step.vms)
        out: dict[str, tuple[Target, Sequence[Check]]] = {}
        for vm in vms:
            facts = self.fleet[vm]
            out[vm] = (
                Target(facts.name, facts.resource_group, names, self.config.workdir),
                tuple(self.checks_for(facts, settings)),
            )
        return out

    def _record_probes(self, step: Step, results: dict[str, list[Probe]], baseline: bool = False) -> None:
        now = self.clock.now()
        prefix = "baseline:" if baseline else ""
        rows = [
            (vm, prefix + p.kind, p.target, p.ok, p.detail) for vm, probes in results.items() for p in probes
        ]
        self.journal.record_gates(now, step.id, rows)
        for vm, probes in results.items():
            if probes:
                self._emit(
                    "gate",
                    step.id,
                    vm,
                    "; ".join(f"{p.kind} {p.detail}" for p in probes),
                    journal=False,
                    ok=all(p.ok for p in probes),
                    baseline=baseline,
                )

    def _baseline(self, step: Step, settings: TierSettings) -> Wake:
        """A tier that is already unhealthy is not made worse: wait for it, then fail the step."""
        # VMs of the tier's other running steps are down by plan (and counted in its capacity)
        busy = {
            vm
            for sid, st in self.live.state.items()
            if st == "running" and sid != step.id
            for vm in self.steps[sid].vms
        }
        tier_vms = [
            vm
            for s in self.plan.steps
            if s.tier == step.tier
            for vm in s.vms
            if vm in self.fleet and vm not in busy
        ]
        work = {vm: t for vm, t in self._targets(step, tier_vms, settings).items() if t[1]}
        if not work:
            return
        deadline = self.clock.now() + dt.timedelta(seconds=settings.health.timeout)
        while True:
            results = self._baseline_round(step, settings, work)
            sick = {vm: ps for vm, ps in results.items() if not all(p.ok for p in ps)}
            if not sick:
                self._emit("baseline", step.id, message=f"tier {step.tier} healthy ({len(work)} VMs)")
                return
            what = "; ".join(
                f"{self._name(vm)}: {next(p.detail for p in ps if not p.ok)}"
                for vm, ps in list(sick.items())[:5]
            )
            if self.clock.now() >= deadline:
                raise StepFailed(
                    f"tier {step.tier} was already unhealthy before the step, and stayed so "
                    f"for {settings.health.timeout}s: {what}; nothing was triggered"
                )
            self._emit(
                "baseline", step.id, message=f"tier {step.tier} unhealthy before the step, waiting: {what}"
            )
            self.journal.set_waiting(step.id, f"tier {step.tier} to be healthy", deadline)
            yield min(deadline, self.clock.now() + dt.timedelta(seconds=max(1, settings.health.interval)))

    def _baseline_round(
        self, step: Step, settings: TierSettings, work: dict[str, tuple[Target, Sequence[Check]]]
    ) -> dict[str, list[Probe]]:
        """One probe of each VM; steps of a tier starting together share a round that is less than
        one probe interval old (ten groups starting at once probe the tier once, not ten times)."""
        with self._baseline_lock.setdefault(step.tier, threading.Lock()):
            now = self.clock.now()
            at, cached = self._baseline_cache.get(step.tier, (None, {}))
            fresh = at is not None and (now - at).total_seconds() < max(1, settings.health.interval)
            missing = {vm: t for vm, t in work.items() if not fresh or vm not in cached}
            if not missing:
                return {vm: cached[vm] for vm in work}
            results = self.prober(missing)
            self._record_probes(step, results, baseline=True)
            merged = {**cached, **results} if fresh else dict(results)
            self._baseline_cache[step.tier] = (at if fresh and at else now, merged)
            return {vm: merged[vm] for vm in work}

    def _hook(self, step: Step, settings: TierSettings, which: str) -> None:
        argv = settings.before_step if which == "before_step" else settings.after_step
        if not argv:
            return
        facts = [self.fleet[v] for v in step.vms if v in self.fleet]
        result = run_hook(
            argv,
            step.id,
            step.tier,
            which,
            [f.name for f in facts],
            list(step.vms),
            [f.resource_group for f in facts],
            str(self.journal.dir),
            cwd=self.config.workdir,
            pass_env=settings.hook_env,
        )
        self.journal.record_hook(
            self.clock.now(), step.id, which, list(result.argv), result.rc, result.output
        )
        self._emit(
            "hook",
            step.id,
            message=f"{which}: {result.describe() if not result.ok else 'ok'}",
            which=which,
            rc=result.rc,
        )
        if not result.ok:
            what = "before any trigger" if which == "before_step" else "after its VMs were maintained"
            raise StepFailed(f"{which} hook failed {what}: {result.describe()}")

    # --- the VMs of a step -------------------------------------------------------------------------

    def _deadline(self, step: Step, settings: TierSettings) -> dt.datetime:
        """The step's timeout: its planned duration plus the health timeout, from its start (or resume)."""
        span = dt.timedelta(seconds=step.duration_s + settings.health.timeout)
        started = self.live.started.get(step.id) or self.clock.now()
        return max(started + span, self._resumed_at + dt.timedelta(seconds=settings.health.timeout))

    def _maintain(self, step: Step, settings: TierSettings) -> Wake:
        now = self.clock.now()
        work: dict[str, _VMWork] = {}
        for row in self.journal.vms(step.id):
            facts = self.fleet.get(row.vm) or VM(id=row.vm, name=row.vm.rsplit("/", 1)[-1], resource_group="")
            item = _VMWork(facts, row.state, now, token=row.token)
            if row.state in ("pending", "retry", "intent", "completed"):
                item.needs_status = True
                if row.state == "retry" and row.retry_at:
                    item.due = max(now, row.retry_at)
            elif row.state == "triggered":
                # resume: look at Azure's status first (cheap, batched), then poll from the handle
                item.needs_status, item.early = True, True
                item.expected_at = (row.triggered_at or now) + dt.timedelta(
                    seconds=settings.expected_duration
                )
            elif row.state == "gating":
                item.state = "completed"  # a gate's streak does not survive a restart: probe afresh
                item.needs_status = True
            work[row.vm] = item
            if row.state in ("intent", "triggered") and row.attempts:
                self._emit(
                    "vm-reconciled",
                    step.id,
                    row.vm,
                    "intent without handle: reading Azure's status before anything else"
                    if row.state == "intent"
                    else "resuming the operation from its handle",
                )
        deadline = self._deadline(step, settings)
        while True:
            now = self.clock.now()
            due = [w for w in work.values() if w.state not in TERMINAL and w.due <= now]
            self._read_statuses(step, settings, [w for w in due if w.needs_status], deadline)
            ready = [w for w in due if w.ready]
            if ready:
                self._trigger(step, settings, ready, deadline)
            polls: dict[str, list[_VMWork]] = {}  # one look per operation (a scale set call has one)
            for w in due:
                if w.state == "triggered" and not w.needs_status and w.due <= now and w.token:
                    polls.setdefault(w.token, []).append(w)
            for items in polls.values():
                self._poll(step, settings, items, deadline)
            gating = [w for w in work.values() if w.state == "gating" and w.due <= self.clock.now()]
            if gating:
                self._probe(step, settings, gating)
            open_ = [w for w in work.values() if w.state not in TERMINAL]
            if not open_:
                break
            yield min(w.due for w in open_)
        failed = [(vm, self.journal.vm(vm).message) for vm, w in work.items() if w.state == "failed"]
        if failed:
            shown = "; ".join(f"{self._name(vm)}: {msg}" for vm, msg in failed[:5])
            raise StepFailed(f"{len(failed)} of {len(work)} VMs failed: {shown}")

    def _later(self, seconds: float) -> dt.datetime:
        return self.clock.now() + dt.timedelta(seconds=seconds)

    def _azure_trouble(
        self, step: Step, w: _VMWork, exc: AzureError, deadline: dt.datetime, doing: str
    ) -> None:
        """A transient Azure error: back off and try again, until the step's timeout."""
        if isinstance(exc, (AuthenticationError, AuthorizationError)):
            raise exc  # nothing a retry fixes: the run stops (exit 5) and resumes once fixed
        if isinstance(exc, VMGoneError):
            self._fail_vm(step, w, f"the VM no longer exists ({exc})")
            return
        w.backoff = min(300.0, w.backoff * 2 if w.backoff else self.config.azure_backoff)
        if self._later(w.backoff) > deadline:
            self._fail_vm(step, w, f"Azure kept failing while {doing} until the step's timeout: {exc}")
            return
        w.due = self._later(w.backoff)
        self._emit(
            "azure-retry", step.id, w.vm.id, f"{doing}: {exc}; again in {w.backoff:.0f}s", journal=False
        )

    def _fail_vm(self, step: Step, w: _VMWork, message: str, reschedule: bool = False) -> None:
        w.state = "failed"
        self.journal.update_vm(w.vm.id, state="failed", message=message, reschedule=int(reschedule))
        self._emit("vm-failed", step.id, w.vm.id, message, reschedule=reschedule)

    def _skip_vm(self, step: Step, w: _VMWork, reason: str) -> None:
        w.state = "skipped"
        self.journal.update_vm(w.vm.id, state="skipped", message=reason)
        self._emit("vm-skipped", step.id, w.vm.id, reason)

    def _read_statuses(
        self, step: Step, settings: TierSettings, items: list[_VMWork], deadline: dt.datetime
    ) -> None:
        if not items:
            return
        statuses: dict[str, VMStatus | AzureError] = {}
        # a step's first look lists its resource groups once (fewer requests); later looks, spread
        # in time and cheap, read the VMs one by one, side by side (a big list is slow to answer)
        first = [w for w in items if w.state in ("pending", "retry")]
        if len(first) >= self.config.batch_min:
            with contextlib.suppress(AzureError):  # else: one read per VM below
                statuses.update(self._list_statuses([w.vm for w in first]))
        missing = [w.vm.id for w in items if w.vm.id.lower() not in statuses]
        statuses.update(self._read_each(missing))
        for w in items:
            status = statuses.get(w.vm.id.lower())
            if isinstance(status, AzureError):
                self._azure_trouble(step, w, status, deadline, "reading its status")
                continue
            if status is None:  # listed, but not there: look at it alone next time
                w.due = self._later(self.config.status_interval)
                continue
            w.backoff = 0.0
            self._on_status(step, settings, w, status, deadline)

    def _read_each(self, vms: list[str]) -> dict[str, VMStatus | AzureError]:
        found = self._each(lambda vm: _answer(self.backend.status, vm), vms, "udroll-status")
        return {vm.lower(): status for vm, status in zip(vms, found, strict=True)}

    def _each(self, call: Callable[[_T], _R], items: list[_T], name: str) -> list[_R]:
        """``call`` over ``items``, side by side when there are several (Azure calls are I/O)."""
        if len(items) > 1 and self._threaded():
            with ThreadPoolExecutor(min(8, len(items)), name) as pool:
                return list(pool.map(call, items))
        return [call(item) for item in items]

    def _list_statuses(self, vms: list[VM]) -> dict[str, VMStatus]:
        groups = sorted({vm.resource_group for vm in vms if vm.resource_group})
        listed = self.backend.list_vms(groups)
        return {vm.id.lower(): VMStatus(vm.id, vm.power_state, vm.maintenance) for vm in listed}

    def _on_status(
        self, step: Step, settings: TierSettings, w: _VMWork, s: VMStatus, deadline: dt.datetime
    ) -> None:
        now = self.clock.now()
        m = s.maintenance
        result = m.last_result if m else None
        w.needs_status = False
        if w.state in ("pending", "retry"):
            if m is None:
                return self._skip_vm(step, w, "nothing pending: Azure shows no maintenance for this VM")
            if result == "MaintenanceCompleted":
                return self._skip_vm(step, w, "maintenance already completed")
            if not m.customer_initiated_allowed:
                return self._skip_vm(
                    step,
                    w,
                    "Azure does not allow customer-initiated maintenance on it now; "
                    "Azure will maintain it in its scheduled window",
                )
            ssw = m.self_service_window
            if ssw and not ssw[0] <= now <= ssw[1]:
                return self._skip_vm(
                    step,
                    w,
                    f"outside its self-service window {ssw[0]:%Y-%m-%d %H:%M}Z.."
                    f"{ssw[1]:%Y-%m-%d %H:%M}Z: not triggered",
                )
            if self.halting or self.aborted:
                return self._fail_vm(step, w, f"not triggered: {self.halting}")
            w.ready = True  # triggered with the step's other ready VMs, below
            return None
        if w.state == "intent":
            # the call may or may not have reached Azure: believe Azure, never trigger on a guess
            if m is None or result == "MaintenanceCompleted":
                self._emit("vm-reconciled", step.id, w.vm.id, "Azure shows the maintenance completed")
                return self._completed(step, settings, w, s)
            if _in_progress(s):
                self._emit(
                    "vm-reconciled", step.id, w.vm.id, "Azure shows the maintenance under way: waiting"
                )
                w.needs_status, w.due = True, self._later(self.config.status_interval)
                return None
            if w.refused:
                return self._fail_vm(step, w, f"Azure refused perform-maintenance (409): {w.refused}")
            if result == "MaintenanceAborted":
                return self._fail_vm(step, w, "MaintenanceAborted: Azure will reschedule this VM", True)
            self._emit("vm-reconciled", step.id, w.vm.id, "Azure shows nothing started: triggering")
            w.state = "pending"
            return self._on_status(step, settings, w, s, deadline)
        if w.state == "triggered":
            # status first, the operation's handle only when the status does not settle it: a VM that
            # behaves costs a look soon after the trigger (a quick RetryLater) and one when it is due
            settled = not _in_progress(s) and result in (None, *SETTLED)
            if not settled:
                if w.early:
                    w.needs_status, w.due = True, max(now, w.expected_at or now)
                elif w.op_done and w.retries < 3:
                    w.retries += 1  # the status can trail the operation by a moment
                    w.needs_status, w.due = True, self._later(self.config.status_interval)
                elif w.op_done:
                    return self._fail_vm(step, w, f"the operation ended but Azure reports {result}")
                else:
                    w.due = self._later(self.config.poll_interval)  # poll from the handle next
                w.early = False
                return None
            if m is None or result == "MaintenanceCompleted":
                return self._completed(step, settings, w, s)
            if result == "MaintenanceAborted":
                return self._fail_vm(step, w, "MaintenanceAborted: Azure will reschedule this VM", True)
            return self._retry_later(step, settings, w, deadline)
        if w.state == "completed":
            return self._completed(step, settings, w, s)
        return None

    def _retry_later(self, step: Step, settings: TierSettings, w: _VMWork, deadline: dt.datetime) -> None:
        row = self.journal.vm(w.vm.id)
        wait = self.config.retry_backoff * (2 ** max(0, row.attempts - 1))
        retry_at = self._later(wait)
        if self.halting or self.aborted:
            return self._fail_vm(step, w, f"RetryLater, not retried: {self.halting}")
        if retry_at + dt.timedelta(seconds=settings.expected_duration) > deadline:
            return self._fail_vm(
                step,
                w,
                f"Azure answered RetryLater {row.attempts} times until the "
                "step's timeout: Azure will reschedule this VM",
                True,
            )
        w.state, w.due, w.needs_status = "retry", retry_at, True
        self.journal.update_vm(w.vm.id, state="retry", retry_at=retry_at, result="RetryLater")
        self._emit(
            "vm-retry", step.id, w.vm.id, f"RetryLater: trying again in {wait:.0f}s", attempt=row.attempts
        )
        return None

    def _trigger(
        self, step: Step, settings: TierSettings, items: list[_VMWork], deadline: dt.datetime
    ) -> None:
        """Journal every intent (durably), then call perform-maintenance on each, side by side when
        threaded, then journal each handle."""
        for w in items:
            self.journal.record_intent(w.vm.id, self.clock.now())  # durable before the call (STYLE 7)
            w.state, w.ready = "intent", False
            self._emit("vm-intent", step.id, w.vm.id, "triggering perform-maintenance", journal=False)

        units = self._trigger_units(items)

        def trigger(unit: list[_VMWork]) -> list[Operation]:
            if len(unit) > 1 and isinstance(self.backend, BatchMaintenance):
                # instances of one uniform scale set: one request for them all
                return list(self.backend.start_scale_set_maintenance([w.vm.id for w in unit]))
            return [self.backend.start_maintenance(unit[0].vm.id)]

        answers = self._each(lambda unit: _answer(trigger, unit), units, "udroll-trigger")
        for unit, answer in zip(units, answers, strict=True):
            if isinstance(answer, NotEligibleError) and len(unit) == 1:
                w = unit[0]
                w.refused, w.needs_status, w.due = str(answer), True, self.clock.now()
            elif isinstance(answer, AzureError):
                for w in unit:  # ambiguous: the next look is at Azure's status, never a blind retry
                    w.needs_status = True
                    self._azure_trouble(step, w, answer, deadline, "triggering perform-maintenance")
            else:
                for w, op in zip(unit, answer, strict=True):
                    self._triggered(step, settings, w, op)

    def _trigger_units(self, items: list[_VMWork]) -> list[list[_VMWork]]:
        """One call per VM, except instances of one uniform scale set, started together when the
        backend can (a refusal of the whole call is then sorted out VM by VM from their status)."""
        if not isinstance(self.backend, BatchMaintenance):
            return [[w] for w in items]
        units: dict[tuple[str, ...], list[_VMWork]] = {}
        for w in items:
            vm = w.vm
            if vm.orchestration == "Uniform" and vm.scale_set:
                key: tuple[str, ...] = (
                    vm.subscription.lower(),
                    vm.resource_group.lower(),
                    vm.scale_set.lower(),
                )
            else:
                key = (vm.id,)
            units.setdefault(key, []).append(w)
        return list(units.values())

    def _triggered(self, step: Step, settings: TierSettings, w: _VMWork, op: Operation) -> None:
        at = self.clock.now()
        self.journal.record_trigger(w.vm.id, step.id, op.token, at)
        w.state, w.token, w.backoff, w.op_done, w.retries = "triggered", op.token, 0.0, False, 0
        # an early look at the status catches a quick RetryLater; the operation itself is polled
        # only if the status does not show it settled once it is expected to be done
        w.needs_status, w.early = True, True
        w.due = at + dt.timedelta(seconds=min(self.config.first_poll, settings.expected_duration))
        w.expected_at = at + dt.timedelta(seconds=settings.expected_duration)
        self._emit("vm-triggered", step.id, w.vm.id, "perform-maintenance accepted")

    def _poll(self, step: Step, settings: TierSettings, items: list[_VMWork], deadline: dt.datetime) -> None:
        first = items[0]
        assert first.token is not None
        try:
            result = self.backend.poll(Operation(first.vm.id, first.token))
        except AzureError as exc:
            for w in items:
                self._azure_trouble(step, w, exc, deadline, "polling the operation")
            return
        for w in items:
            w.backoff = 0.0
            if not result.done:
                w.due = max(self._later(self.config.poll_interval), w.expected_at or self.clock.now())
                w.expected_at = None
                continue
            self._emit(
                "vm-polled",
                step.id,
                w.vm.id,
                "operation finished" if result.succeeded else f"operation failed: {result.error}",
                journal=False,
                succeeded=result.succeeded,
            )
            if not result.succeeded:
                self.journal.update_vm(w.vm.id, message=result.error)
            w.op_done, w.needs_status, w.due = True, True, self.clock.now()

    def _completed(self, step: Step, settings: TierSettings, w: _VMWork, s: VMStatus) -> None:
        now = self.clock.now()
        if w.state != "completed":
            w.state = "completed"
            self.journal.update_vm(
                w.vm.id, state="completed", completed_at=now, result="MaintenanceCompleted"
            )
            self._emit("vm-result", step.id, w.vm.id, "MaintenanceCompleted")
        if s.power_state != "running":
            deadline = self._deadline(step, settings)
            if now >= deadline:
                return self._fail_vm(
                    step,
                    w,
                    f"maintenance completed but the VM is {s.power_state}, "
                    "not running, at the step's timeout",
                )
            w.needs_status, w.due = True, self._later(self.config.status_interval)
            return None
        w.state = "gating"
        w.gate = HealthGate(settings.health, now)
        w.due = w.gate.next_probe
        self.journal.update_vm(w.vm.id, state="gating", running_at=now)
        self._emit(
            "vm-running",
            step.id,
            w.vm.id,
            "running: health gate starts",
            wait=settings.health.wait,
            healthy_for=settings.health.healthy_for,
        )
        return None

    def _probe(self, step: Step, settings: TierSettings, items: list[_VMWork]) -> None:
        results = self.prober(self._targets(step, [w.vm.id for w in items], settings))
        self._record_probes(step, results)
        now = self.clock.now()
        for w in items:
            assert w.gate is not None
            verdict = w.gate.observe(now, results[w.vm.id])
            if verdict == "healthy":
                w.state = "healthy"
                self.journal.update_vm(w.vm.id, state="healthy", healthy_at=now)
                self._emit("vm-healthy", step.id, w.vm.id, "healthy")
            elif verdict == "failed":
                self._fail_vm(step, w, f"{w.vm.name}: {w.gate.why_failed()}")
            else:
                w.due = w.gate.next_probe


def _turn(gen: Wake) -> dt.datetime | None:
    """Run a step worker until it next waits: the time it wants to run again, None when it ended."""
    try:
        return next(gen)
    except StopIteration:
        return None


def _in_progress(s: VMStatus) -> bool:
    """Azure shows maintenance under way: the VM is off its feet, or no longer accepts a trigger."""
    if s.power_state not in ("running", "deallocated"):  # a maintained VM walks stopping/stopped/starting
        return True
    m = s.maintenance
    return bool(m and not m.customer_initiated_allowed and m.last_result == "None")


def _answer(call: Callable[[_T], _R], arg: _T) -> _R | AzureError:
    """An Azure call's result, or its error as a value to sort out per VM; a credential or
    permission problem is not per VM and stops the run."""
    try:
        return call(arg)
    except (AuthenticationError, AuthorizationError):
        raise
    except AzureError as exc:
        return exc
