"""The independent rule checker (tests/plan_rules.py) is not vacuous: it flags each kind of broken plan."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from plan_rules import violations

from planner.build import build_plan
from planner.load import load_spec
from planner.plan import Plan, Step

SHOP = Path(__file__).resolve().parent.parent / "plans" / "three-tier-shop.yaml"
LOADED = load_spec(SHOP)
PLAN = build_plan(LOADED.spec, LOADED.inventory, LOADED.spec.window.not_before)


def moved(step: Step, seconds: int) -> Step:
    delta = dt.timedelta(seconds=seconds)
    return dataclasses.replace(
        step,
        start=step.start + delta,
        end=step.end + delta,
        start_offset_s=step.start_offset_s + seconds,
        end_offset_s=step.end_offset_s + seconds,
    )


def broken(index: int, step: Step) -> Plan:
    steps = list(PLAN.steps)
    steps[index] = step
    steps.sort(key=lambda s: s.start_offset_s)
    return dataclasses.replace(PLAN, steps=tuple(steps), makespan_s=max(s.end_offset_s for s in steps))


def rules(plan: Plan) -> set[str]:
    return {v.split(":")[0] for v in violations(plan, LOADED.spec, LOADED.inventory)}


def test_the_shop_plan_is_clean() -> None:
    """The untouched plan has no violation."""
    assert rules(PLAN) == set()


def test_group_order_tier_order_and_windows_are_checked() -> None:
    """Moving db's second step into its gap breaks R3; the first app step too early breaks R4 (and R7)."""
    assert "R3" in rules(broken(1, moved(PLAN.steps[1], -60)))
    assert "R4" in rules(broken(3, moved(PLAN.steps[3], -3600)))
    assert "R7" in rules(broken(9, moved(PLAN.steps[9], 6 * 3600)))  # into the Berlin morning


def test_capacity_parallelism_coverage_and_gaps_are_checked() -> None:
    """Two web VMs more in a step (R5, R2), a dropped VM (R1), a short gap (R8)."""
    web = PLAN.steps[7]
    extra = dataclasses.replace(web, vms=web.vms + PLAN.steps[8].vms)
    assert {"R5", "R1"} <= rules(broken(7, extra))
    assert "R2" in rules(broken(7, extra))
    dropped = dataclasses.replace(web, vms=web.vms[:1])
    assert "R1" in rules(broken(7, dropped))
    assert "R8" in rules(broken(0, dataclasses.replace(PLAN.steps[0], gap_after_s=1800)))


def test_parallelism_is_checked() -> None:
    """Five steps of five groups at one instant break max_parallel_steps: 4 (R6)."""
    steps = [
        dataclasses.replace(moved(s, -s.start_offset_s), id=f"x{i}", tier="web", group=f"g{i}")
        for i, s in enumerate(PLAN.steps[7:10])
    ]
    steps += [
        dataclasses.replace(moved(s, -s.start_offset_s), id=f"y{i}") for i, s in enumerate(PLAN.steps[:1])
    ]
    steps += [
        dataclasses.replace(moved(s, -s.start_offset_s), id=f"z{i}") for i, s in enumerate(PLAN.steps[3:4])
    ]
    plan = dataclasses.replace(PLAN, steps=tuple(steps))
    assert "R6" in rules(plan)
