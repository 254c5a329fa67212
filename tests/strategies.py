"""Shared hypothesis strategies (planner helper owns this file; others may add functions).

``plan_inputs()`` draws a whole planning problem: a spec (tiers with dependencies, capacities, gaps,
an operator window with hours, days, blackouts and a time zone, limits) and a fleet (availability
sets, uniform and flexible scale sets, zonal and regional standalone VMs, self-service windows that
may end early or open late, VMs with nothing pending or not allowed), and a start time, sometimes
next to a DST change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from planner.fleet import VM, Fleet
from planner.spec import Spec

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
UTC = dt.timezone.utc
# starts near the DST changes of the zones below, and one ordinary week
BASES = (
    dt.datetime(2026, 11, 23, 21, 0, tzinfo=UTC),
    dt.datetime(2026, 3, 27, 12, 0, tzinfo=UTC),  # Europe springs forward on the 29th
    dt.datetime(2026, 10, 23, 12, 0, tzinfo=UTC),  # Europe falls back on the 25th
    dt.datetime(2026, 3, 6, 12, 0, tzinfo=UTC),  # the US springs forward on the 8th
    dt.datetime(2026, 4, 3, 12, 0, tzinfo=UTC),  # Lord Howe falls back half an hour on the 5th
    dt.datetime(2026, 9, 4, 12, 0, tzinfo=UTC),  # Santiago springs forward at midnight on the 6th
)
# zones whose clocks change: every DST test walks these (Troll shifts two hours, Lord Howe half an hour)
DST_ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Antarctica/Troll",
)
ZONES = ("UTC", "Asia/Kolkata", *DST_ZONES)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class PlanningCase:
    spec: Spec
    fleet: Fleet
    start: dt.datetime

    def __repr__(self) -> str:  # hypothesis prints this on failure: make it reproducible
        return (
            f"PlanningCase(start={self.start.isoformat()}, spec={self.spec.model_dump(mode='json')}, "
            f"vms={[vm.model_dump(mode='json') for vm in self.fleet.vms]})"
        )


def _minutes(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(lambda m: f"{m}m")


@st.composite
def windows(
    draw: st.DrawFn,
    base: dt.datetime,
    unlimited: bool = False,
    zones: tuple[str, ...] = ZONES,
    hours: bool = False,
) -> dict[str, Any]:
    """An operator window: any mix of hours (may wrap midnight), days, blackouts, zone, cutoff.
    ``hours``: always with hours, whose ends fall on any quarter hour (DST tests)."""
    if unlimited:
        return {}
    window: dict[str, Any] = {"timezone": draw(st.sampled_from(zones))}
    if hours or draw(st.booleans()):
        start_h = draw(st.integers(0, 23))
        minute = draw(st.sampled_from((0, 15, 30, 45) if hours else (0, 30)))
        length = draw(st.integers(60, 20 * 60) if hours else st.integers(2, 20).map(lambda h: h * 60))
        end = (start_h * 60 + minute + length) % 1440
        window["hours"] = f"{start_h:02d}:{minute:02d}-{end // 60:02d}:{end % 60:02d}"
    if draw(st.booleans()):
        window["days"] = sorted(draw(st.sets(st.sampled_from(DAY_NAMES), min_size=2)), key=DAY_NAMES.index)
    if draw(st.booleans()):
        first = base.date() + dt.timedelta(days=draw(st.integers(-1, 6)))
        last = first + dt.timedelta(days=draw(st.integers(0, 2)))
        window["blackout"] = [str(first) if first == last else f"{first}..{last}"]
    window["cutoff"] = draw(st.sampled_from(("0s", "10m", "30m", "1h")))
    if draw(st.integers(0, 3)) == 0:
        window["not_before"] = (base + dt.timedelta(hours=draw(st.integers(-12, 30)))).isoformat()
    if draw(st.integers(0, 3)) == 0:
        window["not_after"] = (base + dt.timedelta(days=draw(st.integers(3, 20)))).isoformat()
    return window


@st.composite
def maintenance(draw: st.DrawFn, base: dt.datetime, wide: bool = False) -> dict[str, Any] | None:
    """A maintenance status; ``wide``: pending, allowed, and open long before and after ``base``."""
    if wide:
        first, last = base - dt.timedelta(days=5), base + dt.timedelta(days=60)
        allowed, result = True, "None"
    else:
        kind = draw(st.integers(0, 39))
        if kind == 0:
            return None
        first = base + dt.timedelta(hours=draw(st.integers(-72, 48)))
        last = first + dt.timedelta(hours=draw(st.sampled_from((12, 72, 240, 840, 840, 840))))
        allowed = kind != 1
        result = (
            "MaintenanceCompleted" if kind == 2 else draw(st.sampled_from(("None", "None", "RetryLater")))
        )
    scheduled = last + dt.timedelta(days=4)
    return {
        "customer_initiated_allowed": allowed,
        "self_service_window": [first.isoformat(), last.isoformat()],
        "scheduled_window": [scheduled.isoformat(), (scheduled + dt.timedelta(days=10)).isoformat()],
        "last_result": result,
    }


@st.composite
def tier_vms(draw: st.DrawFn, tier: str, base: dt.datetime, wide: bool) -> list[dict[str, Any]]:
    """0-9 VMs of one tier in its resource group ``rg-<tier>``, in every kind of group; zonal VMs may
    live in ``rg-<tier>-b`` too, and (unless ``wide``) a VM may miss its update domain, fault domain
    or zone (it must then be unschedulable, never guessed)."""
    rg = f"rg-{tier}"
    vms: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 9))):
        kind = draw(
            st.sampled_from(("as", "as", "uniform", "flex-zonal", "flex-fd", "zonal", "zonal", "regional"))
        )
        vm: dict[str, Any] = {
            "name": f"{tier}-vm{i}",
            "resource_group": rg,
            "maintenance": draw(maintenance(base, wide)),
        }
        if kind == "as":
            vm.update(
                availability_set=draw(st.sampled_from(("as-a", "as-b"))),
                update_domain=draw(st.integers(0, 3)),
                fault_domain=draw(st.integers(0, 2)),
            )
        elif kind == "uniform":
            vm.update(
                name=f"ss-{tier}_{i}",
                scale_set=f"ss-{tier}",
                orchestration="Uniform",
                instance_id=str(i),
                update_domain=draw(st.integers(0, 4)),
            )
        elif kind == "flex-zonal":
            vm.update(scale_set="flex-z", orchestration="Flexible", zone=draw(st.sampled_from("123")))
        elif kind == "flex-fd":
            vm.update(scale_set="flex-r", orchestration="Flexible", fault_domain=draw(st.integers(0, 2)))
        elif kind == "zonal":
            vm.update(
                zone=draw(st.sampled_from("123")), resource_group=draw(st.sampled_from((rg, f"{rg}-b")))
            )
        if not wide and kind != "regional" and draw(st.integers(0, 14)) == 0:
            vm.pop({"flex-fd": "fault_domain", "flex-zonal": "zone"}.get(kind, "update_domain"), None)
        if not wide and draw(st.integers(0, 9)) == 0:
            vm["power_state"] = "deallocated"
        if not wide and draw(st.integers(0, 9)) == 0:
            vm["ephemeral_os_disk"] = True
        vms.append(vm)
    return vms


def _vm(item: dict[str, Any]) -> VM:
    base = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{item['resource_group']}/providers/Microsoft.Compute"
    )
    if item.get("orchestration") == "Uniform":
        vm_id = f"{base}/virtualMachineScaleSets/{item['scale_set']}/virtualMachines/{item['instance_id']}"
    else:
        vm_id = f"{base}/virtualMachines/{item['name']}"
    return VM.model_validate({**item, "id": vm_id})


@st.composite
def plan_inputs(
    draw: st.DrawFn,
    unlimited: bool = False,
    bases: tuple[dt.datetime, ...] = BASES,
    zones: tuple[str, ...] = ZONES,
    hours: bool = False,
) -> PlanningCase:
    """A planning problem. ``unlimited``: nothing but dependencies and gaps can hold a step back
    (no window limits, capacity for every VM, no parallelism limit, wide self-service windows).
    ``bases``, ``zones``, ``hours``: start near one of these instants, in one of these zones, with
    hours always set (DST tests)."""
    base = draw(st.sampled_from(bases))
    start = base + dt.timedelta(minutes=draw(st.integers(0, 3 * 1440)))
    names = [f"t{i}" for i in range(draw(st.integers(1, 4)))]
    tiers: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        tier: dict[str, Any] = {
            "name": name,
            "select": [{"resource_group": f"rg-{name}"}, {"resource_group": f"rg-{name}-b"}],
        }
        deps = draw(st.sets(st.sampled_from(names[:i]))) if i else set()
        if deps:
            tier["depends_on"] = sorted(deps)
        tier["recovery_gap"] = draw(_minutes(31, 120))
        tier["expected_duration"] = draw(_minutes(5, 40))
        tier["health"] = {"wait": draw(_minutes(0, 5)), "healthy_for": draw(_minutes(0, 10))}
        if unlimited:
            tier["max_unavailable"] = "100%"
        else:
            tier["max_unavailable"] = draw(st.sampled_from((1, 1, 2, 3, "34%", "50%", "100%")))
            if draw(st.integers(0, 3)) == 0:
                tier["update_domain_order"] = draw(st.permutations(range(4)))[: draw(st.integers(1, 4))]
        tiers.append(tier)
        items += draw(tier_vms(name, base, unlimited))
    spec: dict[str, Any] = {
        "version": 1,
        "name": "prop",
        "subscription": SUBSCRIPTION,
        "tiers": tiers,
        "window": draw(windows(base, unlimited, zones, hours)),
    }
    if not unlimited and draw(st.booleans()):
        spec["limits"] = {"max_parallel_steps": draw(st.integers(1, 4))}
    fleet = Fleet(captured_at=base, vms=tuple(_vm(item) for item in items))
    return PlanningCase(Spec.model_validate(spec), fleet, start)
