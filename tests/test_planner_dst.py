"""Windows on daylight-saving nights (DESIGN §11, R7 in wall-clock time): every instant of a step and
its end plus the cutoff read inside ``hours`` on the local wall clock; a wall time that does not exist
maps to the next existing instant; a repeated hour is allowed only where its wall reading is inside.
Checked against tests/plan_rules.py's own reading of the wall clock, in every zone of DST_ZONES,
around every one of their clock changes in 2026-2028."""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_rules import allowed_at, violations, wall_ranges, wall_readings
from strategies import DST_ZONES, PlanningCase, plan_inputs, windows

from planner.build import build_plan
from planner.fleet import VM, Fleet
from planner.spec import Spec, Window
from planner.windows import allowed_intervals

UTC = dt.timezone.utc


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def spans(zone: str, hours: str, start: str, end: str) -> list[tuple[str, str]]:
    w = Window.model_validate({"timezone": zone, "hours": hours})
    return [(f"{a:%m-%dT%H:%M}", f"{b:%m-%dT%H:%M}") for a, b in allowed_intervals(w, t(start), t(end))]


@cache
def transitions(zone: str) -> tuple[dt.datetime, ...]:
    """The instants ``zone`` changed its UTC offset in 2026-2028 (scanned minute by minute around
    each hourly change, independently of planner.windows)."""
    tz = ZoneInfo(zone)
    out = []
    at = dt.datetime(2026, 1, 1, tzinfo=UTC)
    while at.year < 2029:
        nxt = at + dt.timedelta(hours=1)
        if at.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            minute = at
            while minute.astimezone(tz).utcoffset() == at.astimezone(tz).utcoffset():
                minute += dt.timedelta(minutes=1)
            out.append(minute)
        at = nxt
    return tuple(out)


ALL_CHANGES = [(zone, change) for zone in DST_ZONES for change in transitions(zone)]


def test_every_zone_changes_its_clocks_twice_a_year() -> None:
    """The scan finds six clock changes in 2026-2028 in every DST zone (the property below walks them)."""
    assert {zone: len(transitions(zone)) for zone in DST_ZONES} == dict.fromkeys(DST_ZONES, 6)


def test_spring_forward_closes_the_night_where_the_clock_jumps() -> None:
    """Berlin 22:00-02:30 on 2026-03-29: 02:30 does not exist, the night closes at 03:00 CEST (01:00Z)."""
    assert spans("Europe/Berlin", "22:00-02:30", "2026-03-28T12:00Z", "2026-03-29T12:00Z") == [
        ("03-28T21:00", "03-29T01:00")
    ]


def test_spring_forward_opens_a_night_whose_start_does_not_exist_at_the_jump() -> None:
    """Berlin 02:30-06:00 on 2026-03-29 opens at 03:00 CEST, the next instant that exists."""
    assert spans("Europe/Berlin", "02:30-06:00", "2026-03-28T12:00Z", "2026-03-29T12:00Z") == [
        ("03-29T01:00", "03-29T04:00")
    ]


def test_fall_back_allows_the_repeated_hour_only_where_the_wall_reads_inside() -> None:
    """Berlin 22:00-02:30 on 2026-10-25: open to 02:30 CEST, shut 02:30-03:00 CEST, open again
    02:00-02:30 CET; 02:30-06:00 is the mirror image."""
    assert spans("Europe/Berlin", "22:00-02:30", "2026-10-24T12:00Z", "2026-10-25T12:00Z") == [
        ("10-24T20:00", "10-25T00:30"),
        ("10-25T01:00", "10-25T01:30"),
    ]
    assert spans("Europe/Berlin", "02:30-06:00", "2026-10-24T12:00Z", "2026-10-25T12:00Z") == [
        ("10-25T00:30", "10-25T01:00"),
        ("10-25T01:30", "10-25T05:00"),
    ]


def test_half_hour_and_two_hour_shifts() -> None:
    """Lord Howe's 30-minute fall-back repeats 01:30-02:00; Troll's two-hour spring skips 01:00-03:00."""
    # Lord Howe 2026-04-05 02:00 +11 -> 01:30 +10:30 (15:00Z): 01:30-02:00 is read twice
    assert spans("Australia/Lord_Howe", "00:00-01:45", "2026-04-04T00:00Z", "2026-04-05T06:00Z") == [
        ("04-04T13:00", "04-04T14:45"),
        ("04-04T15:00", "04-04T15:15"),
    ]
    # Troll 2026-03-29 01:00Z: +00 -> +02, wall 01:00-03:00 never happens
    assert spans("Antarctica/Troll", "00:30-02:00", "2026-03-28T12:00Z", "2026-03-29T12:00Z") == [
        ("03-29T00:30", "03-29T01:00")
    ]


def test_the_issues_berlin_step_no_longer_runs_past_the_window() -> None:
    """The issue's case: a 29-minute step (22m + health) near 01:45 CET on 2026-03-29 with 22:00-02:30
    must end by 03:00 CEST with its cutoff, on the wall clock (the old plan ran it to 03:07 CEST)."""
    spec = Spec.model_validate(
        {
            "version": 1,
            "name": "t",
            "window": {"timezone": "Europe/Berlin", "hours": "22:00-02:30", "cutoff": "15m"},
            "tiers": [{"name": "a", "select": {"resource_group": "rg"}, "expected_duration": "22m"}],
        }
    )
    vm = VM.model_validate(
        {
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/a",
            "name": "a",
            "resource_group": "rg",
            "maintenance": {
                "customer_initiated_allowed": True,
                "self_service_window": ["2026-03-01T00:00:00Z", "2026-04-30T00:00:00Z"],
            },
        }
    )
    fleet = Fleet(captured_at=t("2026-03-28T00:00Z"), vms=(vm,))
    plan = build_plan(spec, fleet, t("2026-03-29T00:16:00Z"))  # 01:16 CET: 29m + 15m end at 02:00 CET
    assert plan.steps[0].start == t("2026-03-29T00:16Z")
    late = build_plan(spec, fleet, t("2026-03-29T00:45:00Z"))  # 01:45 CET: 29m + 15m reach 03:29 CEST
    assert late.steps[0].start == t("2026-03-29T20:00Z")  # Sunday 22:00 CEST
    assert violations(late, spec, fleet) == []


@st.composite
def around_a_change(draw: st.DrawFn) -> tuple[Window, dt.datetime]:
    """A window with hours in a DST zone, and an instant within two days of one of its clock changes."""
    zone = draw(st.sampled_from(DST_ZONES))
    change = draw(st.sampled_from(transitions(zone)))
    keys = draw(windows(change, zones=(zone,), hours=True))
    return Window.model_validate(keys), change + dt.timedelta(
        seconds=draw(st.integers(-2 * 86400, 2 * 86400))
    )


@settings(max_examples=300, deadline=None)
@given(around_a_change())
def test_an_instant_is_allowed_exactly_when_its_wall_reading_is_inside(
    drawn: tuple[Window, dt.datetime],
) -> None:
    """Around every clock change, an instant lies in allowed_intervals exactly when the wall clock
    reads inside the hours of an allowed night (tests/plan_rules.py's own reading)."""
    w, instant = drawn
    mine = any(
        a <= instant < b
        for a, b in allowed_intervals(w, instant - dt.timedelta(days=2), instant + dt.timedelta(days=2))
    )
    theirs = allowed_at(w, instant)
    theirs = theirs and (w.not_before is None or instant >= w.not_before)
    theirs = theirs and (w.not_after is None or instant < w.not_after)
    assert mine == theirs


@settings(max_examples=200, deadline=None)
@given(around_a_change())
def test_every_span_reads_inside_one_night_from_end_to_end(drawn: tuple[Window, dt.datetime]) -> None:
    """Each allowed span, read on the wall clock from its first instant to just before its end, stays
    inside the hours of one allowed night: no span crosses a jump or a repeated hour outside hours."""
    w, instant = drawn
    for a, b in allowed_intervals(w, instant - dt.timedelta(days=1), instant + dt.timedelta(days=1)):
        readings = wall_readings(w, a, b)
        assert any(all(lo <= r <= hi for r in readings) for lo, hi in wall_ranges(w, a)), (a, b, readings)


PLAN = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def planned_across(draw: st.DrawFn, zone: str, change: dt.datetime) -> PlanningCase:
    """A planning problem starting up to two days before ``change`` whose hours open or close within
    90 minutes (wall clock) of it, so that steps meet the jump or the repeated hour."""
    problem = draw(plan_inputs(bases=(change - dt.timedelta(days=1),), zones=(zone,), hours=True))
    local = change.astimezone(ZoneInfo(zone))
    edge = (local.hour * 60 + local.minute + draw(st.integers(-6, 6)) * 15) % 1440
    length = draw(st.integers(4, 60)) * 15
    start, end = (edge, edge + length) if draw(st.booleans()) else (edge - length, edge)
    hours = f"{start % 1440 // 60:02d}:{start % 60:02d}-{end % 1440 // 60:02d}:{end % 60:02d}"
    window = Window.model_validate({**problem.spec.window.model_dump(mode="json"), "hours": hours})
    return PlanningCase(problem.spec.model_copy(update={"window": window}), problem.fleet, problem.start)


@pytest.mark.parametrize(("zone", "change"), ALL_CHANGES, ids=[f"{z}@{c:%Y-%m-%d}" for z, c in ALL_CHANGES])
def test_plans_obey_r7_on_the_wall_clock_on_every_clock_change(zone: str, change: dt.datetime) -> None:
    """On every clock change of 2026-2028 in every DST zone, plans whose hours open or close near it
    obey R1-R8, R7 read on the local wall clock (tests/plan_rules.py)."""

    @PLAN
    @given(planned_across(zone, change))
    def check(problem: PlanningCase) -> None:
        plan = build_plan(problem.spec, problem.fleet, problem.start)
        assert violations(plan, problem.spec, problem.fleet) == []

    check()
