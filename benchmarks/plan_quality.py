"""Plan quality: the greedy against the optimized plan on small adversarial fleets (issue 13).

For each case of tests/adversarial.py: a plain list scheduler (longest remaining path first, no
look-ahead: the greedy before issue 13), udroll's greedy (look-ahead, earliest-deadline pass) and
the optimized plan (greedy + CP-SAT within the budget), each with its makespan, VMs covered, proven
status and planning time. Every plan is checked against R1-R8 by tests/plan_rules.py.

    /work/venv/bin/python benchmarks/plan_quality.py               # budget 5s
    /work/venv/bin/python benchmarks/plan_quality.py --budget 10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]

from adversarial import CASES, PlanningCase  # noqa: E402
from plan_rules import violations  # noqa: E402

import planner.build as build  # noqa: E402
from planner.plan import Plan  # noqa: E402


def timed(
    case: PlanningCase, budget: float, passes: tuple[tuple[str, bool], ...] | None = None
) -> tuple[Plan, float]:
    saved = build._GREEDY_PASSES
    if passes is not None:
        build._GREEDY_PASSES = passes
    try:
        t0 = time.perf_counter()
        plan = build.build_plan(case.spec, case.fleet, case.start, optimize_s=budget)
        elapsed = time.perf_counter() - t0
    finally:
        build._GREEDY_PASSES = saved
    problems = violations(plan, case.spec, case.fleet)
    assert not problems, problems
    return plan, elapsed


def cell(plan: Plan, seconds: float) -> str:
    covered = sum(len(s.vms) for s in plan.steps)
    total = covered + len(plan.unschedulable)
    status = plan.optimality.describe(plan.makespan_s, plan.lower_bound_s)
    return f"{plan.makespan_s / 3600:6.2f}h {covered:>3}/{total:<3} {seconds:5.2f}s  {status}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=5.0, help="solver budget (deterministic seconds)")
    args = parser.parse_args()
    print(f"{'case':<21} {'plain list scheduler':<44} | {'greedy':<44} | optimized (budget {args.budget:g}s)")
    for name, make in CASES.items():
        case = make()
        plain = timed(case, 0, (("path", False),))
        greedy = timed(case, 0)
        best = timed(case, args.budget)
        print(f"{name:<21} {cell(*plain):<44} | {cell(*greedy):<44} | {cell(*best)}", flush=True)


if __name__ == "__main__":
    main()
