"""One step's phases (DESIGN §7): baseline health of its tier, ``before_step`` hook, the pre-maintenance
event (and its answer, when required), the maintenance of its VMs (executor.run.vm), the post event,
``after_step`` hook. The phase reached is journalled, so a resumed step goes
on from where it was.

Each step is a generator that does a short piece of I/O and yields the clock time it next wants to run
at; the runner's loop turns it when that time comes.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence

from executor.run.context import RunContext, StepFailed
from executor.run.gates import Check, Probe, Target
from executor.run.hooks import run_hook
from executor.run.journal import VMRow
from executor.run.vm import StepVMs, Wake
from planner.plan import Step
from planner.spec import TierSettings
from planner.timefmt import duration, plural, rfc3339


class Baselines:
    """Baseline probe rounds shared by the steps of a tier: steps starting together share a round that
    is less than one probe interval old (ten groups starting at once probe the tier once, not ten times)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[dt.datetime, dict[str, list[Probe]]]] = {}
        self._locks: dict[str, threading.Lock] = {}

    def round(
        self,
        ctx: RunContext,
        step: Step,
        settings: TierSettings,
        work: dict[str, tuple[Target, Sequence[Check]]],
    ) -> dict[str, list[Probe]]:
        with self._locks.setdefault(step.tier, threading.Lock()):
            now = ctx.clock.now()
            at, cached = self._cache.get(step.tier, (None, {}))
            fresh = at is not None and (now - at).total_seconds() < max(1, settings.health.interval)
            missing = {vm: t for vm, t in work.items() if not fresh or vm not in cached}
            if not missing:
                return {vm: cached[vm] for vm in work}
            results = ctx.prober(missing)
            ctx.record_probes(step, results, baseline=True)
            merged = {**cached, **results} if fresh else dict(results)
            self._cache[step.tier] = (at if fresh and at else now, merged)
            return {vm: merged[vm] for vm in work}


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
            yield from self._baseline()
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

    def _baseline(self) -> Wake:
        """A tier that is already unhealthy is not made worse: wait for it, then fail the step."""
        ctx, step, settings = self.ctx, self.step, self.settings
        # VMs of the tier's other running steps are down by plan (and counted in its capacity)
        busy = {
            vm
            for sid, st in ctx.live.state.items()
            if st == "running" and sid != step.id
            for vm in ctx.steps[sid].vms
        }
        tier_vms = [
            vm
            for s in ctx.plan.steps
            if s.tier == step.tier
            for vm in s.vms
            if vm in ctx.fleet and vm not in busy
        ]
        work = {vm: t for vm, t in ctx.targets(step, tier_vms, settings).items() if t[1]}
        if not work:
            return
        deadline = ctx.clock.now() + dt.timedelta(seconds=settings.health.timeout)
        while True:
            results = self.baselines.round(ctx, step, settings, work)
            sick = {vm: ps for vm, ps in results.items() if not all(p.ok for p in ps)}
            if not sick:
                ctx.emit("baseline", step.id, message=f"tier {step.tier} healthy ({plural(len(work), 'VM')})")
                return
            what = "; ".join(
                f"{ctx.name(vm)}: {next(p.detail for p in ps if not p.ok)}"
                for vm, ps in list(sick.items())[:5]
            )
            if ctx.clock.now() >= deadline:
                raise StepFailed(
                    f"tier {step.tier} was already unhealthy before the step, and stayed so "
                    f"for {duration(settings.health.timeout)}: {what}; nothing was triggered"
                )
            ctx.emit(
                "baseline", step.id, message=f"tier {step.tier} unhealthy before the step, waiting: {what}"
            )
            ctx.journal.set_waiting(step.id, f"tier {step.tier} to be healthy", deadline)
            yield min(deadline, ctx.clock.now() + dt.timedelta(seconds=max(1, settings.health.interval)))

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
