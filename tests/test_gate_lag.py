"""A runner that falls behind its plan (issue 18 item 2): gates do not count the time it could not look,
it says it is behind (a journalled `behind` event, a `status` line), and a simulation's clock is held
while it catches up."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path

from executor_support import Harness, harness
from test_baseline_race import T0, Work, down_until, spec

from executor.cli.status import render_status
from executor.run.clock import FakeClock, ScaledClock
from executor.run.events import Event
from executor.run.gates import Check, HealthGate, Probe, Target
from executor.run.lag import BEHIND_S
from executor.run.runner import RunOutcome
from planner.load import parse_spec
from planner.spec import HealthSettings

STALL = dt.timedelta(minutes=30)
OK = [Probe("http", "u", True, "200")]


class HoldingClock(FakeClock):
    """A fake clock that says it runs ``speed`` times real time and records the holds asked of it."""

    def __init__(self, start: dt.datetime, speed: float):
        super().__init__(start)
        self.speed = speed
        self.shared = True
        self.holds: list[float] = []

    def hold(self, real_seconds: float) -> None:
        self.holds.append(real_seconds)


def stalled_run(tmp_path: Path, clock: FakeClock | None = None) -> tuple[Harness, RunOutcome, list[str]]:
    """web-1's step is in its health gate when web-2's step starts at 12 min and its baseline probe
    stalls the runner for 30 min (a hung call, a starved machine): web-1's next round runs 30 min late,
    long after its 10 min timeout would have ended."""
    h = harness(tmp_path, parse_spec(spec({"web-1": 0, "web-2": 720}), "lag.yaml"))
    if clock is not None:
        h.clock = h.backend.clock = clock
    web2 = next(vm.id for vm in h.fleet.vms if vm.name == "web-2")
    scripted = h.backend.prober
    stalled: list[bool] = []

    def prober(work: dict[str, tuple[Target, Sequence[Check]]]) -> dict[str, list[Probe]]:
        if web2 in work and h.clock.now() >= T0 + dt.timedelta(minutes=12) and not stalled:
            stalled.append(True)
            h.clock.advance(STALL.total_seconds())
        return scripted(work)

    h.backend.prober = prober  # type: ignore[method-assign]
    status: list[str] = []

    def on_event(event: Event) -> None:
        if event.kind == "behind" and not status:
            status.append(render_status(h.journal, h.clock))

    h.reporter.on_event = on_event
    return h, h.run(), status


def test_a_stalled_runner_does_not_fail_a_healthy_vm(tmp_path: Path) -> None:
    """The gate of web-1 (healthy all along) gets a round 30 min late: the lag moves its deadline, the
    gap restarts its streak, and it is healthy 2 min later; the run completes."""
    h, outcome, _ = stalled_run(tmp_path)
    assert outcome.state == "completed", (outcome, [r.message for r in h.journal.vms()])
    web1 = next(r for r in h.journal.vms() if r.vm.endswith("/web-1"))
    assert web1.state == "healthy" and web1.healthy_at > T0 + dt.timedelta(minutes=12) + STALL


def test_a_runner_behind_its_plan_says_so(tmp_path: Path) -> None:
    """A turn run 30 min late emits a journalled `behind` event naming the lag, and `status` shows
    "runner is ... behind its plan" while it is."""
    h, _, status = stalled_run(tmp_path)
    behind = h.reporter.of("behind")
    assert behind and behind[0].data["lag_s"] > STALL.total_seconds() - 60
    assert "behind its plan" in behind[0].message
    kinds = [row["kind"] for row in h.journal.transitions()]
    assert "behind" in kinds
    events = (h.directory / "events.jsonl").read_text()
    assert '"kind": "behind"' in events
    assert status and "runner is 29m45s" in status[0] and "behind its plan" in status[0]


def test_a_runner_on_time_is_never_behind(tmp_path: Path) -> None:
    """Without a stall no turn runs late: no `behind` event, no hold of the clock."""
    h = harness(tmp_path, parse_spec(spec({"web-1": 0, "web-2": 720}), "lag.yaml"))
    clock = HoldingClock(h.clock.now(), speed=1000.0)
    h.clock = h.backend.clock = clock
    assert h.run().state == "completed"
    assert h.reporter.of("behind") == [] and clock.holds == []


def test_a_simulations_clock_is_held_while_the_runner_is_behind(tmp_path: Path) -> None:
    """When the runner is late by more than the threshold, it asks a clock that can hold (a
    simulation's) to stand still for the real time the lag amounts to: lag / speed."""
    clock = HoldingClock(T0, speed=1000.0)
    _, outcome, _ = stalled_run(tmp_path, clock)
    assert outcome.state == "completed"
    assert clock.holds and max(clock.holds) > (STALL.total_seconds() - 60) / 1000.0
    assert all(hold > BEHIND_S / 1000.0 for hold in clock.holds)


def test_a_held_scaled_clock_stands_still_then_runs_on() -> None:
    """ScaledClock.hold freezes simulated time (never moving it back) and it runs on afterwards."""
    clock = ScaledClock(T0, speed=1000.0)
    before = clock.now()
    clock.hold(60.0)
    frozen = clock.now()
    time.sleep(0.01)
    assert frozen >= before and clock.now() == frozen and clock.held > 0
    short = ScaledClock(T0, speed=1000.0)
    short.hold(0.001)
    held = short.now()
    time.sleep(0.02)
    assert short.now() > held  # the hold ended: time runs on from where it stood


def test_a_round_the_runner_began_late_or_stalled_in_moves_the_deadline() -> None:
    """A round begun 20 min after the gate asked moves the deadline 20 min; one begun on time that took
    20 min (its probe timeout is 10 s) moves it 20 min less 10 s; a probe hanging within its own
    timeout moves nothing: that time is the VM's."""
    settings = HealthSettings(wait=0, timeout=600, healthy_for=120, interval=15, checks=())
    asked, twenty = T0 + dt.timedelta(seconds=15), dt.timedelta(minutes=20)
    gates = [HealthGate(settings, T0) for _ in range(3)]
    for gate in gates:
        gate.observe(T0, OK)
        assert gate.next_probe == asked
    late, stalled, hung = gates
    late.observe(asked + twenty, OK, began=asked + twenty)
    stalled.observe(asked + twenty, OK, began=asked)
    hung.observe(asked + dt.timedelta(seconds=10), OK, began=asked)
    on_time = T0 + dt.timedelta(seconds=600)
    assert late.deadline == on_time + twenty
    assert stalled.deadline == on_time + twenty - dt.timedelta(seconds=10)
    assert hung.deadline == on_time


def test_a_stalled_runner_does_not_fail_a_waiting_baseline(tmp_path: Path) -> None:
    """web-1's application is down until 38 min, so its step's baseline waits (timeout 10 min); at 5 min
    web-2's step starts and its baseline probe stalls the runner for 30 min. The stall is not the
    tier's time: web-1's baseline still waits, passes at 38 min, and the run completes."""
    h = harness(tmp_path, parse_spec(spec({"web-1": 0, "web-2": 300}), "lag.yaml"))
    stalled: list[bool] = []

    def stall(work: Work) -> None:
        if not stalled and all(vm.endswith("/web-2") for vm in work):
            stalled.append(True)
            h.clock.advance(STALL.total_seconds())

    web1 = down_until(h, "web-1", T0 + dt.timedelta(minutes=38), stall)
    outcome = h.run()
    assert stalled and outcome.state == "completed", (outcome, [s.error for s in h.journal.steps()])
    web1_row = next(r for r in h.journal.vms() if r.vm == web1)
    assert web1_row.triggered_at == T0 + dt.timedelta(minutes=38)
