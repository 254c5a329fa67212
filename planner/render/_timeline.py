"""The plan arranged for pictures: tiers in dependency order, a lane per group, labels and markers.

Shared by the HTML timeline, the Mermaid gantt and the change-ticket Markdown so the three show the
same order, the same labels and the same critical path. Pure: a Preview in, plain values out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from planner.graph import tier_order
from planner.plan import Plan, Step
from planner.render.preview import Preview
from planner.spec import Spec
from planner.timefmt import human_time, signed_duration
from planner.values import format_duration


@dataclass(frozen=True)
class Lane:
    """One group of one tier: its steps in time order."""

    tier: str
    group: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Marker:
    """A moment that matters to some VMs: their self-service deadline or Azure's scheduled start."""

    at: dt.datetime
    kind: str  # "deadline" or "scheduled"
    vms: tuple[str, ...]  # ARM ids


@dataclass(frozen=True)
class TierLanes:
    tier: str
    lanes: tuple[Lane, ...]
    markers: tuple[Marker, ...] = ()  # the moments of this tier's planned VMs only
    slack_s: int | None = None  # to the tier's own deadlines (less the window's cutoff), as the summary's

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(s for lane in self.lanes for s in lane.steps)

    @property
    def deadline(self) -> Marker | None:
        """The earliest self-service deadline of this tier's VMs."""
        return next((m for m in self.markers if m.kind == "deadline"), None)


@dataclass(frozen=True)
class Timeline:
    plan: Plan
    tiers: tuple[TierLanes, ...]
    critical: frozenset[str]  # step ids on the critical path
    names: dict[str, str]  # ARM id -> the name an operator knows
    markers: tuple[Marker, ...]
    end: dt.datetime  # when the last step and its recovery gap are over

    def name(self, vm: str) -> str:
        return self.names.get(vm) or vm.rsplit("/", 1)[-1]

    def vm_names(self, vms: Iterable[str]) -> list[str]:
        return [self.name(v) for v in vms]

    def steps(self) -> list[Step]:
        """Every step, tier by tier and lane by lane (the order of every listing)."""
        return [s for t in self.tiers for s in t.steps]


def domain_label(step: Step) -> str:
    """``ud2``, ``fd1``, ``zone3`` (``ud2/1`` for a split domain); ``vm`` for a standalone VM."""
    parts = step.id.split("/")
    return "/".join(parts[2:]) if len(parts) > 2 else "vm"


def build_timeline(preview: Preview) -> Timeline:
    plan, spec, fleet = preview.plan, preview.spec, preview.fleet
    order = tier_order({t.name: t.depends_on for t in spec.tiers})
    rank = {name: i for i, name in enumerate(order)}
    by_tier: dict[str, dict[str, list[Step]]] = {}
    for step in plan.steps:
        by_tier.setdefault(step.tier, {}).setdefault(step.group, []).append(step)
    deadlines: dict[dt.datetime, list[str]] = {}
    scheduled: dict[dt.datetime, list[str]] = {}
    involved = {v for s in plan.steps for v in s.vms} | {u.vm for u in plan.unschedulable}
    names = {vm.id: preview.vm_name(vm.id) for vm in fleet.vms}
    for vm in fleet.vms:
        m = vm.maintenance
        if m is None or vm.id not in involved:
            continue
        if m.self_service_window:
            deadlines.setdefault(m.self_service_window[1], []).append(vm.id)
        if m.scheduled_window:
            scheduled.setdefault(m.scheduled_window[0], []).append(vm.id)
    markers = [Marker(at, "deadline", tuple(sorted(v))) for at, v in deadlines.items()]
    markers += [Marker(at, "scheduled", tuple(sorted(v))) for at, v in scheduled.items()]
    markers.sort(key=lambda m: (m.at, m.kind))
    tiers = []
    for tier in sorted(by_tier, key=lambda t: (rank.get(t, len(rank)), t)):
        lanes = [
            Lane(tier, group, tuple(sorted(steps, key=lambda s: (s.start_offset_s, s.id))))
            for group, steps in by_tier[tier].items()
        ]
        lanes.sort(key=lambda lane: (lane.steps[0].start_offset_s, lane.group))
        tiers.append(_tier_lanes(tier, tuple(lanes), markers, spec.window.cutoff))
    end_s = max((s.end_offset_s + s.gap_after_s for s in plan.steps), default=plan.makespan_s)
    return Timeline(
        plan=plan,
        tiers=tuple(tiers),
        critical=frozenset(preview.summary.critical_path),
        names=names,
        markers=tuple(markers),
        end=_later(plan.start, max(end_s, plan.makespan_s, 1)),
    )


def _tier_lanes(tier: str, lanes: tuple[Lane, ...], markers: list[Marker], cutoff: int) -> TierLanes:
    """A tier with the markers of its own VMs and its slack to their deadlines."""
    steps = [s for lane in lanes for s in lane.steps]
    ends = {vm: s.end for s in steps for vm in s.vms}
    own = []
    slack: int | None = None
    for m in markers:
        vms = tuple(v for v in m.vms if v in ends)
        if not vms:
            continue
        own.append(Marker(m.at, m.kind, vms))
        if m.kind == "deadline":
            margin = min(int((m.at - ends[v]).total_seconds()) - cutoff for v in vms)
            slack = margin if slack is None else min(slack, margin)
    return TierLanes(tier, lanes, tuple(own), slack)


def _later(start: dt.datetime, seconds: int) -> dt.datetime:
    """``start`` plus ``seconds``, at most the last representable instant (a plan near year 9999)."""
    last = dt.datetime.max.replace(tzinfo=start.tzinfo)
    return start + dt.timedelta(seconds=seconds) if seconds < (last - start).total_seconds() else last


def local_text(at: dt.datetime, timezone: str) -> str:
    """The same instant on the operator's wall clock, e.g. ``Mon 11-23 22:00 CET`` ("" in UTC)."""
    return "" if timezone == "UTC" else human_time(at, timezone)


def duration_text(seconds: int) -> str:
    """A duration as the spec writes it, negative ones too (a plan that misses a deadline)."""
    return signed_duration(seconds)


def window_text(spec: Spec) -> str:
    """The operator window in one line, as the spec states it."""
    w = spec.window
    parts = [f"hours {w.hours}" if w.hours else "all hours"]
    if w.days:
        parts.append("days " + ", ".join(w.days))
    if w.blackout:
        parts.append("blackout " + ", ".join(str(b) for b in w.blackout))
    if w.not_before:
        parts.append(f"not before {human_time(w.not_before, w.timezone)}")
    if w.not_after:
        parts.append(f"not after {human_time(w.not_after, w.timezone)}")
    if w.cutoff:
        parts.append(f"cutoff {format_duration(w.cutoff)}")
    return f"{'; '.join(parts)} ({w.timezone})"
