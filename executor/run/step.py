"""One step's phases (DESIGN §7): baseline health of its tier, ``before_step`` hook, the pre-maintenance
event (and its answer, when required), the maintenance of its VMs (executor.run.vm), the post event,
``after_step`` hook. The phase reached is journalled, so a resumed step goes
on from where it was.

Each step is a generator that does a short piece of I/O and yields the clock time it next wants to run
at; the runner's loop turns it when that time comes.
"""

from __future__ import annotations

from executor.run.baseline import Baselines, wait_healthy
from executor.run.context import RunContext, StepFailed
from executor.run.hooks import run_hook
from executor.run.journal import VMRow
from executor.run.vm import StepVMs, Wake
from planner.plan import Step
from planner.timefmt import rfc3339


class StepWorker:
    """A running step, phase by phase; ends the step as done or failed in the journal."""

    def __init__(self, ctx: RunContext, step: Step, baselines: Baselines):
        self.ctx = ctx
        self.step = step
        self.settings = ctx.settings[step.tier]
        self.baselines = baselines

    def run(self) -> Wake:
        ctx, step = self.ctx, self.step
        try:
            yield from self._phases()
        except StepFailed as exc:
            now = ctx.clock.now()
            ctx.live.state[step.id] = "failed"
            ctx.live.ended[step.id] = now
            ctx.journal.update_step(step.id, state="failed", ended_at=now, error=str(exc))
            ctx.emit("step-failed", step.id, message=str(exc))
            return
        now = ctx.clock.now()
        ctx.live.state[step.id] = "done"
        ctx.live.ended[step.id] = now
        ctx.journal.update_step(step.id, state="done", ended_at=now, phase=None)
        ctx.emit(
            "step-ended", step.id, message=_ended(ctx.journal.vms(step.id)), planned_end=rfc3339(step.end)
        )

    def _phases(self) -> Wake:
        phase = self.ctx.journal.step(self.step.id).phase or "baseline"
        if phase == "baseline":
            yield from wait_healthy(self.ctx, self.step, self.settings, self.baselines)
            phase = self._phase("before_step")
        if phase == "before_step":
            self._hook("before_step")
            phase = self._phase("pre_event")
        if phase == "pre_event":  # a required answer is waited for here, before any trigger
            if self.ctx.step_events is not None:
                yield from self.ctx.step_events.pre(self.ctx, self.step)
            phase = self._phase("maintenance")
        if phase == "maintenance":
            yield from StepVMs(self.ctx, self.step).run()
            if self.ctx.step_events is not None:
                self.ctx.step_events.post(self.ctx, self.step)
            phase = self._phase("after_step")
        if phase == "after_step":
            self._hook("after_step")

    def _phase(self, phase: str) -> str:
        self.ctx.journal.update_step(self.step.id, phase=phase)
        return phase

    def _hook(self, which: str) -> None:
        ctx, step = self.ctx, self.step
        argv = self.settings.before_step if which == "before_step" else self.settings.after_step
        if not argv:
            return
        facts = [ctx.fleet[v] for v in step.vms if v in ctx.fleet]
        result = run_hook(
            argv,
            step.id,
            step.tier,
            which,
            [f.name for f in facts],
            list(step.vms),
            [f.resource_group for f in facts],
            ctx.journal.location,
            cwd=ctx.config.workdir,
            pass_env=self.settings.hook_env,
        )
        ctx.journal.record_hook(ctx.clock.now(), step.id, which, list(result.argv), result.rc, result.output)
        ctx.emit(
            "hook",
            step.id,
            message=f"{which}: {result.describe() if not result.ok else 'ok'}",
            which=which,
            rc=result.rc,
        )
        if not result.ok:
            what = "before any trigger" if which == "before_step" else "after its VMs were maintained"
            raise StepFailed(f"{which} hook failed {what}: {result.describe()}")


def _ended(rows: list[VMRow]) -> str:
    """``done: 2 VMs maintained``, ``done: 0 VMs maintained, 1 skipped``: a skipped VM was not maintained."""
    maintained = sum(1 for r in rows if r.state == "healthy")
    skipped = sum(1 for r in rows if r.state == "skipped")
    text = f"done: {maintained} VM{'' if maintained == 1 else 's'} maintained"
    return text + (f", {skipped} skipped" if skipped else "")
