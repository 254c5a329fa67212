"""Shared helpers of the executor tests: a run over the scripted backend, and the R2-R8 checker
applied to what actually happened (the journal's step times and the backend's trigger times)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner

from executor.cli.main import cli
from executor.rollout import plan_journal
from executor.run.clock import FakeClock
from executor.run.events import Event, RecordingReporter
from executor.run.journal import Journal
from executor.run.runner import RunConfig, Runner, RunOutcome
from executor.run.scripted import ScriptedBackend, VMScript
from executor.simulation import Simulation, control_interval, simulation
from planner.build import build_plan
from planner.errors import UdrollError
from planner.fleet import Fleet
from planner.load import LoadedSpec, load_spec, parse_spec
from planner.plan import Plan
from planner.select import selection
from planner.spec import Spec
from planner.windows import allowed_intervals

# fake-clock runs live and die in one process: skip the fsyncs (subprocess crash tests keep FULL)
Journal.synchronous = "OFF"

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "plans" / "three-tier-shop.yaml"


# a small two-tier rollout (4 VMs, 4 steps, about 2.5 simulated hours) for runs against the emulator
WINDOW = '["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"]'
PENDING = f"{{customer_initiated_allowed: true, self_service_window: {WINDOW}}}"  # an inventory's
E2E_SPEC = f"""
version: 1
name: e2e
subscription: 11111111-2222-3333-4444-555555555555
defaults:
  recovery_gap: 31m
  expected_duration: 10m
  max_unavailable: 1
  health: {{wait: 1m, timeout: 20m, healthy_for: 2m, interval: 15s}}
window: {{not_before: 2026-11-23T21:00:00Z}}
limits: {{max_parallel_steps: 2}}
tiers:
  - {{name: db, select: {{availability_set: rg-db/as-db}}}}
  - {{name: web, depends_on: [db], select: {{resource_group: rg-web}}, max_unavailable: 100%}}
inventory:
  - {{name: db-0, resource_group: rg-db, availability_set: as-db, update_domain: 0, fault_domain: 0,
     maintenance: {{customer_initiated_allowed: true, self_service_window: {WINDOW}}}}}
  - {{name: db-1, resource_group: rg-db, availability_set: as-db, update_domain: 1, fault_domain: 1,
     maintenance: {{customer_initiated_allowed: true, self_service_window: {WINDOW}}}}}
  - {{name: web-1, resource_group: rg-web, zone: "1",
     maintenance: {{customer_initiated_allowed: true, self_service_window: {WINDOW}}}}}
  - {{name: web-2, resource_group: rg-web, zone: "2",
     maintenance: {{customer_initiated_allowed: true, self_service_window: {WINDOW}}}}}
"""


def shop(**replace: str) -> LoadedSpec:
    """The bundled three-tier example, with text replacements applied."""
    text = SHOP.read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return parse_spec(text, str(SHOP))


def vm_id(loaded: LoadedSpec, ref: str) -> str:
    assert loaded.inventory is not None
    return next(vm.id for vm in loaded.inventory.vms if vm.ref == ref)


SHOP_START = dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.timezone.utc)  # the shop's window.not_before


def fakes(scripts: dict[str, VMScript] | None = None) -> dict[str, Any]:
    """The CLI's dependencies for the bundled shop: a fake clock and a scripted backend (by VM ref)."""
    loaded = shop()
    assert loaded.inventory is not None
    clock = FakeClock(SHOP_START)
    by_id = {vm_id(loaded, ref): s for ref, s in (scripts or {}).items()}
    backend = ScriptedBackend(loaded.inventory, clock, scripts=by_id)
    return {"clock": clock, "backend": backend, "tty": False, "live": False, "prober": backend.prober}


class Hooked(RecordingReporter):
    """Records events and calls ``on_event`` for each: lets a test act at an exact moment of a run."""

    def __init__(self) -> None:
        super().__init__()
        self.on_event: Callable[[Event], object] | None = None

    def emit(self, event: Event) -> None:
        super().emit(event)
        if self.on_event:
            self.on_event(event)


@dataclass
class Harness:
    spec: Spec
    fleet: Fleet
    plan: Plan
    clock: FakeClock
    backend: ScriptedBackend
    journal: Journal
    reporter: Hooked
    directory: Path

    def runner(self, config: RunConfig | None = None, **kwargs: Any) -> Runner:
        # fake time: reading control rows every 5 simulated minutes keeps the tests quick
        config = config or RunConfig(control_interval=300)
        return Runner(
            self.journal,
            self.plan,
            self.spec,
            self.fleet,
            self.backend,
            self.clock,
            self.reporter,
            prober=self.backend.prober,
            config=config,
            **kwargs,
        )

    def run(self, config: RunConfig | None = None, **kwargs: Any) -> RunOutcome:
        return self.runner(config, **kwargs).run()

    def reopen(self) -> None:
        """Drop this process's hold on the journal, as a crash would, and open it again."""
        self.journal.close()
        self.journal = Journal.open(self.directory)
        self.journal.lock()

    def step_states(self) -> dict[str, str]:
        return {row.id: row.state for row in self.journal.steps()}


def harness(
    tmp_path: Path,
    loaded: LoadedSpec | None = None,
    scripts: dict[str, VMScript] | None = None,
    duration: float = 600.0,
    outages: Any = (),
    refs: bool = True,
) -> Harness:
    loaded = loaded or load_spec(SHOP)
    assert loaded.inventory is not None
    fleet = loaded.inventory
    plan = build_plan(loaded.spec, fleet, loaded.spec.window.not_before or fleet.captured_at)
    clock = FakeClock(plan.start)
    by_id = {vm_id(loaded, ref) if refs else ref: s for ref, s in (scripts or {}).items()}
    backend = ScriptedBackend(fleet, clock, duration=duration, scripts=by_id, outages=outages)
    directory = tmp_path / "journal"
    journal = plan_journal(directory, plan)
    return Harness(loaded.spec, fleet, plan, clock, backend, journal, Hooked(), directory)


def rule_violations(
    plan: Plan, spec: Spec, fleet: Fleet, journal: Journal, triggers: list[tuple[dt.datetime, str]]
) -> list[str]:
    """R2-R8 checked on actual step times (journal) and trigger times (Azure's side)."""
    problems: list[str] = []
    rows = {r.id: r for r in journal.steps()}
    steps = {s.id: s for s in plan.steps}
    ran = {sid: (r.started_at, r.ended_at) for sid, r in rows.items() if r.started_at and r.ended_at}
    step_of = {vm: s.id for s in plan.steps for vm in s.vms}
    settings = {t.name: spec.settings(t) for t in spec.tiers}
    # R2: each trigger belongs to a VM of a step that was running at that moment
    for at, vm in triggers:
        sid = step_of.get(vm)
        if sid is None:
            problems.append(f"R2: {vm} triggered but in no step")
            continue
        start, end = ran.get(sid, (None, None))
        if start is None or not start <= at <= (end or at):
            problems.append(f"R2: {vm} triggered at {at} outside its step {sid} {start}..{end}")
    # R3: group order and gap; R4: tier order and gap
    for a_id, (a0, a1) in ran.items():
        a = steps[a_id]
        for b_id, (b0, _b1) in ran.items():
            b = steps[b_id]
            if a_id == b_id:
                continue
            gap = dt.timedelta(seconds=a.gap_after_s)
            if a.group == b.group and a.tier == b.tier and a0 <= b0 and b0 < a1 + gap:
                problems.append(f"R3: {b_id} started {b0} before {a_id} ended {a1} + gap")
            if a.tier in settings[b.tier].depends_on and b0 < a1 + gap:
                problems.append(f"R4: {b_id} started {b0} before {a_id} ended {a1} + gap")
    # R5/R6 at every step start
    totals = {t: len(v) for t, v in selection(spec, fleet.vms).items()}
    for sid, (t0, _) in ran.items():
        active = [o for o, (s0, s1) in ran.items() if s0 <= t0 < s1]
        limit = spec.limits.max_parallel_steps
        if limit is not None and len(active) > limit:
            problems.append(f"R6: {len(active)} steps running at {t0}")
        tier = steps[sid].tier
        in_tier = sum(len(steps[o].vms) for o in active if steps[o].tier == tier)
        if in_tier > settings[tier].max_unavailable.of(totals[tier]):
            problems.append(f"R5: {in_tier} VMs of {tier} under maintenance at {t0}")
    # R7: the planned duration from the actual start fits the windows; triggers in self-service windows
    spans = allowed_intervals(
        spec.window, plan.start - dt.timedelta(days=1), plan.start + dt.timedelta(days=120)
    )
    cutoff = dt.timedelta(seconds=spec.window.cutoff)
    facts = {vm.id: vm for vm in fleet.vms}
    for sid, (t0, _) in ran.items():
        end = t0 + dt.timedelta(seconds=steps[sid].duration_s)
        if not any(a <= t0 and end <= b - cutoff for a, b in spans):
            problems.append(f"R7: {sid} at {t0} does not fit the operator window")
    for at, vm in triggers:
        m = facts[vm].maintenance
        if m and m.self_service_window and not m.self_service_window[0] <= at <= m.self_service_window[1]:
            problems.append(f"R7: {vm} triggered at {at} outside its self-service window")
    # R8
    problems += [f"R8: {s.id} gap {s.gap_after_s}s" for s in plan.steps if s.gap_after_s <= 1800]
    return problems


def invoke(args: list[str], obj: dict[str, Any] | None = None, input: str | None = None) -> tuple[int, str]:
    """Run the CLI like `main` does (errors become exit codes) and return (exit code, output)."""
    result = CliRunner().invoke(cli, args, obj=obj or {}, input=input, standalone_mode=False)
    exc = result.exception
    if exc is None or isinstance(exc, SystemExit):
        return (0 if exc is None else int(exc.code or 0)), result.output
    if isinstance(exc, UdrollError):
        return exc.exit_code, result.output + f"{exc.prefix}{exc}\n"
    if isinstance(exc, click.ClickException):
        return exc.exit_code, result.output + exc.format_message()
    if isinstance(exc, click.Abort):
        return 130, result.output
    raise exc


def run_simulated(
    loaded: LoadedSpec,
    directory: Path,
    speed: float,
    reporter: RecordingReporter | None = None,
    before: Callable[[Simulation], object] | None = None,
) -> tuple[Plan, RunOutcome, list[dict[str, Any]]]:
    """The spec's inventory planned (greedy) and run as ``udroll run --simulate`` runs it: the real SDK
    against the in-process emulator at ``speed``; ``before(sim)`` acts on Azure first (someone
    else's maintenance). Returns the plan, how the run ended and the emulator's ARM request log."""
    assert loaded.inventory is not None
    fleet, spec = loaded.inventory, loaded.spec
    plan = build_plan(spec, fleet, spec.window.not_before or fleet.captured_at, optimize_s=0)
    with simulation(fleet, plan, speed) as sim:
        if before is not None:
            before(sim)
        runner = Runner(
            plan_journal(directory, plan),
            plan,
            spec,
            fleet,
            sim.backend,
            sim.clock,
            reporter=reporter,
            checks_for=sim.checks_for,
            config=RunConfig(control_interval=control_interval(speed)),
        )
        outcome = runner.run()
        emu: Any = sim.emulator
        requests = [r for r in emu.requests() if r["kind"] == "arm"]
    return plan, outcome, requests
