"""Which steps may start now, and why the others wait (DESIGN §7): pure, given the run's state and a time.

A step starts when

- every step before it in its group has ended plus the group's recovery gap (R3), every step of the
  tiers it depends on has ended plus their gap (R4), and every step the plan lists in ``after`` has
  ended plus its gap — gaps measured from the *actual* end, so the time a crashed runner was down
  counts; a skipped step imposes its gap from its real end when it touched a VM (DESIGN §11), and is
  ignored only when it never did (the caller leaves such a step out of ``ended``);
- its tier's ``max_unavailable`` (R5) and ``limits.max_parallel_steps`` (R6) allow it;
- the operator window and every VM's self-service window are open for its planned duration, ending
  ``cutoff`` before they close (R7).

No clock reads, no I/O: the runner reads its state, asks :meth:`Schedule.decide`, acts, and journals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner.fleet import VM
from planner.plan import Plan, Step
from planner.spec import Spec, TierSettings
from planner.windows import allowed_intervals

HORIZON = dt.timedelta(days=120)  # how far ahead the runner looks for an open window
Interval = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class Wait:
    """Why a step does not start now, and from when it could (None: when something else happens)."""

    reason: str
    until: dt.datetime | None = None


@dataclass(frozen=True)
class Decision:
    start: tuple[Step, ...]  # may start now, in planned order
    waiting: dict[str, Wait]  # step -> why it waits
    unstartable: tuple[Step, ...]  # no open window left before every window it must lie in closes


def idle_until(intervals: Sequence[Interval], now: dt.datetime, ready: dt.datetime) -> bool:
    """Whether the next start (``ready``) lies beyond the operator window open now (or it is closed):
    with nothing running, a run with --until-idle then stops until a later invocation."""
    if ready <= now:
        return False
    for a, b in intervals:
        if a <= now < b:
            return ready >= b
    return True


def operator_intervals(spec: Spec, since: dt.datetime, until: dt.datetime) -> list[Interval]:
    """The operator window's allowed intervals from ``since`` (a day early) to ``until``."""
    return allowed_intervals(spec.window, since - dt.timedelta(days=1), until)


class Schedule:
    """The plan's structure (predecessors, order, capacities) and the windows, ready to answer."""

    def __init__(
        self,
        plan: Plan,
        spec: Spec,
        settings: Mapping[str, TierSettings],
        fleet: Mapping[str, VM],
        capacity: Mapping[str, int],
        intervals: Sequence[Interval],
    ):
        self.plan = plan
        self.spec = spec
        self.settings = settings
        self.fleet = fleet
        self.capacity = capacity
        self.intervals = intervals
        self.steps = {s.id: s for s in plan.steps}
        self.order = sorted(plan.steps, key=lambda s: (s.start_offset_s, plan.steps.index(s)))
        self.preds = self._predecessors()

    def _predecessors(self) -> dict[str, list[Step]]:
        """For each step: earlier steps of its group, all steps of tiers it depends on, its ``after``."""
        rank = {s.id: i for i, s in enumerate(self.order)}
        by_group: dict[tuple[str, str], list[Step]] = {}
        by_tier: dict[str, list[Step]] = {}
        for step in self.order:
            by_group.setdefault((step.group, step.tier), []).append(step)
            by_tier.setdefault(step.tier, []).append(step)
        preds: dict[str, list[Step]] = {}
        for step in self.order:
            before = {s.id: s for s in by_group[(step.group, step.tier)] if rank[s.id] < rank[step.id]}
            for dep in self.settings[step.tier].depends_on:
                before.update({s.id: s for s in by_tier.get(dep, [])})
            before.update({sid: self.steps[sid] for sid in step.after if sid in self.steps})
            preds[step.id] = list(before.values())
        return preds

    def ready_after(
        self, step: Step, states: Mapping[str, str], ended: Mapping[str, dt.datetime], now: dt.datetime
    ) -> tuple[dt.datetime | None, str]:
        """The earliest time the predecessors allow, or None with what it waits for."""
        at = self.plan.start or now
        for pred in self.preds[step.id]:
            state = states.get(pred.id)
            if state == "skipped" and pred.id not in ended:
                continue  # skipped before it touched a VM: nothing to recover from
            if state not in ("done", "skipped"):
                return None, f"step {pred.id} ({state})"
            at = max(at, ended[pred.id] + dt.timedelta(seconds=pred.gap_after_s))
        return at, "recovery gap"

    def window_start(self, step: Step, earliest: dt.datetime) -> dt.datetime | None:
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
        for a, b in self.intervals:
            end = b if hi is None else min(b, hi)
            start = max(a, lo)
            if start + duration <= end - cutoff:
                return start
        return None

    def decide(
        self, states: Mapping[str, str], ended: Mapping[str, dt.datetime], now: dt.datetime
    ) -> Decision:
        """Steps that may start now, in planned order, and why each other waiting step waits."""
        running = [s for s, st in states.items() if st == "running"]
        limit = self.spec.limits.max_parallel_steps
        in_tier: dict[str, int] = {}
        for sid in running:
            step = self.steps[sid]
            in_tier[step.tier] = in_tier.get(step.tier, 0) + len(step.vms)
        start: list[Step] = []
        waiting: dict[str, Wait] = {}
        unstartable: list[Step] = []
        for step in self.order:
            if states.get(step.id) != "waiting":
                continue
            ready, reason = self.ready_after(step, states, ended, now)
            if ready is None:
                waiting[step.id] = Wait(reason)
                continue
            at = self.window_start(step, ready)
            if at is None:
                unstartable.append(step)
                continue
            if at > now:
                waiting[step.id] = Wait(reason if at == ready else "window", at)
                continue
            if limit is not None and len(running) + len(start) >= limit:
                waiting[step.id] = Wait(f"parallelism (max_parallel_steps={limit})")
                continue
            used = in_tier.get(step.tier, 0)
            if used + len(step.vms) > self.capacity[step.tier]:
                cap = self.capacity[step.tier]
                waiting[step.id] = Wait(f"capacity (max_unavailable={cap} in {step.tier})")
                continue
            in_tier[step.tier] = used + len(step.vms)
            start.append(step)
        return Decision(tuple(start), waiting, tuple(unstartable))

    def blocked_by_failure(self, step_id: str, states: Mapping[str, str]) -> bool:
        """Whether a failed step lies anywhere upstream of ``step_id``."""
        seen: set[str] = set()
        todo = [step_id]
        while todo:
            for pred in self.preds[todo.pop()]:
                if pred.id in seen:
                    continue
                seen.add(pred.id)
                if states.get(pred.id) == "failed":
                    return True
                todo.append(pred.id)
        return False
