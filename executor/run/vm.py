"""The VMs of one step, each through its state machine (DESIGN §7): status, trigger, poll, settle, gate.

Per VM: fresh status (skip nothing-pending and completed; never trigger outside its self-service
window or when Azure does not allow it), journal the intent, trigger, journal the handle, follow it
to the end, read the result (RetryLater: back off and trigger again within the step's timeout;
MaintenanceAborted: fail, "Azure will reschedule this VM"), wait for PowerState/running, then the
health gate. A VM with an intent but no handle (a crash, or an ambiguous error, between the two) is
reconciled from Azure's status before anything else: maintenance under way or done is followed,
never triggered again.

Requests (README "calls"): one fresh status read before the trigger and one when the maintenance is
due (a scale set's members: a list of the set; many VMs: a sweep of the subscription, shared with the
live guard), one perform-maintenance per VM (one per uniform scale set step), and the operation is
polled from its handle only when the status does not settle it — three per standalone VM at most.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Generator

from executor.run.backend import BatchMaintenance, BatchStatus, Operation, VMStatus
from executor.run.context import AzureUnavailable, RunContext, StepFailed
from executor.run.gates import HealthGate
from executor.run.guard import in_progress, under_way
from executor.run.outcome import after_operation
from executor.run.work import VMWork, answer_of, trigger_units
from planner.errors import (
    AuthenticationError,
    AuthorizationError,
    AzureError,
    NotEligibleError,
    VMGoneError,
)
from planner.fleet import VM
from planner.plan import Step
from planner.timefmt import duration, human_span, human_time, plural

Wake = Generator[dt.datetime, None, None]
TERMINAL = ("healthy", "skipped", "failed")
SETTLED = ("RetryLater", "MaintenanceAborted", "MaintenanceCompleted")


class StepVMs:
    """The maintenance phase of one step: every VM of it to a terminal state (healthy/skipped/failed)."""

    def __init__(self, ctx: RunContext, step: Step):
        self.ctx = ctx
        self.step = step
        self.settings = ctx.settings[step.tier]
        self.held: str | None = None  # the live guard's reason while it holds the step's triggers

    def run(self) -> Wake:
        """Turn by turn until every VM is healthy, skipped or failed; a failed VM fails the step."""
        work = self._load(self.ctx.clock.now())
        deadline = self.ctx.step_deadline(self.step)
        while True:
            now = self.ctx.clock.now()
            due = [w for w in work.values() if w.state not in TERMINAL and w.due <= now]
            self._read_statuses([w for w in due if w.needs_status], deadline)
            ready = self._unless_held([w for w in due if w.ready], now)
            if ready:
                self._trigger(ready, deadline)
            polls: dict[str, list[VMWork]] = {}  # one look per operation (a scale set call has one)
            for w in due:
                if w.state == "triggered" and not w.needs_status and w.due <= now and w.token:
                    polls.setdefault(w.token, []).append(w)
            for items in polls.values():
                self._poll(items, deadline)
            gating = [w for w in work.values() if w.state == "gating" and w.due <= self.ctx.clock.now()]
            if gating:
                self._probe(gating)
            open_ = [w for w in work.values() if w.state not in TERMINAL]
            if not open_:
                break
            yield min(w.due for w in open_)
        failed = [(vm, self.ctx.journal.vm(vm).message) for vm, w in work.items() if w.state == "failed"]
        if failed:
            shown = "; ".join(f"{self.ctx.name(vm)}: {msg}" for vm, msg in failed[:5])
            raise StepFailed(f"{len(failed)} of {plural(len(work), 'VM')} failed: {shown}")

    def _load(self, now: dt.datetime) -> dict[str, VMWork]:
        """Each VM's work from the journal: a resumed VM continues from what was durably recorded."""
        work: dict[str, VMWork] = {}
        for row in self.ctx.journal.vms(self.step.id):
            facts = self.ctx.fleet.get(row.vm) or VM(
                id=row.vm, name=row.vm.rsplit("/", 1)[-1], resource_group=""
            )
            item = VMWork(facts, row.state, now, token=row.token)
            if row.state in ("pending", "retry", "intent", "completed"):
                item.needs_status = True
                if row.state == "retry" and row.retry_at:
                    item.due = max(now, row.retry_at)
            elif row.state == "triggered":
                # resume: look at Azure's status first (cheap, batched), then poll from the handle
                item.needs_status, item.early = True, True
                item.expected_at = (row.triggered_at or now) + dt.timedelta(
                    seconds=self.settings.expected_duration
                )
            elif row.state == "gating":
                item.state = "completed"  # a gate's streak does not survive a restart: probe afresh
                item.needs_status = True
            work[row.vm] = item
            if row.state in ("intent", "triggered") and row.attempts:
                self.ctx.emit(
                    "vm-reconciled",
                    self.step.id,
                    row.vm,
                    "intent without handle: reading Azure's status before anything else"
                    if row.state == "intent"
                    else "resuming the operation from its handle",
                )
        return work

    def _unless_held(self, ready: list[VMWork], turn: dt.datetime) -> list[VMWork]:
        """The live guard right before a trigger (reads of this turn, from ``turn``, serve): if another
        domain of the group is (or was just) maintained by someone else, the ready VMs wait — or,
        once the step no longer fits its window, are not triggered at all."""
        if not ready:
            return ready
        hold = self.ctx.group_hold(self.step, fresh_since=turn)
        if hold is None:
            if self.held:
                self.ctx.journal.set_waiting(self.step.id, None, None)
                self.held = None
            return ready
        if hold.reason != self.held:
            self.ctx.emit("step-held", self.step.id, message=f"not triggering: {hold.reason}")
            self.held = hold.reason
        self.ctx.journal.set_waiting(self.step.id, hold.reason, hold.until)
        fits = self.ctx.fits_now(self.step, hold.until)
        for w in ready:
            w.ready = False
            if not fits:
                self._fail_vm(w, f"not triggered: the window closed while {hold.reason}")
                continue
            w.needs_status, w.due = True, hold.until
        return []

    def _azure_trouble(self, w: VMWork, exc: AzureError, deadline: dt.datetime, doing: str) -> None:
        """A transient Azure error: back off and try again, until the step's timeout."""
        if isinstance(exc, (AuthenticationError, AuthorizationError)):
            raise exc  # nothing a retry fixes: the run stops (exit 5) and resumes once fixed
        if isinstance(exc, VMGoneError):
            self._fail_vm(w, f"the VM no longer exists ({exc})")
            return
        w.backoff = min(300.0, w.backoff * 2 if w.backoff else self.ctx.config.azure_backoff)
        if self.ctx.later(w.backoff) > deadline:
            # an outage is not the VM's fault: pause the run (DESIGN §8), never fail or guess
            raise AzureUnavailable(f"Azure kept failing while {doing} until the step's timeout: {exc}")
        w.due = self.ctx.later(w.backoff)
        self.ctx.emit(
            "azure-retry",
            self.step.id,
            w.vm.id,
            f"{doing}: {exc}; again in {duration(w.backoff)}",
            journal=False,
        )

    def _audit_trigger(self, w: VMWork) -> None:
        """A trigger accepted by Azure but found only by reconciliation (a crash or a lost answer
        between the call and its handle) still gets its row in the audit of triggers."""
        self.ctx.journal.record_trigger(w.vm.id, self.step.id, "", self.ctx.clock.now())

    def _fail_vm(self, w: VMWork, message: str, reschedule: bool = False) -> None:
        w.state = "failed"
        self.ctx.journal.update_vm(w.vm.id, state="failed", message=message, reschedule=int(reschedule))
        self.ctx.emit("vm-failed", self.step.id, w.vm.id, message, reschedule=reschedule)

    def _skip_vm(self, w: VMWork, reason: str) -> None:
        w.state = "skipped"
        self.ctx.journal.update_vm(w.vm.id, state="skipped", message=reason)
        self.ctx.emit("vm-skipped", self.step.id, w.vm.id, reason)

    def _read_statuses(self, items: list[VMWork], deadline: dt.datetime) -> None:
        if not items:
            return
        statuses: dict[str, VMStatus | AzureError] = {}
        # a step's first look lists its resource groups once (fewer requests); later looks, spread
        # in time and cheap, read the VMs one by one, side by side (a big list is slow to answer)
        first = [w for w in items if w.state in ("pending", "retry")]
        now = self.ctx.clock.now()
        # a read the live guard made moments ago (its list of the step's scale set at the step's
        # start) is fresh enough for the check before a trigger
        statuses.update(self.ctx.guard.recent([w.vm.id for w in first], now, self.ctx.fresh_s()))
        # scale set members: one instance list per scale set (only the sets the step needs)
        if len(items) > 1 and isinstance(self.ctx.backend, BatchStatus):
            with contextlib.suppress(AzureError):  # else: one read per VM below
                statuses.update(
                    self.ctx.backend.statuses([w.vm for w in items if w.vm.id.lower() not in statuses])
                )
        missing = [w.vm.id for w in items if w.vm.id.lower() not in statuses]
        statuses.update(self.ctx.swept(missing, now, 0.0))  # many at once: one sweep, if cheaper
        statuses.update(self._read_each([vm for vm in missing if vm.lower() not in statuses]))
        for found in statuses.values():
            if isinstance(found, VMStatus):
                self.ctx.guard.observe(found, now)  # the live guard reuses every read
        for w in items:
            status = statuses.get(w.vm.id.lower())
            if isinstance(status, AzureError):
                self._azure_trouble(w, status, deadline, "reading its status")
                continue
            if status is None or not status.known:  # no instance view: look at it alone, never guess
                if status is not None and not w.unknown_told:
                    w.unknown_told = True
                    self.ctx.emit("vm-unknown", self.step.id, w.vm.id, status.note, journal=False)
                statuses.update(self._read_each([w.vm.id]) if status is not None else {})
                status = statuses.get(w.vm.id.lower())
                if not isinstance(status, VMStatus) or not status.known:
                    w.needs_status, w.due = True, self.ctx.later(self.ctx.config.status_interval)
                    continue
            w.backoff = 0.0
            self._on_status(w, status, deadline)

    def _read_each(self, vms: list[str]) -> dict[str, VMStatus | AzureError]:
        found = self.ctx.each(lambda vm: answer_of(self.ctx.backend.status, vm), vms, "udroll-status")
        return {vm.lower(): status for vm, status in zip(vms, found, strict=True)}

    def _on_status(self, w: VMWork, s: VMStatus, deadline: dt.datetime) -> None:
        """Act on a fresh status read, by what the VM was waiting for."""
        w.needs_status = False
        if w.state in ("pending", "retry"):
            self._precheck(w, s)
        elif w.state == "intent":
            self._reconcile(w, s, deadline)
        elif w.state == "triggered":
            self._follow(w, s, deadline)
        elif w.state == "completed":
            self._completed(w, s)

    def _precheck(self, w: VMWork, s: VMStatus) -> None:
        """Before a trigger: skip what needs nothing or may not be touched, else mark it ready."""
        m = s.maintenance
        if m is None:
            return self._skip_vm(w, "nothing pending: Azure shows no maintenance for this VM")
        if m.last_result == "MaintenanceCompleted":
            return self._skip_vm(w, "maintenance already completed")
        if under_way(s):
            # someone else's maintenance is under way on it: wait for its outcome, never trigger
            self.ctx.emit(
                "vm-held",
                self.step.id,
                w.vm.id,
                "Azure shows a maintenance under way: waiting",
                journal=False,
            )
            w.needs_status, w.due = True, self.ctx.later(self.ctx.config.status_interval)
            return None
        ssw, now = m.self_service_window, self.ctx.clock.now()
        if ssw and now < ssw[0]:  # Azure allows it only once its window opens: wait, do not skip
            w.needs_status, w.due = True, ssw[0]
            self.ctx.emit(
                "vm-waiting",
                self.step.id,
                w.vm.id,
                f"its self-service window opens {human_time(ssw[0], self.ctx.zone)}",
                journal=False,
            )
            return None
        if not m.customer_initiated_allowed:
            return self._skip_vm(
                w,
                "Azure does not allow customer-initiated maintenance on it now; "
                "Azure will maintain it in its scheduled window",
            )
        if ssw and not ssw[0] <= now <= ssw[1]:
            return self._skip_vm(
                w,
                f"outside its self-service window {human_span(ssw[0], ssw[1], self.ctx.zone)}: not triggered",
            )
        if self.ctx.halting or self.ctx.aborted:
            return self._fail_vm(w, f"not triggered: {self.ctx.halting}")
        w.ready = True  # triggered with the step's other ready VMs, in this turn
        return None

    def _reconcile(self, w: VMWork, s: VMStatus, deadline: dt.datetime) -> None:
        """An intent without a handle: the call may or may not have reached Azure. Believe Azure,
        never trigger on a guess."""
        m = s.maintenance
        result = m.last_result if m else None
        step = self.step.id
        if m is None or result == "MaintenanceCompleted":
            self.ctx.emit("vm-reconciled", step, w.vm.id, "Azure shows the maintenance completed")
            self._audit_trigger(w)
            return self._completed(w, s)
        if in_progress(s):
            self.ctx.emit("vm-reconciled", step, w.vm.id, "Azure shows the maintenance under way: waiting")
            self._audit_trigger(w)  # followed from its status from now on: no handle to poll
            w.state, w.token, w.early, w.op_done = "triggered", None, False, False
            w.needs_status, w.due = True, self.ctx.later(self.ctx.config.status_interval)
            return None
        if w.refused:
            return self._fail_vm(w, f"Azure refused perform-maintenance (409): {w.refused}")
        if result == "MaintenanceAborted":
            return self._fail_vm(w, "MaintenanceAborted: Azure will reschedule this VM", True)
        self.ctx.emit("vm-reconciled", step, w.vm.id, "Azure shows nothing started: triggering")
        w.state = "pending"
        return self._precheck(w, s)

    def _follow(self, w: VMWork, s: VMStatus, deadline: dt.datetime) -> None:
        """After a trigger: status first, the operation's handle only when the status does not settle
        it — a VM that behaves costs a look soon after the trigger (a quick RetryLater) and one when
        it is due."""
        m = s.maintenance
        result = m.last_result if m else None
        now = self.ctx.clock.now()
        if w.op_done:  # the operation ended: decide from documented facts only (executor.run.outcome)
            waited = (now - (w.op_ended or now)).total_seconds()
            verdict = after_operation(s, w.vm.maintenance, w.op_status, waited, self.ctx.config.settle_s)
            if verdict.verdict == "wait":
                w.needs_status, w.due = True, self.ctx.later(self.ctx.config.status_interval)
                return None
            if verdict.verdict == "failed":
                return self._fail_vm(w, verdict.message)
            if verdict.verdict == "completed":
                return self._completed(w, s)
        if not s.known or in_progress(s) or result not in (None, *SETTLED):
            if w.early:
                w.needs_status, w.due = True, max(now, w.expected_at or now)
            elif not w.token:  # found under way by reconciliation: its status is all there is
                w.needs_status, w.due = True, self.ctx.later(self.ctx.config.status_interval)
            else:
                w.due = self.ctx.later(self.ctx.config.poll_interval)  # poll from the handle next
            w.early = False
            return None
        if m is None or result == "MaintenanceCompleted":
            return self._completed(w, s)
        if result == "MaintenanceAborted":
            return self._fail_vm(w, "MaintenanceAborted: Azure will reschedule this VM", True)
        return self._retry_later(w, deadline)

    def _retry_later(self, w: VMWork, deadline: dt.datetime) -> None:
        row = self.ctx.journal.vm(w.vm.id)
        wait = self.ctx.config.retry_backoff * (2 ** max(0, row.attempts - 1))
        retry_at = self.ctx.later(wait)
        if self.ctx.halting or self.ctx.aborted:
            return self._fail_vm(w, f"RetryLater, not retried: {self.ctx.halting}")
        if retry_at + dt.timedelta(seconds=self.settings.expected_duration) > deadline:
            # not MaintenanceAborted: nothing is rescheduled; the self-service window stays open
            return self._fail_vm(
                w,
                f"Azure answered RetryLater {row.attempts} times until the step's timeout: not "
                "maintained; `--retry-failed` tries again while its self-service window is open, "
                "after which Azure maintains it in its scheduled window",
            )
        w.state, w.due, w.needs_status, w.retried = "retry", retry_at, True, True
        self.ctx.journal.update_vm(w.vm.id, state="retry", retry_at=retry_at, result="RetryLater")
        again = f"RetryLater: trying again in {duration(wait)}"
        self.ctx.emit("vm-retry", self.step.id, w.vm.id, again, attempt=row.attempts)
        return None

    def _trigger(self, items: list[VMWork], deadline: dt.datetime) -> None:
        """Journal every intent (durably), then call perform-maintenance on each, side by side when
        threaded, then journal each handle."""
        for w in items:
            self.ctx.journal.record_intent(w.vm.id, self.ctx.clock.now())  # durable before the call (STYLE 7)
            self.ctx.ours.add(w.vm.id)
            w.state, w.ready = "intent", False
            self.ctx.emit("vm-intent", self.step.id, w.vm.id, "triggering perform-maintenance", journal=False)

        units = trigger_units(items, isinstance(self.ctx.backend, BatchMaintenance))

        def trigger(unit: list[VMWork]) -> list[Operation]:
            if len(unit) > 1 and isinstance(self.ctx.backend, BatchMaintenance):
                # instances of one uniform scale set: one request for them all
                return list(self.ctx.backend.start_scale_set_maintenance([w.vm.id for w in unit]))
            return [self.ctx.backend.start_maintenance(unit[0].vm.id)]

        while units:
            answers = self.ctx.each(lambda unit: answer_of(trigger, unit), units, "udroll-trigger")
            units = self._answered(units, answers, deadline)

    def _answered(
        self, units: list[list[VMWork]], answers: list[list[Operation] | AzureError], deadline: dt.datetime
    ) -> list[list[VMWork]]:
        """Record each trigger's answer; a scale set batch refused with 409 comes back split into
        per-instance calls, once (each instance's own 409 then fails it with Azure's message)."""
        split: list[list[VMWork]] = []
        for unit, answer in zip(units, answers, strict=True):
            if isinstance(answer, NotEligibleError) and len(unit) > 1:
                self.ctx.emit(
                    "vm-split",
                    self.step.id,
                    unit[0].vm.id,
                    f"batch refused, one call each: {answer}",
                    journal=False,
                )
                for w in unit:
                    w.split = True
                split += [[w] for w in unit]
            elif isinstance(answer, NotEligibleError) and len(unit) == 1:
                w = unit[0]
                w.refused, w.needs_status, w.due = str(answer), True, self.ctx.clock.now()
            elif isinstance(answer, AzureError):
                for w in unit:  # ambiguous: the next look is at Azure's status, never a blind retry
                    w.needs_status = True
                    self._azure_trouble(w, answer, deadline, "triggering perform-maintenance")
            else:
                at = self.ctx.clock.now()  # one time for a call's VMs: their next looks go together
                for w, op in zip(unit, answer, strict=True):
                    self._triggered(w, op, at)
        return split

    def _triggered(self, w: VMWork, op: Operation, at: dt.datetime) -> None:
        self.ctx.journal.record_trigger(w.vm.id, self.step.id, op.token, at)
        w.state, w.token, w.backoff, w.op_done, w.retries = "triggered", op.token, 0.0, False, 0
        # one status read when the maintenance is expected to be done settles it (the operation is
        # polled only if it does not). Azure answers RetryLater quickly: a VM that answered it before,
        # or one whose RetryLater seen only then would leave no room to try again before the step's
        # timeout, is looked at soon after its trigger too
        expected = self.settings.expected_duration
        retry_fits = dt.timedelta(seconds=2 * expected + self.ctx.config.retry_backoff)
        w.needs_status, w.early = True, w.retried or at + retry_fits > self.ctx.step_deadline(self.step)
        look = min(self.ctx.config.first_poll, expected) if w.early else expected
        w.due, w.expected_at = at + dt.timedelta(seconds=look), at + dt.timedelta(seconds=expected)
        self.ctx.emit("vm-triggered", self.step.id, w.vm.id, "perform-maintenance accepted")

    def _poll(self, items: list[VMWork], deadline: dt.datetime) -> None:
        first = items[0]
        assert first.token is not None
        try:
            result = self.ctx.backend.poll(Operation(first.vm.id, first.token))
        except AzureError as exc:
            for w in items:
                self._azure_trouble(w, exc, deadline, "polling the operation")
            return
        for w in items:
            w.backoff = 0.0
            if not result.done:
                w.due = max(
                    self.ctx.later(self.ctx.config.poll_interval), w.expected_at or self.ctx.clock.now()
                )
                w.expected_at = None
                continue
            self.ctx.emit(
                "vm-polled",
                self.step.id,
                w.vm.id,
                "operation finished" if result.succeeded else f"operation failed: {result.error}",
                journal=False,
                succeeded=result.succeeded,
            )
            if not result.succeeded:
                self.ctx.journal.update_vm(w.vm.id, message=result.error)
            w.op_status, w.op_ended = (
                result.status or ("Succeeded" if result.succeeded else "Failed"),
                self.ctx.clock.now(),
            )
            w.op_done, w.needs_status, w.due = True, True, self.ctx.clock.now()

    def _completed(self, w: VMWork, s: VMStatus) -> None:
        now = self.ctx.clock.now()
        if w.state != "completed":
            w.state = "completed"
            self.ctx.journal.update_vm(
                w.vm.id, state="completed", completed_at=now, result="MaintenanceCompleted"
            )
            self.ctx.emit("vm-result", self.step.id, w.vm.id, "MaintenanceCompleted")
        if s.power_state != "running":
            deadline = self.ctx.step_deadline(self.step)
            if now >= deadline:
                return self._fail_vm(
                    w,
                    f"maintenance completed but the VM is {s.power_state}, "
                    "not running, at the step's timeout",
                )
            w.needs_status, w.due = True, self.ctx.later(self.ctx.config.status_interval)
            return None
        w.state = "gating"
        w.gate = HealthGate(self.settings.health, now, speed=float(getattr(self.ctx.clock, "speed", 1.0)))
        w.due = w.gate.next_probe
        self.ctx.journal.update_vm(w.vm.id, state="gating", running_at=now)
        self.ctx.emit(
            "vm-running",
            self.step.id,
            w.vm.id,
            "running: health gate starts",
            wait=self.settings.health.wait,
            healthy_for=self.settings.health.healthy_for,
        )
        return None

    def _probe(self, items: list[VMWork]) -> None:
        began = self.ctx.clock.now()  # a round begun late (the runner lagged) moves the gates' deadlines
        results = self.ctx.prober(self.ctx.targets(self.step, [w.vm.id for w in items], self.settings))
        self.ctx.record_probes(self.step, results)
        now = self.ctx.clock.now()
        for w in items:
            assert w.gate is not None
            verdict = w.gate.observe(now, results[w.vm.id], began)
            if verdict == "healthy":
                w.state = "healthy"
                self.ctx.journal.update_vm(w.vm.id, state="healthy", healthy_at=now)
                self.ctx.emit("vm-healthy", self.step.id, w.vm.id, "healthy")
            elif verdict == "failed":
                self._fail_vm(w, f"{w.vm.name}: {w.gate.why_failed()}")
            else:
                w.due = w.gate.next_probe
