"""A health gate counts only observed time (DESIGN §11, issue 11 item 4): a gap between two passing
probes longer than max(3 × interval, 60 s) restarts the streak, the verdict names what the gate saw,
and the timeout counts from when the runner could first observe. Time comes from the fake clock."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from executor.run.clock import FakeClock
from executor.run.gates import HealthGate, Probe
from planner.spec import HealthSettings

T0 = dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.timezone.utc)
SETTINGS = HealthSettings(wait=60, timeout=600, healthy_for=120, interval=15, checks=())
OK, BAD = [Probe("http", "u", True, "200")], [Probe("http", "u", False, "503")]


def probe_at(gate: HealthGate, clock: FakeClock, ok: bool = True) -> str:
    return gate.observe(clock.now(), OK if ok else BAD)


def test_a_fast_simulation_tolerates_the_gaps_its_real_time_makes() -> None:
    """At 20,000x a probe round of a few real milliseconds is minutes of clock time: a 171 s gap
    keeps the streak there (0.5 s of real time is 10,000 s), and restarts it at 1x."""
    for speed, restarts in ((20000.0, 0), (1.0, 1)):
        gate = HealthGate(SETTINGS, T0, speed=speed)
        gate.observe(T0 + dt.timedelta(seconds=60), OK)
        gate.observe(T0 + dt.timedelta(seconds=60 + 171), OK)
        assert gate.gap_restarts == restarts


def test_a_gap_longer_than_three_intervals_restarts_the_streak() -> None:
    """Passing probes 15 s apart, then 200 s without one: the streak starts again at the next probe,
    so the VM is healthy 120 s after that probe, not 120 s after the first."""
    clock = FakeClock(T0)
    gate = HealthGate(SETTINGS, clock.now())
    clock.advance(60)
    for _ in range(4):  # 60, 75, 90, 105 s: 45 s of streak
        assert probe_at(gate, clock) == "waiting"
        clock.advance(15)
    clock.advance(200 - 15)  # the runner looked away: next probe 200 s after the last
    assert probe_at(gate, clock) == "waiting"
    restarted = clock.now()
    while (verdict := probe_at(gate, clock)) == "waiting":
        clock.advance((gate.next_probe - clock.now()).total_seconds())
    assert verdict == "healthy" and clock.now() == restarted + dt.timedelta(seconds=120)
    assert gate.gap_restarts == 1 and "3m20s without a probe restarted the streak" in gate.seen()


def test_a_gap_of_exactly_the_tolerance_keeps_the_streak() -> None:
    """With interval 15 s the tolerance is 60 s: probes 60 s apart still make one streak."""
    clock = FakeClock(T0)
    gate = HealthGate(SETTINGS, clock.now())
    clock.advance(60)
    verdicts = []
    for _ in range(3):  # 60, 120, 180 s
        verdicts.append(probe_at(gate, clock))
        clock.advance(60)
    assert verdicts == ["waiting", "waiting", "healthy"] and gate.gap_restarts == 0


def test_the_tolerance_is_three_intervals_when_that_is_longer_than_a_minute() -> None:
    """interval 30 s: a 90 s gap keeps the streak, a 91 s gap restarts it."""
    slow = HealthSettings(wait=0, timeout=3600, healthy_for=600, interval=30, checks=())
    for gap, restarts in ((90, 0), (91, 1)):
        gate = HealthGate(slow, T0)
        gate.observe(T0, OK)
        gate.observe(T0 + dt.timedelta(seconds=gap), OK)
        assert gate.gap_restarts == restarts


def test_the_verdict_names_the_gap_when_the_timeout_ends_the_gate() -> None:
    """10 passing probes, then a 3 min 20 s hole (the runner lagged 190 s, which moves the deadline
    from 300 s to 490 s) restarts the streak, which cannot last 240 s by then: the step fails saying so."""
    clock = FakeClock(T0)
    gate = HealthGate(HealthSettings(wait=0, timeout=300, healthy_for=240, interval=10, checks=()), T0)
    verdict = ""
    for at in (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 290):
        clock.advance(at - (clock.now() - T0).total_seconds())
        verdict = probe_at(gate, clock)
    assert verdict == "waiting" and gate.deadline == T0 + dt.timedelta(seconds=490)
    while verdict == "waiting":
        clock.advance((gate.next_probe - clock.now()).total_seconds())
        verdict = probe_at(gate, clock)
    assert verdict == "failed" and clock.now() == T0 + dt.timedelta(seconds=490)
    assert gate.why_failed() == (
        "did not stay healthy for 4m within 5m: 31/31 probes passed, "
        "but 3m20s without a probe restarted the streak"
    )


def test_the_timeout_counts_from_the_first_chance_to_observe() -> None:
    """The runner's first probe comes 30 min after the wait ended (it was blocked): the gate does not
    fail at once, it still has its whole timeout from then."""
    clock = FakeClock(T0)
    gate = HealthGate(SETTINGS, clock.now())
    clock.advance(60 + 1800)
    assert probe_at(gate, clock, ok=False) == "waiting"
    first = clock.now()
    assert gate.deadline == first + dt.timedelta(seconds=600 - 60)
    verdict = "waiting"
    while verdict == "waiting":  # probing on time from then on: it fails when the timeout is up
        clock.advance((gate.next_probe - clock.now()).total_seconds())
        verdict = probe_at(gate, clock, ok=False)
    assert verdict == "failed" and clock.now() == first + dt.timedelta(seconds=600 - 60)
    assert "never became healthy within 10m" in gate.why_failed()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 200), st.booleans()), min_size=1, max_size=40))
def test_healthy_only_after_healthy_for_of_observed_passing_probes(rounds: list[tuple[int, bool]]) -> None:
    """Whatever the probe times and outcomes, 'healthy' comes only when the passing probes since the
    last failure or over-long gap span at least healthy_for, each within the tolerance of the last."""
    gate = HealthGate(HealthSettings(wait=0, timeout=10**6, healthy_for=120, interval=15, checks=()), T0)
    at, streak, last = T0, None, None
    for step, ok in rounds:
        at += dt.timedelta(seconds=step)
        if not ok:
            streak = None
        elif streak is None or last is None or (at - last).total_seconds() > 60:
            streak = at
        last = at if ok else None
        verdict = gate.observe(at, OK if ok else BAD)
        observed = (at - streak).total_seconds() >= 120 if streak else False
        assert (verdict == "healthy") == observed
        if verdict == "healthy":
            break
