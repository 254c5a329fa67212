"""Properties of build_plan over generated fleets and specs (tests/strategies.py), checked by an
independent implementation of DESIGN §6's rules (tests/plan_rules.py)."""

from __future__ import annotations

import json
import random
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_rules import violations
from strategies import PlanningCase, plan_inputs

from planner.build import build_plan
from planner.fleet import Fleet
from planner.plan import Plan

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(plan_inputs())
def test_every_plan_obeys_r1_to_r8(problem: PlanningCase) -> None:
    """Whatever the fleet, spec and start, the plan breaks none of R1-R8; the bound is a bound; every
    unschedulable VM is told when Azure will do it instead."""
    plan = build_plan(problem.spec, problem.fleet, problem.start, optimize_s=0)
    assert violations(plan, problem.spec, problem.fleet) == []
    assert plan.makespan_s >= plan.lower_bound_s
    assert all("Azure will maintain it" in u.reason for u in plan.unschedulable)


@settings(max_examples=60, deadline=None)
@given(plan_inputs(), st.randoms(use_true_random=False))
def test_same_input_same_plan_whatever_the_fleet_order(problem: PlanningCase, rnd: random.Random) -> None:
    """The same spec, fleet and start give a byte-identical plan, also with the fleet's VMs reordered."""
    first = build_plan(problem.spec, problem.fleet, problem.start, optimize_s=0).to_json()
    assert build_plan(problem.spec, problem.fleet, problem.start, optimize_s=0).to_json() == first
    shuffled = list(problem.fleet.vms)
    rnd.shuffle(shuffled)
    again = Fleet(captured_at=problem.fleet.captured_at, vms=tuple(shuffled))
    assert build_plan(problem.spec, again, problem.start, optimize_s=0).to_json() == first


@PROPERTY
@given(plan_inputs(unlimited=True))
def test_makespan_meets_the_lower_bound_when_nothing_else_binds(problem: PlanningCase) -> None:
    """Without window, capacity or parallelism limits the scheduler meets the critical path exactly."""
    plan = build_plan(problem.spec, problem.fleet, problem.start, optimize_s=0)
    assert plan.unschedulable == ()
    assert plan.makespan_s == plan.lower_bound_s
    assert violations(plan, problem.spec, problem.fleet) == []


@PROPERTY
@given(plan_inputs())
def test_a_planned_tier_names_every_dependency_it_no_longer_waits_for_in_full(problem: PlanningCase) -> None:
    """A tier with steps whose dependency (directly, or through tiers with nothing planned) keeps
    unschedulable VMs is listed in ``relaxed`` with their count, and nothing else is listed."""
    plan = build_plan(problem.spec, problem.fleet, problem.start, optimize_s=0)
    tier_of = {vm.id: vm.resource_group.removeprefix("rg-").removesuffix("-b") for vm in problem.fleet.vms}
    missing: dict[str, int] = {}
    for u in plan.unschedulable:
        missing[tier_of[u.vm]] = missing.get(tier_of[u.vm], 0) + 1
    planned = {s.tier for s in plan.steps}
    deps = {t.name: t.depends_on for t in problem.spec.tiers}
    expected = set()
    for tier in planned:
        todo, seen = list(deps[tier]), set()
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                if dep in missing:
                    expected.add((tier, dep, missing[dep]))
                if dep not in planned:
                    todo += deps[dep]
    assert {(r.tier, r.depends_on, r.vms) for r in plan.relaxed} == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan_inputs())
def test_the_fast_plan_writer_matches_the_stdlib_encoder(problem: PlanningCase) -> None:
    """Plan.to_json writes exactly what json.dumps(indent=2) writes for the plan's dict, and reads back."""
    plan = build_plan(problem.spec, problem.fleet, problem.start, optimize_s=0)
    text = plan.to_json()
    assert text == json.dumps(plan.to_dict(), indent=2, ensure_ascii=False) + "\n"
    assert Plan.from_dict(json.loads(text)) == plan


@PROPERTY
@given(plan_inputs())
def test_zonal_vms_of_a_tier_are_walked_zone_by_zone_across_resource_groups(problem: PlanningCase) -> None:
    """R3 read from the VMs' own facts: the steps holding a tier's zonal standalone VMs, whatever
    resource group they live in, never overlap and keep the recovery gap between them."""
    plan = build_plan(problem.spec, problem.fleet, problem.start)
    facts = {vm.id: vm for vm in problem.fleet.vms}
    for tier in problem.spec.tiers:
        zonal = sorted(
            (
                s
                for s in plan.steps
                if s.tier == tier.name and any(facts[v].zone and not facts[v].scale_set for v in s.vms)
            ),
            key=lambda s: s.start_offset_s,
        )
        for before, after in pairwise(zonal):
            assert after.start_offset_s >= before.end_offset_s + before.gap_after_s, (before.id, after.id)
