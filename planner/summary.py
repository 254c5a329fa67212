"""The figures a preview shows under a plan (every renderer uses the same ones)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from planner.build import build_plan
from planner.fleet import Fleet
from planner.graph import critical_path
from planner.plan import Plan
from planner.spec import Spec

# Above this many steps the latest start is not searched (each probe is a whole re-plan).
SEARCH_MAX_STEPS = 2000


@dataclass(frozen=True)
class PlanSummary:
    name: str
    start: dt.datetime
    end: dt.datetime  # when the last step is planned to end (start + makespan)
    timezone: str  # the operator window's time zone, for local times
    makespan_s: int
    lower_bound_s: int
    steps: int
    vms_planned: int
    skipped: int
    unschedulable: int
    warnings: int
    earliest_deadline: dt.datetime | None  # earliest self-service window end among planned VMs
    earliest_deadline_vm: str | None
    # least margin of any planned VM: its self-service end, minus the cutoff, minus its step's end
    slack_s: int | None
    # latest plan start (to the minute) that still schedules every VM this plan schedules;
    # None when not searched (more than SEARCH_MAX_STEPS steps) or nothing is planned
    latest_start: dt.datetime | None
    critical_path: tuple[str, ...]

    @property
    def lower_bound_met(self) -> bool:
        return self.makespan_s == self.lower_bound_s


def summarize(plan: Plan, spec: Spec, fleet: Fleet, *, search_latest_start: bool = True) -> PlanSummary:
    """Summary figures of ``plan`` (made from ``spec`` and ``fleet``)."""
    deadlines: dict[str, dt.datetime] = {}
    for vm in fleet.vms:
        if vm.maintenance is not None and vm.maintenance.self_service_window is not None:
            deadlines[vm.id] = vm.maintenance.self_service_window[1]
    earliest: tuple[dt.datetime, str] | None = None
    slack: int | None = None
    cutoff = spec.window.cutoff
    for step in plan.steps:
        for vm_id in step.vms:
            deadline = deadlines.get(vm_id)
            if deadline is None:
                continue
            if earliest is None or deadline < earliest[0]:  # ties: the VM planned first
                earliest = (deadline, vm_id)
            margin = int((deadline - step.end).total_seconds()) - cutoff
            slack = margin if slack is None else min(slack, margin)
    latest = None
    if search_latest_start and plan.steps and earliest is not None and len(plan.steps) <= SEARCH_MAX_STEPS:
        latest = _latest_start(plan, spec, fleet, earliest[0])
    return PlanSummary(
        name=plan.name,
        start=plan.start,
        end=plan.start + dt.timedelta(seconds=plan.makespan_s),
        timezone=spec.window.timezone,
        makespan_s=plan.makespan_s,
        lower_bound_s=plan.lower_bound_s,
        steps=len(plan.steps),
        vms_planned=sum(len(s.vms) for s in plan.steps),
        skipped=len(plan.skipped),
        unschedulable=len(plan.unschedulable),
        warnings=len(plan.warnings),
        earliest_deadline=earliest[0] if earliest else None,
        earliest_deadline_vm=earliest[1] if earliest else None,
        slack_s=slack,
        latest_start=latest,
        critical_path=tuple(critical_path(plan)),
    )


def _latest_start(plan: Plan, spec: Spec, fleet: Fleet, deadline: dt.datetime) -> dt.datetime:
    """Bisect, to the minute, for the latest start whose plan leaves no more VMs unschedulable.

    Each probe is a greedy plan (no solver: a dozen probes must stay fast), compared with the greedy
    plan at this plan's start. Windows make "still fits" not strictly monotone in the start;
    bisection returns a start that fits, and in practice the latest one.
    """

    def unschedulable(minutes: int) -> int:
        again = build_plan(spec, fleet, plan.start + dt.timedelta(minutes=minutes), optimize_s=0)
        return len(again.unschedulable)

    allowed = unschedulable(0)
    lo, hi = 0, max(0, int((deadline - plan.start).total_seconds()) // 60)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if unschedulable(mid) <= allowed:
            lo = mid
        else:
            hi = mid - 1
    return plan.start + dt.timedelta(minutes=lo)
