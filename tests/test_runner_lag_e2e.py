"""Issue 18 items 1 and 2 end to end: the runner drives the real azure-mgmt-compute SDK against the
emulator over HTTPS in compressed time, and probes each VM's simulated health endpoint; the emulator's
request log (ARM and health requests) is the ground truth."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from executor_support import Hooked
from test_baseline_race import spec

from executor.rollout import plan_journal
from executor.run.clock import ScaledClock
from executor.run.events import Event, RecordingReporter
from executor.run.gates import Check, Probe, Target, probe_all
from executor.run.journal import Journal
from executor.run.runner import RunConfig, Runner, RunOutcome
from executor.simulation import control_interval, simulation
from planner.build import build_plan
from planner.load import parse_spec

pytestmark = pytest.mark.e2e

SPEED = 600.0  # 15 s probe intervals are 25 real ms: room for a loaded machine


@dataclass
class Sim:
    outcome: RunOutcome
    journal: Journal
    requests: list[dict[str, Any]]
    reporter: RecordingReporter
    held: float  # real seconds the shared clock stood still

    def vm(self, name: str) -> Any:
        return next(r for r in self.journal.vms() if r.vm.endswith("/" + name))

    def health_before_trigger(self) -> Counter[str]:
        """Health requests per VM (by name) answered before that VM's own maintenance was triggered
        (at the trigger's instant too: the runner's work before it takes no simulated time)."""
        triggered = {r.vm.lower(): r.triggered_at for r in self.journal.vms()}
        out: Counter[str] = Counter()
        for r in self.requests:
            if r["kind"] == "health" and r["vm"]:
                at = dt.datetime.fromisoformat(r["sim"].replace("Z", "+00:00"))
                when = triggered.get(r["vm"].lower())
                if when is None or at <= when:
                    out[r["vm"].rsplit("/", 1)[-1]] += 1
        return out


def run_sim(
    tmp_path: Path,
    text: str,
    faults: str = "",
    workers: int = 16,
    in_round: Any = None,
    on_event: Callable[[Event], object] | None = None,
) -> Sim:
    """The spec run in a simulation; ``in_round(work, clock)`` is called in each probe round,
    ``on_event(event)`` on each event."""
    loaded = parse_spec(text, "e2e.yaml")
    assert loaded.inventory is not None
    plan = build_plan(
        loaded.spec, loaded.inventory, loaded.spec.window.not_before or loaded.inventory.captured_at
    )
    faults_path = tmp_path / "faults.yaml"
    faults_path.write_text("version: 1\n" + faults)
    with simulation(loaded.inventory, plan, SPEED, faults_path) as sim:
        journal = plan_journal(tmp_path / "j", plan)
        reporter = Hooked()
        reporter.on_event = on_event

        def prober(work: dict[str, tuple[Target, Sequence[Check]]]) -> dict[str, list[Probe]]:
            if in_round is not None:
                in_round(work, sim.clock)
            return probe_all(work)

        config = RunConfig(control_interval=control_interval(SPEED), workers=workers)
        runner = Runner(
            journal,
            plan,
            loaded.spec,
            loaded.inventory,
            sim.backend,
            sim.clock,
            reporter,
            checks_for=sim.checks_for,
            config=config,
            prober=prober,
        )
        outcome = runner.run()
        requests = sim.emulator.requests()  # type: ignore[attr-defined]
        held = sim.clock.held if isinstance(sim.clock, ScaledClock) else 0.0
    return Sim(outcome, journal, requests, reporter, held)


def test_a_step_starting_while_a_baseline_waits_does_not_fail_it(tmp_path: Path) -> None:
    """web-1 flaps (down 8-16 min), so its step's baseline, from 9 min, waits; web-2's step starts at
    11 min and its 30 min maintenance takes web-2 down. web-1's baseline judges web-2 as in flight and
    passes when web-1 is back at 16 min: the run completes (it halted with "tier web was already
    unhealthy ... web-2: rebooting" when the busy VMs were a list taken at the baseline's start)."""
    text = spec({"web-1": 540, "web-2": 660}, timeout="15m")
    faults = "vms: {rg-web/web-1: {health: flapping, flap_period: 8m}, rg-web/web-2: {duration: 30m}}\n"
    result = run_sim(tmp_path, text, faults)
    assert result.outcome.state == "completed", (result.outcome, [s.error for s in result.journal.steps()])
    waited = [e.message for e in result.reporter.of("baseline") if "waiting" in e.message]
    assert waited and all("web-2" not in m for m in waited)
    web1, web2 = result.vm("web-1"), result.vm("web-2")
    assert web2.triggered_at < web1.triggered_at  # web-1's baseline passed while web-2 was down


def test_one_baseline_round_serves_the_steps_of_a_tier_starting_within_its_freshness(
    tmp_path: Path,
) -> None:
    """Three availability sets of one tier whose steps start 0, 1 and 2 simulated minutes apart (within
    the 5 min a round stands for at 600x): the health server saw one baseline probe per VM before its
    trigger, where it saw one round per step (1, 2 and 3 probes) when a round stood for one 15 s
    interval. (A starved machine may start a step half a real second late: one more round at most.)"""
    text = spec({"web-1": 0, "web-2": 60, "web-3": 120})
    result = run_sim(tmp_path, text)
    assert result.outcome.state == "completed", result.outcome
    probes = result.health_before_trigger()
    assert set(probes) == {"web-1", "web-2", "web-3"} and sum(probes.values()) <= 4, probes


def test_a_stalled_runner_takes_no_simulated_time(tmp_path: Path) -> None:
    """One runner thread, stalled for one real second (600 simulated seconds at 600x) when web-2's step
    starts at 14 min, while web-1 is in its 5 min health gate. The shared clock (the emulator's) stands
    still while the runner works: the stall takes no simulated time, the runner is not behind, and
    web-1 is healthy within its gate's 5 minutes of the stall (it was 10 min late, and only the moved
    deadline kept its gate from failing, when simulated time passed while the runner was stuck)."""
    gating, healthy, stalled = [], [], []

    def on_event(event: Event) -> None:
        web1 = (event.vm or "").endswith("/web-1")
        if event.kind == "vm-running" and web1:
            gating.append(event.at)
        elif event.kind == "vm-healthy" and web1:
            healthy.append(event.at)
        elif event.kind == "step-started" and gating and not healthy and not stalled:
            time.sleep(1.0)
            stalled.append(event.at)

    text = spec({"web-1": 0, "web-2": 840}, healthy_for="5m")
    result = run_sim(tmp_path, text, workers=1, on_event=on_event)
    assert stalled and result.outcome.state == "completed", (result.outcome, result.vm("web-1").message)
    assert gating[0] < stalled[0] < healthy[0] <= gating[0] + dt.timedelta(minutes=7)
    assert not result.reporter.of("behind") and result.held >= 1.0
    assert result.vm("web-1").state == "healthy"


def test_a_probe_round_takes_no_simulated_time(tmp_path: Path) -> None:
    """In a simulation the shared clock stands still while a round of probes runs: a round that takes
    a tenth of a real second (a minute at 600x) starts and ends at the same simulated instant."""
    spans: list[tuple[dt.datetime, dt.datetime]] = []

    def in_round(work: dict[str, Any], clock: Any) -> None:
        before = clock.now()
        time.sleep(0.1)
        spans.append((before, clock.now()))

    result = run_sim(tmp_path, spec({"web-1": 0}), in_round=in_round)
    assert result.outcome.state == "completed" and spans
    assert all(after == before for before, after in spans)
