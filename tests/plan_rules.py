"""An independent checker of DESIGN §6's rules R1-R8 for a plan.

Written from the design text, not from the planner's code: it shares only the spec and fleet models
(and the selection of a tier's VMs, planner.select, which is not scheduling code). ``violations``
returns every broken rule as a sentence; an empty list means the plan obeys R1-R8.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from itertools import pairwise
from zoneinfo import ZoneInfo

from planner.fleet import VM, Fleet
from planner.plan import Plan, Step
from planner.select import selection
from planner.spec import Spec, Window

UTC = dt.timezone.utc
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def violations(plan: Plan, spec: Spec, fleet: Fleet) -> list[str]:
    out: list[str] = []
    vms = {vm.id: vm for vm in fleet.vms}
    chosen = selection(spec, fleet.vms)
    tier_of = {vm.id: tier for tier, members in chosen.items() for vm in members}
    out += _r1(plan, chosen)
    out += _times(plan, spec)
    out += _r2(plan, spec, vms, tier_of, chosen)
    out += _r3(plan, spec)
    out += _r4(plan, spec)
    out += _r5_r6(plan, spec, chosen)
    out += _r7(plan, spec, vms, fleet.captured_at)
    out += [
        f"R8: step {s.id} has a gap of {s.gap_after_s}s, not longer than 30m"
        for s in plan.steps
        if s.gap_after_s <= 1800
    ]
    return out


def _pending(vm: VM) -> bool:
    return vm.maintenance is not None and vm.maintenance.last_result != "MaintenanceCompleted"


def _r1(plan: Plan, chosen: dict[str, list[VM]]) -> list[str]:
    out = []
    in_steps: dict[str, int] = defaultdict(int)
    for step in plan.steps:
        for vm in step.vms:
            in_steps[vm] += 1
    unsched = [u.vm for u in plan.unschedulable]
    skipped = [s.vm for s in plan.skipped]
    selected = {vm.id: vm for members in chosen.values() for vm in members}
    for vm_id, vm in selected.items():
        places = in_steps[vm_id] + unsched.count(vm_id) + skipped.count(vm_id)
        if places != 1:
            out.append(f"R1: VM {vm_id} appears {places} times in steps, unschedulable and skipped")
        elif _pending(vm) and skipped.count(vm_id):
            out.append(f"R1: VM {vm_id} has maintenance pending but is skipped")
        elif not _pending(vm) and not skipped.count(vm_id):
            out.append(f"R1: VM {vm_id} has nothing pending but is not skipped")
    for vm_id in [*in_steps, *unsched, *skipped]:
        if vm_id not in selected:
            out.append(f"R1: VM {vm_id} is in the plan but no tier selects it")
    out += [f"R1: VM {x.vm} has no reason" for x in (*plan.unschedulable, *plan.skipped) if not x.reason]
    return out


def _times(plan: Plan, spec: Spec) -> list[str]:
    """Offsets, datetimes and durations agree; makespan is the last end; steps are in time order."""
    out = []
    for s in plan.steps:
        if s.start != plan.start + dt.timedelta(
            seconds=s.start_offset_s
        ) or s.end != plan.start + dt.timedelta(seconds=s.end_offset_s):
            out.append(f"step {s.id}: offsets disagree with its times")
        if s.start_offset_s < 0:
            out.append(f"step {s.id} starts before the plan")
        if s.end_offset_s - s.start_offset_s != spec.settings(s.tier).step_duration:
            out.append(f"step {s.id} does not last its tier's step duration")
        if s.start.microsecond or s.end.microsecond:
            out.append(f"step {s.id}: not whole seconds")
    if plan.makespan_s != max((s.end_offset_s for s in plan.steps), default=0):
        out.append("makespan is not the end of the last step")
    if [s.start_offset_s for s in plan.steps] != sorted(s.start_offset_s for s in plan.steps):
        out.append("steps are not in time order")
    if len({s.id for s in plan.steps}) != len(plan.steps):
        out.append("step ids are not unique")
    return out


def _group_and_domain(tier: str, vm: VM) -> tuple[str, int | str | None]:
    """DESIGN §2 and §11, written again: sets by update domain, zonal things by zone (a tier's zonal
    standalone VMs across all its resource groups), the rest by fault domain; None: unknown."""
    rg = vm.resource_group.lower()
    if vm.availability_set:
        return f"{rg}/{vm.availability_set.lower()}", vm.update_domain
    if vm.scale_set and vm.orchestration == "Uniform":
        return f"{rg}/{vm.scale_set.lower()}", vm.update_domain
    if vm.scale_set:
        return f"{rg}/{vm.scale_set.lower()}", vm.zone if vm.zone else vm.fault_domain
    if vm.zone:
        return f"*/zonal:{tier}", vm.zone
    return f"{rg}/{vm.name.lower()}", "regional"


def _domain_unknown(tier: str, vm: VM, fleet: dict[str, VM]) -> bool:
    """No update domain (sets), no fault domain (regional flexible set), no zone (zonal flexible set)."""
    group, domain = _group_and_domain(tier, vm)
    if domain is None:
        return True
    if vm.scale_set and vm.orchestration == "Flexible" and not vm.zone:
        return any(_group_and_domain(tier, o)[0] == group and o.zone for o in fleet.values())
    return False


def _r2(
    plan: Plan, spec: Spec, vms: dict[str, VM], tier_of: dict[str, str], chosen: dict[str, list[VM]]
) -> list[str]:
    out = []
    for s in plan.steps:
        places = {_group_and_domain(s.tier, vms[v]) for v in s.vms}
        if len(places) != 1:
            out.append(f"R2: step {s.id} mixes domains or groups: {sorted(map(str, places))}")
        if any(tier_of.get(v) != s.tier for v in s.vms):
            out.append(f"R2: step {s.id} holds a VM of another tier")
        out += [
            f"R2: step {s.id} holds {v}, whose domain is unknown"
            for v in s.vms
            if _domain_unknown(s.tier, vms[v], vms)
        ]
        group, domain = next(iter(places))
        if s.group.lower() != group:
            out.append(f"R2: step {s.id} names group {s.group}, its VMs are in {group}")
        if domain != "regional" and s.domain != domain:
            out.append(f"R2: step {s.id} names domain {s.domain!r}, its VMs are in {domain!r}")
        if not s.vms:
            out.append(f"R2: step {s.id} is empty")
    unschedulable = {u.vm: u.reason for u in plan.unschedulable}
    for tier, members in chosen.items():
        for vm in members:
            m = vm.maintenance
            eligible = m is not None and m.customer_initiated_allowed and m.self_service_window is not None
            unknown = eligible and _pending(vm) and _domain_unknown(tier, vm, vms)
            if unknown and "unknown" not in unschedulable.get(vm.id, ""):
                out.append(f"R2: {vm.id}'s domain is unknown, but it is not unschedulable for that reason")
    return out


def _r3(plan: Plan, spec: Spec) -> list[str]:
    out = []
    groups: dict[tuple[str, str], list[Step]] = defaultdict(list)
    for s in plan.steps:
        groups[(s.tier, s.group)].append(s)
        if s.gap_after_s != spec.settings(s.tier).recovery_gap:
            out.append(f"R3: step {s.id} gap is not its tier's recovery gap")
    for members in groups.values():
        members.sort(key=lambda s: s.start)
        for a, b in pairwise(members):
            if b.start_offset_s < a.end_offset_s + a.gap_after_s:
                out.append(
                    f"R3: step {b.id} starts {b.start_offset_s - a.end_offset_s}s after {a.id} ends "
                    f"(gap {a.gap_after_s}s)"
                )
    return out


def _r4(plan: Plan, spec: Spec) -> list[str]:
    out = []
    by_tier: dict[str, list[Step]] = defaultdict(list)
    for s in plan.steps:
        by_tier[s.tier].append(s)
    for tier in spec.tiers:
        for dep in tier.depends_on:
            if not by_tier[dep] or not by_tier[tier.name]:
                continue
            ready = max(s.end_offset_s for s in by_tier[dep]) + spec.settings(dep).recovery_gap
            first = min(by_tier[tier.name], key=lambda s: s.start_offset_s)
            if first.start_offset_s < ready:
                out.append(f"R4: step {first.id} starts before tier {dep} has ended plus its gap")
    return out


def _r5_r6(plan: Plan, spec: Spec, chosen: dict[str, list[VM]]) -> list[str]:
    out = []
    events = sorted(
        [(s.end_offset_s, -1, s) for s in plan.steps] + [(s.start_offset_s, 1, s) for s in plan.steps],
        key=lambda e: (e[0], e[1]),
    )  # ends before starts at the same instant
    load: dict[str, int] = defaultdict(int)
    running = 0
    limit = spec.limits.max_parallel_steps
    for _, sign, s in events:
        load[s.tier] += sign * len(s.vms)
        running += sign
        cap = spec.settings(s.tier).max_unavailable.of(len(chosen[s.tier]))
        if sign > 0 and load[s.tier] > cap:
            out.append(f"R5: tier {s.tier} has {load[s.tier]} VMs down at {s.start}, more than {cap}")
        if sign > 0 and limit is not None and running > limit:
            out.append(f"R6: {running} steps run at {s.start}, more than {limit}")
    return out


def wall_ranges(window: Window, around: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The allowed wall-clock ranges (naive local times, both ends inclusive) of the nights from three
    days before ``around`` to three after; whole allowed days (no hours) that touch are one range."""
    zone = ZoneInfo(window.timezone)
    local_day = around.astimezone(zone).date()
    raw = []
    for n in range(-3, 4):
        day = local_day + dt.timedelta(days=n)
        if window.days is not None and WEEKDAYS[day.weekday()] not in window.days:
            continue
        if any(b.first <= day <= b.last for b in window.blackout):
            continue
        midnight = dt.datetime.combine(day, dt.time(0))
        if window.hours is None:
            raw.append((midnight, midnight + dt.timedelta(days=1)))
        else:
            h = window.hours
            end_day = midnight + dt.timedelta(days=1 if h.end <= h.start else 0)
            raw.append((midnight + dt.timedelta(minutes=h.start), end_day + dt.timedelta(minutes=h.end)))
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for begin, end in sorted(raw):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


def wall(instant: dt.datetime, window: Window) -> dt.datetime:
    """What the local wall clock of the window's zone reads at ``instant`` (naive)."""
    return instant.astimezone(ZoneInfo(window.timezone)).replace(tzinfo=None)


def allowed_at(window: Window, instant: dt.datetime) -> bool:
    """The hours, days and blackouts allow ``instant``: its wall reading is inside an allowed night
    (the night's end itself is where the window closes, so it is not inside)."""
    reading = wall(instant, window)
    return any(a <= reading < b for a, b in wall_ranges(window, instant))


def wall_readings(window: Window, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The wall readings that bound what the clock shows over [start, end): at ``start``, just before
    ``end``, and on both sides of every offset change between (tzdb zones change on whole minutes)."""
    zone = ZoneInfo(window.timezone)
    tick = dt.timedelta(microseconds=1)
    readings = [wall(start, window), wall(end - tick, window)]
    minute = start.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    before = start.astimezone(zone).utcoffset()
    while minute < end:
        offset = minute.astimezone(zone).utcoffset()
        if offset != before:
            readings += [wall(minute - tick, window), wall(minute, window)]
            before = offset
        minute += dt.timedelta(minutes=1)
    return readings


def _inside_one_night(window: Window, start: dt.datetime, end: dt.datetime) -> bool:
    """DESIGN §11 R7: everything the wall clock reads from ``start`` to ``end`` (a step with its cutoff)
    lies in the hours of one allowed night; a window's end is inclusive."""
    readings = wall_readings(window, start, end)
    return any(all(a <= r <= b for r in readings) for a, b in wall_ranges(window, start))


def _r7(plan: Plan, spec: Spec, vms: dict[str, VM], captured_at: dt.datetime) -> list[str]:
    out = []
    w = spec.window
    cutoff = dt.timedelta(seconds=w.cutoff)
    limited = w.hours is not None or w.days is not None or bool(w.blackout)
    for s in plan.steps:
        if s.start < plan.start:
            out.append(f"R7: step {s.id} starts before the plan start")
        if w.not_before and s.start < w.not_before:
            out.append(f"R7: step {s.id} starts before window.not_before")
        if w.not_after and s.end + cutoff > w.not_after:
            out.append(f"R7: step {s.id} ends later than cutoff before window.not_after")
        if limited and s.end + cutoff > s.start and not _inside_one_night(w, s.start, s.end + cutoff):
            out.append(
                f"R7: step {s.id} ({s.start}..{s.end}) is not inside the allowed hours with the cutoff "
                "on the local wall clock"
            )
        for v in s.vms:
            m = vms[v].maintenance
            # allowed=false only because the window had not opened when the fleet was read: fine
            allowed = m is not None and (m.customer_initiated_allowed or m.opens_later(captured_at))
            if m is None or m.self_service_window is None or not allowed:
                out.append(f"R7: step {s.id} holds {v}, which cannot be maintained by the customer")
                continue
            first, last = m.self_service_window
            if s.start < first or s.end + cutoff > last:
                out.append(f"R7: step {s.id} is outside the self-service window of {v} (with the cutoff)")
    return out
