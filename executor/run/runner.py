"""The runner (DESIGN §7): one loop — read state, decide, act, journal — driving a worker per running step.

The plan is optimistic; the runner re-checks live state before acting (STYLE 6). Which steps may start
is decided by executor.run.scheduling (pure); a step's phases live in executor.run.step and each VM's
state machine in executor.run.vm. The loop here reads the journal's control rows (pause, abort, skip),
asks the schedule, confirms and starts steps, turns their workers, and ends the run.

Each step is a generator that does a short piece of I/O and yields the clock time it next wants to
run at; the loop sleeps on the injected Clock until the earliest of those. With a FakeClock one
thread runs every turn (a 6-hour rollout takes milliseconds, deterministically); with a real or
scaled clock each turn runs in a thread pool, so one step's Azure calls and probes never hold up
another's. Health probes of many VMs run side by side inside a turn (they never read the clock).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from executor.run.approvals import Approvals
from executor.run.backend import ComputeBackend
from executor.run.baseline import Baselines
from executor.run.clock import Clock
from executor.run.context import (
    AzureUnavailable,
    Prober,
    RunConfig,
    RunContext,
    RunOutcome,
    StepEvents,
    StepFailed,
)
from executor.run.events import Reporter
from executor.run.gates import Check, close_connections
from executor.run.guard import touched
from executor.run.lag import Lag
from executor.run.scheduling import HORIZON, Schedule, idle_until, operator_intervals
from executor.run.step import StepWorker
from executor.run.store import WAITING, JournalStore
from executor.run.vm import Wake
from planner.fleet import VM, Fleet
from planner.plan import Plan, Step
from planner.select import selection
from planner.spec import Spec, TierSettings
from planner.timefmt import duration, human_time, plural, rfc3339, rfc3339_or_none

__all__ = ["RunConfig", "RunOutcome", "Runner", "StepFailed"]


class Runner:
    def __init__(
        self,
        journal: JournalStore,
        plan: Plan,
        spec: Spec,
        fleet: Fleet,
        backend: ComputeBackend,
        clock: Clock,
        reporter: Reporter | None = None,
        confirm: Callable[[str], bool] | None = None,
        checks_for: Callable[[VM, TierSettings], Sequence[Check]] | None = None,
        config: RunConfig | None = None,
        prober: Prober | None = None,
        step_events: StepEvents | None = None,
    ):
        self.ctx = RunContext(
            journal, plan, spec, fleet, backend, clock, reporter, checks_for, config or RunConfig(), prober
        )
        self.ctx.step_events = step_events
        self.approvals = Approvals(self.ctx, confirm)
        self.azure_down: str | None = None
        totals = {tier: len(vms) for tier, vms in selection(spec, fleet.vms).items()}
        capacity = {t: s.max_unavailable.of(max(1, totals.get(t, 0))) for t, s in self.ctx.settings.items()}
        now = clock.now()
        intervals = operator_intervals(spec, min(plan.start, now), now + HORIZON)
        self.schedule = Schedule(plan, spec, self.ctx.settings, self.ctx.fleet, capacity, intervals)
        self.ctx.fits_now = lambda step, at: self.schedule.window_start(step, at) == at
        self.baselines = Baselines()
        self.lag = Lag(self.ctx)  # says when the runner falls behind its plan (and holds a simulation)
        self.lag.instant_probes()

    def _worker(self, step: Step) -> Wake:
        return StepWorker(self.ctx, step, self.baselines).run()

    def _start_what_may(self, now: dt.datetime, workers: dict[str, tuple[Wake, dt.datetime]]) -> None:
        """Start every step the schedule, the live guard and the approvals allow now."""
        for step in self._startable(now):
            if not self.approvals.approved(step):  # asked, never waited on: the loop goes on
                if self.approvals.declined:
                    self.ctx.pausing = f"the operator declined step {step.id}"
                    return
                self._waiting(step.id, self.approvals.waiting_reason(step), None)
                continue
            allowed = self.ctx.live.waiting.get(step.id, (None, None))[1]
            if allowed is not None:
                self.lag.started(allowed, f"step {step.id}'s start", step.id)
            self._start_step(step)
            workers[step.id] = (self._worker(step), self.ctx.clock.now())

    def _wake(self, step_id: str, turn: Callable[[], dt.datetime | None]) -> dt.datetime | None:
        """A worker's next wake-up; an Azure outage ends its turns and pauses the run (resume goes on
        from the journal), any other exception stops the run."""
        try:
            return turn()
        except AzureUnavailable as exc:
            self.azure_down = str(exc)
            self.ctx.pausing = f"Azure unavailable ({step_id}): {exc}"
            self.ctx.emit("azure-unavailable", step_id, message=str(exc))
            return None

    def _touched(self, step_id: str) -> bool:
        """Whether any VM of the step was (or may have been) triggered: its gap then outlives a skip."""
        return any(touched(row.state, row.attempts) for row in self.ctx.journal.vms(step_id))

    def run(self) -> RunOutcome:
        """Execute (or continue) the run in the journal; returns how it ended. Ctrl-C pauses."""
        try:
            return self._run()
        except KeyboardInterrupt:
            now = self.ctx.clock.now()
            hint = "continue with `udroll resume`"
            if self.ctx.aborted:  # the abort outlives Ctrl-C: a resume only follows VMs in flight
                self.ctx.journal.request("abort", None, now)
                hint = "`udroll resume` only follows the VMs in flight and ends the run aborted"
            self.ctx.journal.set_run_state("paused", now, "interrupted (Ctrl-C)")
            self.ctx.emit(
                "run-paused",
                message="interrupted: in-flight VMs continue at Azure"
                + self._then("`udroll resume` picks them up from their handles"),
            )
            return RunOutcome("paused", "interrupted" + self._then(hint))
        finally:
            self.ctx.log.close()
            close_connections()

    def _run(self) -> RunOutcome:
        previous = self.ctx.journal.run_state
        if previous == "aborted":
            return RunOutcome("aborted", "this run was aborted; start a new run with `udroll run`")
        if previous == "completed":
            return RunOutcome("completed", "this run already completed")
        self._load_state()
        self.ctx.journal.set_run_state("running", self.ctx.clock.now())
        if previous == "new":
            self.ctx.emit(
                "run-started",
                message=f"{self.ctx.plan.name}: {plural(len(self.ctx.plan.steps), 'step')}",
                steps=len(self.ctx.plan.steps),
                planned_makespan_s=self.ctx.plan.makespan_s,
            )
        else:
            self.ctx.emit("run-resumed", message=f"resuming a {previous} run", previous=previous)
        workers: dict[str, tuple[Wake, dt.datetime]] = {}
        for step_id, state in self.ctx.live.state.items():
            if state == "running":
                workers[step_id] = (self._worker(self.ctx.steps[step_id]), self.ctx.clock.now())
        pool = ThreadPoolExecutor(self.ctx.config.workers, "udroll-step") if self.ctx.threaded() else None
        try:
            return self._loop(workers, pool)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)  # let a turn in flight end its writes

    def _loop(
        self, workers: dict[str, tuple[Wake, dt.datetime]], pool: ThreadPoolExecutor | None
    ) -> RunOutcome:
        busy: dict[str, Future[dt.datetime | None]] = {}  # step -> its turn in flight (threaded)
        self.next_control = self.ctx.clock.now()
        while True:
            with self.lag.busy():  # in a simulation, the runner's own work takes no simulated time
                self._pass(workers, busy, pool)
                if not workers:
                    outcome = self._finished()
                    if outcome:
                        return outcome
                wake = self._next_wake(workers, busy)
                if isinstance(wake, RunOutcome):
                    return wake
                sleep = (wake - self.ctx.clock.now()).total_seconds()
            self.lag.waiting()
            if busy:
                # wake for whichever comes first: a turn ending or the next due time
                real = sleep / float(getattr(self.ctx.clock, "speed", 1.0))
                wait(list(busy.values()), timeout=max(0.0, real), return_when=FIRST_COMPLETED)
            elif sleep > 0:
                self.ctx.clock.sleep(sleep)

    def _pass(
        self,
        workers: dict[str, tuple[Wake, dt.datetime]],
        busy: dict[str, Future[dt.datetime | None]],
        pool: ThreadPoolExecutor | None,
    ) -> None:
        """One look: controls, failures, steps to start, turns ended, turns due."""
        now = self.ctx.clock.now()
        if now >= self.next_control:
            self._handle_controls()
            self.next_control = now + dt.timedelta(seconds=self.ctx.config.control_interval)
        self._check_failures()
        if not self.ctx.halting and not self.ctx.pausing:
            self._start_what_may(now, workers)
        for step_id, future in list(busy.items()):
            if future.done():
                del busy[step_id]
                wake = self._wake(step_id, future.result)  # sign-in trouble or a bug stops the run
                if wake is None:
                    del workers[step_id]
                else:
                    workers[step_id] = (workers[step_id][0], wake)
        for step_id in [s for s, (_, at) in workers.items() if at <= self.ctx.clock.now() and s not in busy]:
            gen, due = workers[step_id]
            if pool is not None:
                busy[step_id] = pool.submit(self._turn, step_id, gen, due)
                continue
            wake = self._wake(step_id, functools.partial(self._turn, step_id, gen, due))
            if wake is None:
                del workers[step_id]
            else:
                workers[step_id] = (gen, wake)

    def _next_wake(
        self, workers: dict[str, tuple[Wake, dt.datetime]], busy: dict[str, Future[dt.datetime | None]]
    ) -> dt.datetime | RunOutcome:
        """When to look again: the next due turn, step start or control read (or how an
        ``--until-idle`` run ends when nothing is left to do now)."""
        wakes = [at for s, (_, at) in workers.items() if s not in busy]
        if not self.ctx.halting and not self.ctx.pausing:
            ready = self._next_ready_time()
            if ready is not None:
                wakes.append(ready)
                if self.ctx.config.until_idle and not workers and not busy:
                    idle = self._idle(ready)
                    if idle:
                        return idle
        wakes.append(self.next_control)
        return min(wakes)

    def _load_state(self) -> None:
        retry = self.ctx.config.retry_failed
        for row in self.ctx.journal.steps():
            state = row.state
            if retry and state == "failed":
                self._reset_failed(row.id)
                state = "waiting"
            self.ctx.live.state[row.id] = state
            if row.ended_at and (state != "skipped" or self._touched(row.id)):
                self.ctx.live.ended[row.id] = row.ended_at  # a gap counts from it (DESIGN §11)
            if row.started_at:
                self.ctx.live.started[row.id] = row.started_at

    def _reset_failed(self, step_id: str) -> None:
        for row in self.ctx.journal.vms(step_id):
            if row.state == "failed":
                # maintenance done: only its health is in question, so probe again, never re-trigger
                state = "completed" if row.completed_at else "pending"
                self.ctx.journal.update_vm(row.vm, state=state, message=None, reschedule=0)
        self.ctx.journal.update_step(
            step_id, state="waiting", phase=None, error=None, started_at=None, ended_at=None
        )
        self.ctx.emit("step-retry", step_id, message="failed step will be retried (--retry-failed)")

    def _handle_controls(self) -> None:
        for control in self.ctx.journal.pending_controls():
            now = self.ctx.clock.now()
            if control.command == "pause":
                self.ctx.pausing = "paused from another terminal (`udroll pause`)"
            elif control.command == "abort":
                self.ctx.aborted = True
                self.ctx.halting = "aborted from another terminal (`udroll abort`)"
            elif control.command == "skip" and control.arg:
                self._skip(control.arg)
            elif control.command in ("approve", "decline"):
                self.approvals.answer(control.command, control.arg)
                if self.approvals.declined:
                    self.ctx.pausing = f"the operator declined {self.approvals.declined}"
            self.ctx.journal.handled(control, now)
            self.ctx.emit(
                "control",
                message=f"{control.command} {control.arg or ''}".strip(),
                command=control.command,
                arg=control.arg,
            )

    def _skip(self, step_id: str) -> None:
        state = self.ctx.live.state.get(step_id)
        if state in ("waiting", "failed"):
            live = self.ctx.live
            live.state[step_id] = "skipped"
            self.ctx.journal.update_step(step_id, state="skipped", waiting_for=None, waiting_until=None)
            message = "skipped by the operator (`udroll skip`)"
            if step_id in live.ended and self._touched(step_id):
                gap = self.ctx.steps[step_id].gap_after_s
                message += f"; its VMs were touched, so its {duration(gap)} recovery gap still holds"
            else:
                live.ended.pop(step_id, None)  # never touched a VM: nothing to recover from
            self.ctx.emit("step-skipped", step_id, message=message)
        else:
            self.ctx.emit(
                "warning", step_id, message=f"cannot skip step {step_id}: it is {state or 'unknown'}"
            )

    def _check_failures(self) -> None:
        """Halt when more steps failed than allowed (recomputed: a skip may lift it); abort is final."""
        if self.ctx.aborted:
            return
        failed = [s for s, st in self.ctx.live.state.items() if st == "failed"]
        limit = self.ctx.spec.limits.max_failed_steps
        before = self.ctx.halting
        self.ctx.halting = None
        if len(failed) > limit:
            self.ctx.halting = (
                f"{len(failed)} step{'s' if len(failed) > 1 else ''} failed "
                f"({', '.join(failed)}), more than limits.max_failed_steps={limit}"
            )
        if self.ctx.halting and self.ctx.halting != before:
            self.ctx.emit("run-halting", message=self.ctx.halting + ": no new triggers; in-flight VMs finish")

    def _finished(self) -> RunOutcome | None:
        """With no step running: the outcome, or None when some step can still start later."""
        states = self.ctx.live.state
        failed = tuple(s for s, st in states.items() if st == "failed")
        waiting = [s for s, st in states.items() if st == "waiting"]
        if waiting and not failed and not (self.ctx.aborted or self.ctx.halting or self.ctx.pausing):
            return None  # the common case, on every turn: keep it cheap
        reschedule = tuple(r.vm for r in self.ctx.journal.vms() if r.reschedule)
        if self.ctx.aborted:
            self.ctx.journal.set_run_state("aborted", self.ctx.clock.now(), self.ctx.halting or "aborted")
            self.ctx.emit("run-halted", message="aborted", failed=list(failed))
            return RunOutcome("aborted", self.ctx.halting or "aborted", failed, reschedule)
        if self.ctx.halting:
            where = self.ctx.journal.location
            message = self.ctx.halting + self._then(
                f"fix the cause, then `udroll resume --journal {where} --retry-failed` "
                f"or `udroll skip STEP --journal {where}`"
            )
            return self._halt(message, failed, reschedule)
        if self.ctx.pausing:
            if self.azure_down is not None:
                waiting_vms = [r.vm for r in self.ctx.journal.vms() if r.state == "pending"]
                names = ", ".join(self.ctx.name(v) for v in waiting_vms[:5])
                more = f" and {len(waiting_vms) - 5} more" if len(waiting_vms) > 5 else ""
                self.ctx.pausing = (
                    f"Azure unavailable: {self.azure_down}; nothing was triggered blind, and "
                    f"{plural(len(waiting_vms), 'VM')} not started ({names}{more}), none failed for it"
                )
            self.ctx.journal.set_run_state("paused", self.ctx.clock.now(), self.ctx.pausing)
            self.ctx.emit("run-paused", message=self.ctx.pausing)
            return RunOutcome(
                "paused",
                self.ctx.pausing + self._then("continue with `udroll resume`"),
                failed,
                reschedule,
                azure_unavailable=self.azure_down is not None,
            )
        if waiting:
            blocked = [s for s in waiting if self.schedule.blocked_by_failure(s, self.ctx.live.state)]
            if len(blocked) < len(waiting):
                return None
            where = self.ctx.journal.location
            message = (
                f"{plural(len(failed), 'failed step')} ({', '.join(failed)}) block "
                f"{plural(len(blocked), 'waiting step')}"
            ) + self._then(
                f"`udroll resume --journal {where} --retry-failed` or `udroll skip STEP --journal {where}`"
            )
            return self._halt(message, failed, reschedule)
        if failed:
            message = f"finished with {plural(len(failed), 'failed step')}: {', '.join(failed)}"
            return self._halt(message, failed, reschedule)
        self.ctx.journal.set_run_state("completed", self.ctx.clock.now(), "every step done")
        self.ctx.emit("run-finished", message="every step done", reschedule=list(reschedule))
        return RunOutcome("completed", "every step done", (), reschedule)

    def _halt(self, message: str, failed: tuple[str, ...], reschedule: tuple[str, ...]) -> RunOutcome:
        self.ctx.journal.set_run_state("halted", self.ctx.clock.now(), message)
        self.ctx.emit("run-halted", message=message, failed=list(failed))
        return RunOutcome("halted", message, failed, reschedule)

    def _then(self, hint: str) -> str:
        """``; <hint>`` naming `udroll resume` or `skip`, or nothing for a simulation (whose in-process
        emulator ends with it: it cannot be resumed, and the CLI says how to rehearse instead)."""
        return "" if self.ctx.journal.meta("simulated") == "1" else f"; {hint}"

    def _idle(self, ready: dt.datetime) -> RunOutcome | None:
        """--until-idle: nothing runs and nothing can start before the open window closes, so stop."""
        now = self.ctx.clock.now()
        if not idle_until(self.schedule.intervals, now, ready):
            return None
        message = (
            f"waiting until {human_time(ready, self.ctx.zone)}: nothing can start before the window closes"
        )
        self.ctx.journal.set_run_state(WAITING, now, message)
        self.ctx.emit("run-waiting", message=message, until=rfc3339(ready))
        return RunOutcome(WAITING, message)

    def _waiting(self, step_id: str, reason: str | None, until: dt.datetime | None) -> None:
        if self.ctx.live.waiting.get(step_id) != (reason, until):
            self.ctx.live.waiting[step_id] = (reason, until)
            self.ctx.journal.set_waiting(step_id, reason, until)
            self.ctx.emit(
                "step-waiting",
                step_id,
                message=f"waiting for {reason}"
                + (f" until {human_time(until, self.ctx.zone)}" if until else ""),
                journal=False,
                reason=reason,
                until=rfc3339_or_none(until),
            )

    def _fail_unstartable(self, step: Step) -> None:
        message = (
            "no open window left: the operator window and its VMs' self-service windows do not "
            "fit the step before they close; Azure will maintain these VMs in its scheduled window"
        )
        self.ctx.live.state[step.id] = "failed"
        self.ctx.journal.update_step(
            step.id, state="failed", error=message, waiting_for=None, waiting_until=None
        )
        self.ctx.emit("step-failed", step.id, message=message)

    def _start_step(self, step: Step) -> None:
        now = self.ctx.clock.now()
        self.ctx.live.state[step.id] = "running"
        self.ctx.live.started[step.id] = now
        self.ctx.live.waiting[step.id] = (None, None)
        self.ctx.journal.update_step(
            step.id, state="running", phase="baseline", started_at=now, waiting_for=None, waiting_until=None
        )
        self.ctx.emit(
            "step-started",
            step.id,
            message=plural(len(step.vms), "VM"),
            tier=step.tier,
            vms=list(step.vms),
            planned_start=rfc3339(step.start),
        )

    # --- one step --------------------------------------------------------------------------------

    def _startable(self, now: dt.datetime) -> list[Step]:
        """Steps that may start now, in planned order; records why the others wait."""
        live = self.ctx.live
        decision = self.schedule.decide(live.state, live.ended, now)
        for step in decision.unstartable:
            self._fail_unstartable(step)
        for step_id, why in decision.waiting.items():
            self._waiting(step_id, why.reason, why.until)
        start = []
        self.ctx.sweep_for_steps(decision.start)  # one sweep may serve them all
        for step in decision.start:
            hold = self.ctx.group_hold(step)  # the live guard: someone else on the group?
            if hold is None:
                start.append(step)
                continue
            if live.waiting.get(step.id, (None, None))[0] != hold.reason:
                self.ctx.emit("step-held", step.id, message=f"waiting: {hold.reason}", reason=hold.reason)
            self._waiting(step.id, hold.reason, hold.until)
        return start

    def _next_ready_time(self) -> dt.datetime | None:
        live = self.ctx.live
        times = [
            until
            for sid, (_, until) in live.waiting.items()
            if until is not None and live.state.get(sid) == "waiting"
        ]
        return min(times) if times else None

    def _turn(self, step_id: str, gen: Wake, due: dt.datetime) -> dt.datetime | None:
        """A step's turn, due at ``due``: noted late or not (executor.run.lag), then run (in a
        simulation the clock stands still meanwhile)."""
        self.lag.started(due, f"a turn of step {step_id}", step_id)
        with self.lag.busy():
            return _turn(gen)


def _turn(gen: Wake) -> dt.datetime | None:
    """Run a step worker until it next waits: the time it wants to run again, None when it ended."""
    try:
        return next(gen)
    except StopIteration:
        return None
