"""Two runners on two journals walking the same availability set, against one emulator (the real SDK over
HTTPS), the second started mid-step or mid-gap: judged from the emulator's request log and state — one
accepted trigger per VM, never two update domains of the set under maintenance at once, and every next
domain triggered a full recovery gap after the previous one came back."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from executor.azure.connect import for_emulator
from executor.rollout import plan_journal
from executor.run.events import Event, RecordingReporter
from executor.run.journal import Journal
from executor.run.runner import RunConfig, Runner, RunOutcome
from executor.simulation import control_interval, simulation
from planner.build import build_plan
from planner.fleet import Fleet
from planner.load import parse_spec

pytestmark = pytest.mark.e2e

WINDOW = '["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"]'
VM = "{{name: db-{ud}, resource_group: rg-db, availability_set: as-db, update_domain: {ud}, fault_domain: {ud}, maintenance: {{customer_initiated_allowed: true, self_service_window: {window}}}}}"
SPEC = """
version: 1
name: shared
subscription: 11111111-2222-3333-4444-555555555555
defaults:
  recovery_gap: 31m
  expected_duration: 10m
  health: {wait: 1m, timeout: 20m, healthy_for: 2m, interval: 15s}
window: {not_before: 2026-11-23T21:00:00Z}
tiers:
  - {name: db, select: {availability_set: rg-db/as-db}}
inventory:
""" + "".join(f"  - {VM.format(ud=ud, window=WINDOW)}\n" for ud in range(3))
GAP = dt.timedelta(minutes=31)
SPEED = 300.0  # slow enough that the two runners are never within one read-and-trigger of each other


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _two_runners(
    tmp_path: Path, second_starts_on: str
) -> tuple[list[dict[str, Any]], dict[str, Any], list[RunOutcome]]:
    loaded = parse_spec(SPEC, "shared.yaml")
    assert loaded.inventory is not None
    fleet = loaded.inventory
    plan = build_plan(loaded.spec, fleet, loaded.spec.window.not_before or fleet.captured_at, optimize_s=0)
    outcomes: list[RunOutcome] = []
    with simulation(fleet, plan, SPEED) as sim:

        def runner(name: str, reporter: RecordingReporter, live: bool = False) -> Runner:
            backend = for_emulator(sim.emulator, clock=sim.clock, polling_interval=1.0)
            own_fleet, own_plan = fleet, plan
            own_spec = loaded.spec
            if live:  # `udroll run` elsewhere, from the live fleet, walking the set the other way
                own_spec = parse_spec(
                    SPEC.replace("as-db}}", "as-db}, update_domain_order: [2, 1, 0]}"), "b.yaml"
                ).spec
                own_fleet = Fleet(captured_at=sim.clock.now(), vms=tuple(backend.list_vms(["rg-db"])))
                own_plan = build_plan(own_spec, own_fleet, sim.clock.now(), optimize_s=0)
            journal = Journal.create(
                tmp_path / name,
                {"plan": own_plan.to_json()},
                [(s.id, s.tier, list(s.vms)) for s in own_plan.steps],
            )
            return Runner(
                journal,
                own_plan,
                own_spec,
                own_fleet,
                backend,
                sim.clock,
                reporter,
                checks_for=sim.checks_for,
                config=RunConfig(control_interval=control_interval(SPEED)),
            )

        started = threading.Event()
        second_thread: list[threading.Thread] = []

        def start_second() -> None:
            # a minute and a half of simulated time later (0.3 s real at 300x), as a person would:
            # two runners whose checks fall within the same instant race (see the README: the fleet
            # lock closes that window on one machine, blob leases across machines)
            time.sleep(0.3)
            second = runner("second", RecordingReporter(), live=True)
            thread = threading.Thread(target=lambda: outcomes.append(second.run()), daemon=True)
            second_thread.append(thread)
            thread.start()

        class Watch(RecordingReporter):
            def emit(self, event: Event) -> None:
                super().emit(event)
                if event.kind == second_starts_on and not started.is_set():
                    started.set()
                    threading.Thread(target=start_second, daemon=True).start()

        outcomes.append(runner("first", Watch()).run())
        assert started.wait(5)
        deadline = 120.0
        while not second_thread and deadline > 0:
            threading.Event().wait(0.1)
            deadline -= 0.1
        second_thread[0].join(timeout=300)
        emu: Any = sim.emulator
        return emu.requests(), emu.state(), outcomes


@pytest.mark.parametrize("second_starts_on", ["vm-triggered", "step-ended"], ids=["mid-step", "mid-gap"])
def test_two_runners_on_two_journals_never_take_two_domains_down(
    tmp_path: Path, second_starts_on: str
) -> None:
    """The second runner, started mid-step or mid-gap of the first, never overlaps it on the set."""
    requests, state, outcomes = _two_runners(tmp_path, second_starts_on)
    assert len(outcomes) == 2
    accepted: dict[str, list[dt.datetime]] = {}
    for r in requests:
        if r["method"] == "POST" and "performMaintenance" in r["path"] and r["status"] == 202:
            accepted.setdefault(r["vm"].lower(), []).append(_at(r["sim"]))
    runs = {vm["id"].lower(): vm["operation"] for vm in state["vms"]}
    assert sorted(len(t) for t in accepted.values()) == [1, 1, 1]  # each VM maintained exactly once
    spans = sorted((_at(run["started"]), _at(run["ends"])) for run in runs.values() if run)
    assert len(spans) == 3
    for (_, ended), (next_start, _) in itertools.pairwise(spans):
        assert next_start >= ended + GAP, (ended, next_start)


def test_a_skipped_step_keeps_its_gap_against_the_emulator(tmp_path: Path) -> None:
    """db-0 is maintained but its health flaps (never 2 minutes healthy): its step fails, the run halts, the
    operator skips the step and resumes. Judged from the emulator: db-1 is triggered no earlier than
    db-0 came back plus the full gap (the skip did not drop it), and each VM is triggered once."""
    loaded = parse_spec(SPEC, "shared.yaml")
    assert loaded.inventory is not None
    fleet = loaded.inventory
    plan = build_plan(loaded.spec, fleet, loaded.spec.window.not_before or fleet.captured_at, optimize_s=0)
    faults = tmp_path / "faults.yaml"
    faults.write_text("version: 1\nvms: {rg-db/db-0: {health: flapping, flap_period: 1m}}\n")
    with simulation(fleet, plan, SPEED, faults) as sim:
        journal = plan_journal(tmp_path / "j", plan)

        def run() -> RunOutcome:
            return Runner(
                journal,
                plan,
                loaded.spec,
                fleet,
                sim.backend,
                sim.clock,
                RecordingReporter(),
                checks_for=sim.checks_for,
                config=RunConfig(control_interval=control_interval(SPEED)),
            ).run()

        assert run().state == "halted"
        failed = next(s.id for s in journal.steps() if s.state == "failed")
        journal.request("skip", failed, sim.clock.now())
        assert run().state == "completed"
        emu: Any = sim.emulator
        requests, state = emu.requests(), emu.state()
    accepted = [
        (r["vm"].rsplit("/", 1)[-1], _at(r["sim"]))
        for r in requests
        if r["method"] == "POST" and "performMaintenance" in r["path"] and r["status"] == 202
    ]
    assert sorted(vm for vm, _ in accepted) == ["db-0", "db-1", "db-2"]
    came_back = {vm["ref"].rsplit("/", 1)[-1]: _at(vm["operation"]["ends"]) for vm in state["vms"]}
    order = [vm for vm, _ in sorted(accepted, key=lambda a: a[1])]
    assert order[0] == "db-0"
    second = dict(accepted)[order[1]]
    assert second >= came_back["db-0"] + GAP
