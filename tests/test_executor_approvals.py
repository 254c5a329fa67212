"""Approvals never pause supervision (DESIGN §11): a pending question is journalled state, answered from
the runner's terminal or `udroll approve`, while running steps keep being served."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from pathlib import Path
from typing import Any

import pytest
from executor_support import fakes, harness, invoke

from executor.rollout import plan_journal
from executor.run.events import Event, RecordingReporter
from executor.run.journal import Journal
from executor.run.runner import RunConfig, Runner
from executor.simulation import control_interval, simulation
from planner.build import build_plan
from planner.load import parse_spec

WINDOW = '["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"]'
TWO_TIERS = f"""
version: 1
name: approvals
subscription: 11111111-2222-3333-4444-555555555555
defaults:
  recovery_gap: 31m
  expected_duration: 10m
  health: {{wait: 1m, timeout: 20m, healthy_for: 5m, interval: 15s}}
window: {{not_before: 2026-11-23T21:00:00Z}}
tiers:
  - {{name: a, select: {{resource_group: rg-a}}}}
  - {{name: b, select: {{resource_group: rg-b}}}}
inventory:
  - {{name: a-1, resource_group: rg-a, zone: "1",
     maintenance: {{customer_initiated_allowed: true, self_service_window: {WINDOW}}}}}
  - {{name: b-1, resource_group: rg-b, zone: "1",
     maintenance: {{customer_initiated_allowed: true, self_service_window: {WINDOW}}}}}
"""


def test_a_pending_approval_waits_as_state_and_udroll_approve_answers_it(tmp_path: Path) -> None:
    """With --confirm tier and nobody at the prompt, each tier waits with the reason shown; an approval
    written by another terminal starts it, and is kept in the journal."""
    h = harness(tmp_path)
    asked: list[Event] = []

    def answer_from_elsewhere(event: Event) -> None:
        if event.kind == "approval-needed":
            asked.append(event)
            Journal.open(h.directory).request("approve", event.data["key"], h.clock.now())

    h.reporter.on_event = answer_from_elsewhere
    outcome = h.run(RunConfig(confirm="tier", control_interval=300))
    assert outcome.state == "completed"
    assert [e.data["key"] for e in asked] == ["db", "app", "web"]
    reasons = {
        r["message"] for r in Journal.open(h.directory).transitions() if r["kind"] == "approval-needed"
    }
    assert len(reasons) == 3
    assert Journal.open(h.directory).meta("approved") == '["app", "db", "web"]'
    db_first = next(s for s in h.plan.steps if s.tier == "db")
    (trigger_at, _), *_ = h.backend.triggers(db_first.vms[0])
    assert trigger_at >= h.plan.start + dt.timedelta(seconds=300)  # at the runner's next look


def test_a_declined_prompt_pauses_the_run(tmp_path: Path) -> None:
    """Answering no at the runner's prompt pauses the run (exit 130 from the CLI), nothing triggered."""
    h = harness(tmp_path)
    outcome = h.run(RunConfig(confirm="tier", control_interval=300), confirm=lambda q: False)
    assert outcome.state == "paused" and "declined" in outcome.message
    assert h.backend.triggers() == []


def test_udroll_approve_checks_its_target_and_records_the_request(tmp_path: Path) -> None:
    """`udroll approve` names a tier or step of the run (else exit 2), or --all; the request is journalled."""
    journal = tmp_path / "j"
    code, _ = invoke(
        ["run", str(Path("plans/three-tier-shop.yaml")), "--journal", str(journal), "--yes"], fakes()
    )
    assert code == 0
    code, out = invoke(["approve", "nope", "--journal", str(journal)])
    assert code == 2 and "no tier or step 'nope'" in out
    code, out = invoke(["approve", "--journal", str(journal)])
    assert code == 2
    code, out = invoke(["approve", "app", "--journal", str(journal)])
    assert code == 0 and "Approved app" in out
    assert Journal.open(journal).pending_controls()[-1].arg == "app"


@pytest.mark.e2e
def test_a_question_left_open_for_a_whole_step_does_not_stop_supervision(tmp_path: Path) -> None:
    """Real threads and the emulator: tier b's question stays unanswered until tier a's step has ended;
    meanwhile tier a's step is triggered, probed without a gap and declared healthy (the old runner
    would block in the prompt and never end the step)."""
    loaded = parse_spec(TWO_TIERS, "approvals.yaml")
    assert loaded.inventory is not None
    fleet = loaded.inventory
    plan = build_plan(loaded.spec, fleet, loaded.spec.window.not_before or fleet.captured_at)
    a_ended = threading.Event()

    class Watch(RecordingReporter):
        def emit(self, event: Event) -> None:
            super().emit(event)
            if event.kind == "step-ended" and event.step and event.step.startswith("a/"):
                a_ended.set()

    def prompt(question: str) -> bool:
        if "tier b" in question:
            assert a_ended.wait(timeout=120), "tier a's step never ended while b's question was open"
        return True

    speed = 600.0
    with simulation(fleet, plan, speed) as sim:
        journal = plan_journal(tmp_path / "j", plan)
        runner = Runner(
            journal,
            plan,
            loaded.spec,
            fleet,
            sim.backend,
            sim.clock,
            Watch(),
            confirm=prompt,
            checks_for=sim.checks_for,
            config=RunConfig(confirm="tier", control_interval=control_interval(speed)),
        )
        outcome = runner.run()
        emu: Any = sim.emulator
        requests = emu.requests()
    assert outcome.state == "completed", outcome
    a_step = next(s for s in journal.steps() if s.tier == "a")
    b_step = next(s for s in journal.steps() if s.tier == "b")
    assert a_step.state == b_step.state == "done"
    assert b_step.started_at is not None and a_step.ended_at is not None
    assert b_step.started_at >= a_step.ended_at
    a_vm = next(v for v in fleet.vms if v.name == "a-1").id.lower()
    probes = sorted(
        dt.datetime.fromisoformat(r["sim"].replace("Z", "+00:00"))
        for r in requests
        if r["kind"] == "health" and (r.get("vm") or "").lower() == a_vm
    )
    gating = [t for t in probes if a_step.started_at <= t <= a_step.ended_at]
    assert len(gating) >= 10
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(gating)]
    longest = max(gaps[1:])  # the first gap holds the reboot and the gate's wait
    assert longest <= 60
