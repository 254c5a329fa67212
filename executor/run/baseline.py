"""Baseline health of a tier before a step (DESIGN §7): a tier already unhealthy is not made worse.

Two rules keep it right at fleet scale (issue 18):

- **Judged against what is in flight at the moment of judgement.** The VMs of the run's other steps
  that are running — or that started since the round's probes began — are down by plan (and counted in
  the tier's capacity): they are read from the run's live state when the verdict is made, never from a
  list taken when the step began to wait, so a step of the same tier starting while this baseline waits
  never has its VMs counted as "already unhealthy".
- **Shared.** A VM that passed a probe (a baseline round or another step's health gate, see
  :class:`executor.run.gates.LastPass`) within the gates' tolerance (``max(3 × interval, 60 s)``, the
  span a passing probe stands for in a gate) is taken as healthy without a new probe: one round of the
  tier serves every step of it that starts within that span. An unhealthy verdict always comes from a
  fresh probe of this round.

While the tier is unhealthy the step waits (a round every interval) up to the health timeout; the
timeout counts only time the runner could observe: a round begun late, or taking longer than its
checks' probe timeout, moves it by as much (as in a health gate).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Generator

from executor.run.context import RunContext, StepFailed
from executor.run.gates import Probe, probe_budget, tolerance
from planner.plan import Step
from planner.spec import TierSettings
from planner.timefmt import duration, plural


def in_flight(ctx: RunContext, step: Step, since: dt.datetime) -> set[str]:
    """VMs of the run's other steps that are running now or started at or after ``since``."""
    live = ctx.live
    return {
        vm
        for sid, state in list(live.state.items())
        if sid != step.id and (state == "running" or (sid in live.started and live.started[sid] >= since))
        for vm in ctx.steps[sid].vms
    }


class Baselines:
    """The run's baseline rounds, one tier at a time (a lock per tier): steps of a tier starting
    together wait for one round and judge from it."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._tiers: dict[str, list[str]] = {}  # tier -> its VMs in the plan (and the fleet)
        self._guard = threading.Lock()

    def _lock(self, tier: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(tier, threading.Lock())

    def _tier(self, ctx: RunContext, tier: str) -> list[str]:
        if tier not in self._tiers:
            self._tiers[tier] = [
                vm for s in ctx.plan.steps if s.tier == tier for vm in s.vms if vm in ctx.fleet
            ]
        return self._tiers[tier]

    def judge(
        self, ctx: RunContext, step: Step, settings: TierSettings
    ) -> tuple[int, dict[str, list[Probe]]]:
        """One look at the tier for ``step``: how many VMs were judged, and the unhealthy ones."""
        speed = float(getattr(ctx.clock, "speed", 1.0))
        fresh_for = tolerance(settings.health, speed)
        with self._lock(step.tier):
            began = ctx.clock.now()
            busy = in_flight(ctx, step, began)
            vms = [vm for vm in self._tier(ctx, step.tier) if vm not in busy]
            checked = {vm: t for vm, t in ctx.targets(step, vms, settings).items() if t[1]}
            work = {vm: t for vm, t in checked.items() if not ctx.last_pass.fresh(vm, began, fresh_for)}
            results = ctx.prober(work) if work else {}
            if results:
                ctx.record_probes(step, results, baseline=True)
        busy = in_flight(ctx, step, began)  # recomputed: steps may have started during the round
        sick = {vm: ps for vm, ps in results.items() if vm not in busy and not all(p.ok for p in ps)}
        return len(set(checked) - busy), sick


def wait_healthy(
    ctx: RunContext, step: Step, settings: TierSettings, baselines: Baselines
) -> Generator[dt.datetime, None, None]:
    """Rounds until the tier is healthy; StepFailed when it stays unhealthy for the health timeout."""
    interval = max(1, settings.health.interval)
    wanted = ctx.clock.now()
    deadline = wanted + dt.timedelta(seconds=settings.health.timeout)
    while True:
        began = ctx.clock.now()
        if began > wanted:  # the runner lagged: that time was not the tier's to be healthy in
            deadline += began - wanted
        judged, sick = baselines.judge(ctx, step, settings)
        took = ctx.clock.now() - began  # a round held up (another step's round, a stall) is not the tier's
        deadline += max(dt.timedelta(0), took - probe_budget(settings.health))
        if not sick:
            if judged:
                ctx.emit("baseline", step.id, message=f"tier {step.tier} healthy ({plural(judged, 'VM')})")
            return
        what = "; ".join(
            f"{ctx.name(vm)}: {next(p.detail for p in ps if not p.ok)}" for vm, ps in list(sick.items())[:5]
        )
        if ctx.clock.now() >= deadline:
            raise StepFailed(
                f"tier {step.tier} was already unhealthy before the step, and stayed so "
                f"for {duration(settings.health.timeout)}: {what}; nothing was triggered"
            )
        ctx.emit("baseline", step.id, message=f"tier {step.tier} unhealthy before the step, waiting: {what}")
        ctx.journal.set_waiting(step.id, f"tier {step.tier} to be healthy", deadline)
        wanted = min(deadline, ctx.clock.now() + dt.timedelta(seconds=interval))
        yield wanted
