"""A simulated rollout of a large fleet through the real SDK and the emulator: request budget,
throttling and timing of the runner.

    python benchmarks/rollout.py [--vms 1000] [--speed 300] [--journal DIR]

The fleet: ``--vms / 100`` resource groups, each with an availability set of 20 database VMs, a
uniform scale set of 60 app instances (5 update domains each) and 20 zonal web VMs; tiers
db -> app -> web, every VM behaving as planned (the emulator's 10-minute maintenance, a 1-minute
warm-up). Prints: ARM requests per maintained VM (triggers, polls, status reads, lists), 429
answers, and the actual simulated makespan against the planned one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from executor.rollout import plan_journal
from executor.run.runner import RunConfig, Runner
from executor.simulation import control_interval, simulation
from planner.build import build_plan
from planner.load import parse_spec

WINDOW = '["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"]'
PENDING = f"{{customer_initiated_allowed: true, self_service_window: {WINDOW}}}"


def spec_text(vms: int) -> str:
    groups = max(1, vms // 100)
    lines = []
    for g in range(groups):
        rg = f"rg-{g:02d}"
        for i in range(20):
            lines.append(
                f"  - {{name: db-{i}, resource_group: {rg}, availability_set: as-db, update_domain: {i % 5}, "
                f"fault_domain: {i % 3}, tags: {{role: db}}, maintenance: {PENDING}}}"
            )
        for i in range(60):
            lines.append(
                f"  - {{name: app_{i}, resource_group: {rg}, scale_set: vmss-app, orchestration: Uniform, "
                f"instance_id: '{i}', update_domain: {i % 5}, fault_domain: {i % 3}, tags: {{role: app}}, "
                f"maintenance: {PENDING}}}"
            )
        for i in range(20):
            lines.append(
                f"  - {{name: web-{i}, resource_group: {rg}, zone: '{1 + i % 3}', tags: {{role: web}}, "
                f"maintenance: {PENDING}}}"
            )
    return (
        """version: 1
name: bench
subscription: 11111111-2222-3333-4444-555555555555
defaults:
  recovery_gap: 31m
  expected_duration: 10m
  max_unavailable: 20%
  health: {wait: 1m, timeout: 20m, healthy_for: 2m, interval: 30s}
window: {not_before: 2026-11-23T21:00:00Z}
limits: {max_parallel_steps: 40}
tiers:
  - {name: db, select: {tags: {role: db}}}
  - {name: app, depends_on: [db], select: {tags: {role: app}}}
  - {name: web, depends_on: [app], select: {tags: {role: web}}, max_unavailable: 34%}
inventory:
"""
        + "\n".join(lines)
        + "\n"
    )


def operation(method: str, target: str) -> str:
    """The REST operation a logged request was (as README's table names it)."""
    path, _, query = target.partition("?")
    low, q = path.lower(), query.lower()
    if "performmaintenance" in low:
        if "/virtualmachinescalesets/" not in low:
            return "VirtualMachines_PerformMaintenance"
        vm = "/virtualmachines/" in low.split("/virtualmachinescalesets/")[1]
        return (
            "VirtualMachineScaleSetVMs_PerformMaintenance"
            if vm
            else "VirtualMachineScaleSets_PerformMaintenance"
        )
    if "/operations/" in low:
        return (
            "operation status (Location)"
            if "monitor=true" in q
            else "operation status (Azure-AsyncOperation)"
        )
    if low.endswith("/instanceview"):
        return "VirtualMachines_InstanceView"
    if "/virtualmachinescalesets/" in low and low.endswith("/virtualmachines"):
        return "VirtualMachineScaleSetVMs_List $expand=instanceView"
    if low.endswith("/virtualmachinescalesets"):
        return "VirtualMachineScaleSets_List(All)"
    if low.endswith("/virtualmachines"):
        if "statusonly=true" in q:
            return "VirtualMachines_ListAll statusOnly=true"
        return (
            "VirtualMachines_List $filter+$expand"
            if "%24filter" in q or "$filter" in q
            else "VirtualMachines_List(All)"
        )
    return f"{method} other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=300.0)
    parser.add_argument("--journal", type=Path, default=None)
    args = parser.parse_args()

    loaded = parse_spec(spec_text(args.vms), "bench.yaml")
    assert loaded.inventory is not None
    fleet = loaded.inventory
    plan = build_plan(loaded.spec, fleet, loaded.spec.window.not_before or fleet.captured_at)
    maintained = sum(len(s.vms) for s in plan.steps)
    print(
        f"{len(fleet.vms)} VMs, {len(plan.steps)} steps, {maintained} to maintain; planned makespan "
        f"{plan.makespan_s} s; speed {args.speed:g}x"
    )
    directory = args.journal or Path(tempfile.mkdtemp(prefix="udroll-bench-")) / "journal"
    started = time.monotonic()
    with simulation(fleet, plan, args.speed) as sim:
        sim.backend.list_vms()  # `udroll discover` of the whole subscription, counted apart
        seen = sim.emulator.requests()  # type: ignore[attr-defined]
        discovery = len([r for r in seen if r["kind"] == "arm"])
        journal = plan_journal(directory, plan)
        runner = Runner(
            journal,
            plan,
            loaded.spec,
            fleet,
            sim.backend,
            sim.clock,
            checks_for=sim.checks_for,
            config=RunConfig(control_interval=control_interval(args.speed)),
        )
        outcome = runner.run()
        requests = sim.emulator.requests()[len(seen) :]  # type: ignore[attr-defined]
    real = time.monotonic() - started
    arm = [r for r in requests if r["kind"] == "arm"]
    kinds = Counter(operation(r["method"], r["path"]) for r in arm)
    ended = max(r.ended_at for r in journal.steps() if r.ended_at)
    actual = (ended - plan.start).total_seconds()
    print(f"outcome: {outcome.state} ({outcome.message})")
    print(f"discovery of the whole subscription: {discovery} ARM requests for {len(fleet.vms)} VMs")
    done = sum(1 for r in journal.vms() if r.attempts)  # triggered (a halted run maintains fewer)
    print(f"ARM requests of the run: {len(arm)} = {len(arm) / max(1, done):.2f} per maintained VM ({done})")
    for name, count in kinds.most_common():
        print(f"  {count:6d}  {count / max(1, done):5.2f}/VM  {name}")
    throttled = sum(1 for r in arm if r["status"] == 429)
    print(f"429 answers: {throttled}; 5xx: {sum(1 for r in arm if r['status'] >= 500)}")
    print(
        f"makespan: planned {plan.makespan_s} s, actual {actual:.0f} s, "
        f"{(actual - plan.makespan_s) / plan.makespan_s * 100:+.2f}%"
    )
    late = max(
        ((r.ended_at - plan.step(r.id).end).total_seconds(), r.id) for r in journal.steps() if r.ended_at
    )
    print(
        f"latest step end vs plan: {late[0]:+.0f} s ({late[1]}); real time {real:.1f} s; journal {directory}"
    )


if __name__ == "__main__":
    main()
