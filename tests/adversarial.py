"""Small adversarial planning problems where a plain greedy list scheduler loses (issue 13).

Each case is a spec, a fleet and a start; ``CASES`` names them. Used by tests/test_planner_optimize.py
(the plan must be proven optimal and pass the independent R1-R8 checker) and by
benchmarks/plan_quality.py (greedy against optimized, per case).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from strategies import PlanningCase, _vm

from planner.fleet import Fleet
from planner.spec import Spec

UTC = dt.timezone.utc
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
START = dt.datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # a Monday, 22:00 UTC
NIGHTLY = {"timezone": "UTC", "hours": "22:00-06:00", "cutoff": "30m"}


def _window(first: dt.datetime, last: dt.datetime) -> dict[str, Any]:
    scheduled = last + dt.timedelta(days=4)
    return {
        "customer_initiated_allowed": True,
        "self_service_window": [first.isoformat(), last.isoformat()],
        "scheduled_window": [scheduled.isoformat(), (scheduled + dt.timedelta(days=10)).isoformat()],
    }


WIDE = _window(START - dt.timedelta(days=5), START + dt.timedelta(days=30))


def _set(rg: str, name: str, sizes: list[int], maintenance: dict[str, Any] = WIDE) -> list[dict[str, Any]]:
    """An availability set with ``sizes[u]`` VMs in update domain u."""
    return [
        {
            "name": f"{name}-{u}-{i}",
            "resource_group": rg,
            "availability_set": name,
            "update_domain": u,
            "fault_domain": i % 2,
            "maintenance": maintenance,
        }
        for u, size in enumerate(sizes)
        for i in range(size)
    ]


def _case(spec: dict[str, Any], items: list[dict[str, Any]], start: dt.datetime = START) -> PlanningCase:
    full = {"version": 1, "name": "adversarial", "subscription": SUBSCRIPTION, **spec}
    fleet = Fleet(captured_at=START, vms=tuple(_vm(item) for item in items))
    return PlanningCase(Spec.model_validate(full), fleet, start)


def window_edge_parallel() -> PlanningCase:
    """One step at a time (R6), a nightly window with a cutoff, a set of 6 update domains and three
    of 2: filling the slot with a short set's step one minute before the long set is ready costs a
    night."""
    items = _set("rg", "long", [1] * 6)
    for name in ("s1", "s2", "s3"):
        items += _set("rg", name, [1, 1])
    tier = {"name": "app", "select": {"resource_group": "rg"}, "max_unavailable": "100%"}
    late = START + dt.timedelta(minutes=90)  # 23:30: 6h of window left, minus the cutoff
    return _case({"window": NIGHTLY, "limits": {"max_parallel_steps": 1}, "tiers": [tier]}, items, late)


def window_edge_capacity() -> PlanningCase:
    """The same through the tier's capacity (R5: one VM down at a time) instead of R6."""
    items = _set("rg", "long", [1] * 6)
    for name in ("s1", "s2", "s3"):
        items += _set("rg", name, [1, 1])
    tier = {"name": "app", "select": {"resource_group": "rg"}, "max_unavailable": 1}
    return _case({"window": NIGHTLY, "tiers": [tier]}, items, START + dt.timedelta(minutes=90))


def capacity_mixed() -> PlanningCase:
    """Five availability sets with domains of 1-3 VMs, three VMs down at once, two steps at a time:
    starting whatever fits leaves no room for the critical chain."""
    shapes = [[3, 3, 3, 1], [2, 2, 1], [2, 3, 3], [1, 2, 2, 3], [1, 2, 1, 1]]
    items = [vm for n, sizes in enumerate(shapes) for vm in _set("rg", f"as{n}", sizes)]
    tier = {"name": "app", "select": {"resource_group": "rg"}, "max_unavailable": 3}
    return _case({"limits": {"max_parallel_steps": 2}, "tiers": [tier]}, items)


def capacity_mixed_large() -> PlanningCase:
    """Ten availability sets like ``capacity_mixed``: too many for a proof within a few seconds."""
    shapes = [
        [3, 1, 2],
        [1, 3],
        [2, 2, 1],
        [3, 3],
        [1, 1, 1, 2],
        [2, 3],
        [1, 2, 3],
        [3, 1],
        [2, 1, 2],
        [1, 3, 1],
    ]
    items = [vm for n, sizes in enumerate(shapes) for vm in _set("rg", f"as{n}", sizes)]
    tier = {"name": "app", "select": {"resource_group": "rg"}, "max_unavailable": 3}
    return _case({"limits": {"max_parallel_steps": 2}, "tiers": [tier]}, items)


def deadline_vs_chain() -> PlanningCase:
    """A long chain and short groups whose self-service windows end within hours, one step at a
    time, and a tier that depends on them: chain-first misses the short deadlines."""
    urgent = _window(START - dt.timedelta(days=5), START + dt.timedelta(minutes=70))
    soon = _window(START - dt.timedelta(days=5), START + dt.timedelta(hours=3))
    later = _window(START - dt.timedelta(days=5), START + dt.timedelta(hours=9))
    items = _set("rg-db", "db", [1, 1, 1, 1])
    items += _set("rg-db", "cache", [1, 1], soon)
    items += [{"name": f"q-{i}", "resource_group": "rg-db", "maintenance": urgent} for i in range(3)]
    items += [
        {"name": f"web-{i}", "resource_group": "rg-web", "zone": str(i + 1), "maintenance": later}
        for i in range(2)
    ]
    tiers = [
        {"name": "db", "select": {"resource_group": "rg-db"}, "max_unavailable": "100%"},
        {
            "name": "web",
            "depends_on": ["db"],
            "select": {"resource_group": "rg-web"},
            "max_unavailable": "100%",
        },
    ]
    return _case({"limits": {"max_parallel_steps": 1}, "tiers": tiers}, items)


def nightly_cutoff() -> PlanningCase:
    """Two tiers over several short nights (23:00-03:00, cutoff 1h) with one VM down at a time: which
    step takes the last fitting slot of a night decides how many nights the rollout takes."""
    window = {"timezone": "UTC", "hours": "23:00-03:00", "cutoff": "1h"}
    items = _set("rg-a", "a", [1, 1, 1]) + _set("rg-a", "b", [1, 1]) + _set("rg-c", "c", [1, 1, 1])
    tiers = [
        {"name": "a", "select": {"resource_group": "rg-a"}, "max_unavailable": 1},
        {"name": "c", "depends_on": ["a"], "select": {"resource_group": "rg-c"}, "max_unavailable": 1},
    ]
    return _case({"window": window, "tiers": tiers}, items, START + dt.timedelta(hours=1))


CASES: dict[str, Callable[[], PlanningCase]] = {
    "window-edge-r6": window_edge_parallel,
    "window-edge-r5": window_edge_capacity,
    "capacity-mixed": capacity_mixed,
    "capacity-mixed-large": capacity_mixed_large,
    "deadline-vs-chain": deadline_vs_chain,
    "nightly-cutoff": nightly_cutoff,
}
