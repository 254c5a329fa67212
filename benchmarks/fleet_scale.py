"""The runner at fleet scale: a generated fleet of six tiers run against the emulator (the real SDK over
HTTPS, in compressed time), judged from the emulator's request log, with the budgets of issue 18.

    python benchmarks/fleet_scale.py --vms 5000 [--speed 300] [--separate] [--journal DIR]
    python benchmarks/fleet_scale.py --vms 300                  # a quick check

The fleet, per 100 VMs (one resource group each): db, an availability set of 10 VMs (5 update
domains); cache, 12 zonal VMs (3 zones); app, a uniform scale set of 30 instances (5 update domains);
api, a flexible scale set of 18 VMs (3 fault domains); web, a uniform scale set of 20; jobs, an
availability set of 10. Tiers db -> app -> web, cache -> api, jobs alone; nightly hours 20:00-08:00
UTC; every VM behaves (the emulator's 10-minute maintenance, a 1-minute warm-up).

By default the emulator runs in this process, as `udroll run --simulate` does: CPU is then the
runner's and the emulator's together. ``--separate`` serves it from a child process (`udroll emulator
serve`), so CPU and peak RSS are the runner's alone. Prints: exit code, VMs maintained, ARM requests
per maintained VM by kind, 429s, health probes per VM, simulated/planned makespan, CPU and RSS, and a
verdict per budget (0 failed VMs; <= 2.0 ARM requests per maintained VM; 0 429s; simulated/planned
<= 1.02; health probes <= (healthy_for + wait)/interval + 1 + the baseline share).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from rollout import operation  # noqa: E402  (the README's names of the calls)

from executor.rollout import plan_journal  # noqa: E402
from executor.run.runner import RunConfig, Runner  # noqa: E402
from executor.simulation import control_interval, emulator_checks, simulation  # noqa: E402
from planner.build import build_plan  # noqa: E402
from planner.load import parse_spec  # noqa: E402

WINDOW = '["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"]'
PENDING = f"{{customer_initiated_allowed: true, self_service_window: {WINDOW}}}"
HEALTH = {"wait": 60, "healthy_for": 120, "interval": 30}
EXIT = {"completed": 0, "halted": 4, "paused": 5, "aborted": 4, "waiting": 0}
# (tier, kind, VMs per 100, domains)
BLOCK = (
    ("db", "as", 10, 5),
    ("cache", "zonal", 12, 3),
    ("app", "uniform", 30, 5),
    ("api", "flexible", 18, 3),
    ("web", "uniform", 20, 5),
    ("jobs", "as", 10, 5),
)


def _vm(tier: str, kind: str, rg: str, i: int, domains: int) -> str:
    head = f"{{name: {tier}-{i}, resource_group: {rg}, tags: {{role: {tier}}}, maintenance: {PENDING}"
    if kind == "as":
        return f"{head}, availability_set: as-{tier}, update_domain: {i % domains}, fault_domain: {i % 2}}}"
    if kind == "zonal":
        return f"{head}, zone: '{1 + i % domains}'}}"
    if kind == "uniform":
        return (
            f"{{name: {tier}_{i}, resource_group: {rg}, tags: {{role: {tier}}}, maintenance: {PENDING}, "
            f"scale_set: vmss-{tier}, orchestration: Uniform, instance_id: '{i}', "
            f"update_domain: {i % domains}, fault_domain: {i % 3}}}"
        )
    return f"{head}, scale_set: flex-{tier}, orchestration: Flexible, fault_domain: {i % domains}}}"


def spec_text(vms: int) -> str:
    lines = []
    for g in range(max(1, vms // 100)):
        rg = f"rg-{g:02d}"
        for tier, kind, count, domains in BLOCK:
            lines += [f"  - {_vm(tier, kind, rg, i, domains)}" for i in range(count)]
    h = HEALTH
    return (
        f"""version: 1
name: fleet-scale
subscription: 11111111-2222-3333-4444-555555555555
defaults:
  recovery_gap: 31m
  expected_duration: 10m
  max_unavailable: 20%
  health: {{wait: {h["wait"]}s, timeout: 20m, healthy_for: {h["healthy_for"]}s, interval: {h["interval"]}s}}
window: {{not_before: 2026-11-23T20:00:00Z, hours: "20:00-08:00"}}
limits: {{max_parallel_steps: 400}}
tiers:
  - {{name: db, select: {{tags: {{role: db}}}}}}
  - {{name: cache, select: {{tags: {{role: cache}}}}, max_unavailable: 34%}}
  - {{name: app, depends_on: [db], select: {{tags: {{role: app}}}}}}
  - {{name: api, depends_on: [cache], select: {{tags: {{role: api}}}}, max_unavailable: 34%}}
  - {{name: web, depends_on: [app], select: {{tags: {{role: web}}}}}}
  - {{name: jobs, select: {{tags: {{role: jobs}}}}}}
inventory:
"""
        + "\n".join(lines)
        + "\n"
    )


@contextlib.contextmanager
def separate_emulator(fleet: Any, plan: Any, speed: float, work: Path) -> Iterator[Any]:
    """`udroll emulator serve` in a child process; yields a Simulation-like object over it."""
    from executor.azure.connect import AzureOptions, connect, emulator_clock, read_ready_file
    from executor.simulation import Simulation

    fleet_file, ready, log = work / "fleet.json", work / "emulator.json", work / "requests.jsonl"
    fleet_file.write_text(fleet.to_json())
    args = [sys.executable, "-c", "from executor.cli.main import main; main()", "emulator", "serve"]
    args += ["--fleet", str(fleet_file), "--speed", str(speed), "--epoch", plan.start.isoformat()]
    args += ["--ready-file", str(ready), "--log", str(log)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if ready.exists() and ready.stat().st_size:
                break
            if child.poll() is not None:
                raise SystemExit(f"emulator exited: {child.stderr.read().decode() if child.stderr else ''}")
            time.sleep(0.1)
        info = read_ready_file(ready)
        clock = emulator_clock(info)
        backend = connect(AzureOptions(emulator=str(ready)), clock=clock)

        class Logged:
            def requests(self) -> list[dict[str, Any]]:
                text = log.read_text() if log.exists() else ""
                return [json.loads(line) for line in text.splitlines() if line.strip()]

        yield Simulation(Logged(), backend, clock, emulator_checks(info.base_url, info.ca_bundle))
        backend.close()
    finally:
        child.terminate()
        child.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=5000)
    parser.add_argument("--speed", type=float, default=300.0)
    parser.add_argument("--separate", action="store_true", help="the emulator in a child process")
    parser.add_argument("--journal", type=Path, default=None)
    args = parser.parse_args()

    loaded = parse_spec(spec_text(args.vms), "fleet-scale.yaml")
    assert loaded.inventory is not None
    fleet, spec = loaded.inventory, loaded.spec
    plan = build_plan(spec, fleet, spec.window.not_before or fleet.captured_at, optimize_s=0)
    planned_vms = sum(len(s.vms) for s in plan.steps)
    print(
        f"{len(fleet.vms)} VMs in {len(spec.tiers)} tiers, {len(plan.steps)} steps, {planned_vms} to "
        f"maintain; planned makespan {plan.makespan_s} s; speed {args.speed:g}x"
        + ("; emulator in a child process" if args.separate else "")
    )
    work = Path(tempfile.mkdtemp(prefix="udroll-fleet-"))
    directory = args.journal or work / "journal"
    started, cpu0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    serving = (
        separate_emulator(fleet, plan, args.speed, work)
        if args.separate
        else simulation(fleet, plan, args.speed)
    )
    with serving as sim:
        emulator: Any = sim.emulator
        journal = plan_journal(directory, plan)
        runner = Runner(
            journal,
            plan,
            spec,
            fleet,
            sim.backend,
            sim.clock,
            checks_for=sim.checks_for,
            config=RunConfig(control_interval=control_interval(args.speed)),
        )
        outcome = runner.run()
        time.sleep(0.5 if args.separate else 0)  # the child's log is line-buffered
        requests = emulator.requests()
        policy = getattr(sim.backend, "policy", None)
        waits = dict(policy.pacer.waits) if policy is not None else {}
    real = time.monotonic() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    report(outcome, journal, plan, fleet, requests)
    paced = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in sorted(waits.items())) or "none"
    print(f"client-side pacing waits (simulated time, summed over requests): {paced}")
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    who = "runner" if args.separate else "runner + emulator"
    print(
        f"{who}: CPU {cpu:.0f} s over {real:.0f} s real ({cpu / max(real, 1e-9) * 100:.0f}% of a core); "
        f"peak RSS {cpu1.ru_maxrss / 1024:.0f} MB; journal {directory}"
    )


def report(outcome: Any, journal: Any, plan: Any, fleet: Any, requests: list[dict[str, Any]]) -> None:
    arm = [r for r in requests if r["kind"] == "arm"]
    probes = [r for r in requests if r["kind"] == "health"]
    rows = journal.vms()
    done = sum(1 for r in rows if r.state == "healthy")
    failed = sum(1 for r in rows if r.state == "failed")
    triggered = sum(1 for r in rows if r.attempts)
    print(f"exit code {EXIT.get(outcome.state, 1)}: {outcome.state} ({outcome.message})")
    print(f"VMs maintained (healthy): {done} of {len(rows)}; failed {failed}; triggered {triggered}")
    per = max(1, triggered)
    print(f"ARM requests: {len(arm)} = {len(arm) / per:.2f} per maintained VM")
    for name, count in Counter(operation(r["method"], r["path"]) for r in arm).most_common():
        print(f"  {count:7d}  {count / per:5.2f}/VM  {name}")
    print(standalone_reads(arm, {vm.id.lower() for vm in fleet.vms if not vm.scale_set}))
    throttled = sum(1 for r in arm if r["status"] == 429)
    print(f"429 answers: {throttled}; 5xx: {sum(1 for r in arm if r['status'] >= 500)}")
    ends = [r.ended_at for r in journal.steps() if r.ended_at]
    ratio = ((max(ends) - plan.start).total_seconds() / plan.makespan_s) if ends else float("nan")
    print(f"makespan: simulated / planned = {ratio:.4f} (planned {plan.makespan_s} s)")
    gate_floor = (HEALTH["healthy_for"] + HEALTH["wait"]) / HEALTH["interval"] + 1
    per_probe, budget = len(probes) / per, gate_floor + baseline_share(plan)
    print(
        f"health probes: {len(probes)} = {per_probe:.1f} per VM "
        f"(budget {budget:.1f}: gate {gate_floor:.0f} + baseline share)"
    )
    verdicts = {
        "0 failed VMs": failed == 0 and outcome.state == "completed",
        "<= 2.0 ARM requests per maintained VM": len(arm) / per <= 2.0,
        "0 429s": throttled == 0,
        "simulated/planned <= 1.02": ratio <= 1.02,
        "health probes within budget": per_probe <= budget,
    }
    for what, ok in verdicts.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {what}")


def standalone_reads(arm: list[dict[str, Any]], standalone: set[str]) -> str:
    """Instance views of standalone VMs (not scale set members) around their own trigger: after it
    (the floor: one), the last before it (its own fresh read), and the earlier ones (the live guard's,
    while another domain of its group was stepped)."""
    triggered: dict[str, str] = {}
    for r in arm:
        if r["method"] == "POST" and r["status"] == 202 and r.get("vm"):
            for vm in r.get("vms") or [r["vm"]]:
                triggered.setdefault(vm.lower(), r["sim"])
    reads: dict[str, list[str]] = {}
    for r in arm:
        view = r["method"] == "GET" and r["path"].split("?")[0].endswith("/instanceView")
        if view and r.get("vm"):
            reads.setdefault(r["vm"].lower(), []).append(r["sim"])
    vms = [vm for vm in triggered if vm in standalone]
    after = sum(sum(1 for t in reads.get(vm, []) if t > triggered[vm]) for vm in vms)
    before = sum(sum(1 for t in reads.get(vm, []) if t < triggered[vm]) for vm in vms)
    own = sum(1 for vm in vms if any(t < triggered[vm] for t in reads.get(vm, [])))
    n = max(1, len(vms))
    return (
        f"  standalone VMs ({len(vms)}): instance views per VM after its trigger {after / n:.2f}, "
        f"its own read before {own / n:.2f}, the guard's while other domains were stepped "
        f"{(before - own) / n:.2f}"
    )


def baseline_share(plan: Any) -> float:
    """Baseline probes per VM if one round of each tier served every step starting together: a round
    per start instant of the tier, over the tier's VMs."""
    by_tier: dict[str, set[Any]] = {}
    sizes: Counter[str] = Counter()
    for s in plan.steps:
        by_tier.setdefault(s.tier, set()).add(s.start)
        sizes[s.tier] += len(s.vms)
    total = sum(sizes.values())
    return sum(len(by_tier[t]) * sizes[t] for t in by_tier) / max(1, total)


if __name__ == "__main__":
    main()
