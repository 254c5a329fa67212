"""planner.windows.allowed_intervals: hours in the window's zone, nights that wrap midnight belong to
the day they start, blackouts, DST changes, not_before/not_after clipping; and how the scheduler
keeps the cutoff."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from plan_rules import allowed_at
from strategies import BASES, windows

from planner.build import build_plan
from planner.fleet import VM, Fleet
from planner.spec import Spec, Window
from planner.windows import allowed_intervals

UTC = dt.timezone.utc


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def window(**keys: Any) -> Window:
    return Window.model_validate(keys)


def spans(w: Window, start: str, end: str) -> list[tuple[str, str]]:
    return [
        (a.strftime("%Y-%m-%dT%H:%MZ"), b.strftime("%Y-%m-%dT%H:%MZ"))
        for a, b in allowed_intervals(w, t(start), t(end))
    ]


def test_a_friday_night_runs_into_saturday_morning() -> None:
    """`days: [fri]` with 22:00-06:00 allows Friday 22:00 to Saturday 06:00, nothing else."""
    w = window(hours="22:00-06:00", days=["fri"])
    assert spans(w, "2026-11-23T00:00Z", "2026-12-01T00:00Z") == [("2026-11-27T22:00Z", "2026-11-28T06:00Z")]


def test_a_blackout_names_the_day_the_night_starts() -> None:
    """Blacking out Tuesday removes the night from Tuesday 22:00, not the early hours of Tuesday."""
    w = window(hours="22:00-06:00", blackout=["2026-11-24"])
    assert spans(w, "2026-11-23T12:00Z", "2026-11-26T00:00Z") == [
        ("2026-11-23T22:00Z", "2026-11-24T06:00Z"),
        ("2026-11-25T22:00Z", "2026-11-26T00:00Z"),
    ]


def test_nights_follow_the_time_zone_across_dst_changes() -> None:
    """Berlin's 22:00-06:00 lasts 7 hours on the spring-forward night and 9 on the fall-back night."""
    w = window(hours="22:00-06:00", timezone="Europe/Berlin")
    spring = allowed_intervals(w, t("2026-03-28T12:00Z"), t("2026-03-29T12:00Z"))
    assert spring == [(t("2026-03-28T21:00Z"), t("2026-03-29T04:00Z"))]
    autumn = allowed_intervals(w, t("2026-10-24T12:00Z"), t("2026-10-25T12:00Z"))
    assert autumn == [(t("2026-10-24T20:00Z"), t("2026-10-25T05:00Z"))]


def test_a_night_already_open_at_the_start_is_clipped_not_lost() -> None:
    """Starting at 02:00 inside Monday night keeps 02:00-06:00 of it."""
    w = window(hours="22:00-06:00", days=["mon"])
    assert spans(w, "2026-11-24T02:00Z", "2026-11-24T12:00Z") == [("2026-11-24T02:00Z", "2026-11-24T06:00Z")]


def test_whole_days_merge_and_not_before_and_not_after_clip() -> None:
    """Without hours, allowed days touch and merge; not_before/not_after cut the ends."""
    w = window(days=["mon", "tue"], not_before="2026-11-23T08:00:00Z", not_after="2026-11-24T20:00:00Z")
    assert spans(w, "2026-11-22T00:00Z", "2026-12-01T00:00Z") == [("2026-11-23T08:00Z", "2026-11-24T20:00Z")]


def test_no_limits_is_one_span() -> None:
    """A window with no hours, days or blackout allows all the time between start and end."""
    assert spans(window(), "2026-11-23T00:00Z", "2026-11-24T00:00Z") == [
        ("2026-11-23T00:00Z", "2026-11-24T00:00Z")
    ]


def test_a_step_ends_at_least_the_cutoff_before_the_night_closes() -> None:
    """A 22-minute step in a night closing 06:00 with a 30m cutoff starts no later than 05:08."""
    spec = Spec.model_validate(
        {
            "version": 1,
            "name": "t",
            "window": {"hours": "22:00-06:00", "cutoff": "30m"},
            "tiers": [{"name": "a", "select": {"resource_group": "rg"}}],
        }
    )
    vm = VM.model_validate(
        {
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/a",
            "name": "a",
            "resource_group": "rg",
            "maintenance": {
                "customer_initiated_allowed": True,
                "self_service_window": ["2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"],
            },
        }
    )
    fleet = Fleet(captured_at=t("2026-11-23T00:00Z"), vms=(vm,))
    on_time = build_plan(spec, fleet, t("2026-11-24T05:08:00Z"))
    assert on_time.steps[0].start == t("2026-11-24T05:08Z")
    late = build_plan(spec, fleet, t("2026-11-24T05:09:00Z"))
    assert late.steps[0].start == t("2026-11-24T22:00Z")


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(BASES).flatmap(lambda base: st.tuples(st.just(base), windows(base))),
    st.integers(0, 6 * 86400),
)
def test_allowed_intervals_agree_with_an_independent_reading_of_the_window(drawn, offset: int) -> None:
    """Any instant is inside allowed_intervals exactly when tests/plan_rules.py's own reading allows it."""
    base, keys = drawn
    w = Window.model_validate(keys)
    instant = base + dt.timedelta(seconds=offset)
    mine = any(
        a <= instant < b
        for a, b in allowed_intervals(w, base - dt.timedelta(days=1), base + dt.timedelta(days=8))
    )
    theirs = allowed_at(w, instant)
    if w.hours is None and w.days is None and not w.blackout:
        theirs = True
    theirs = theirs and (w.not_before is None or instant >= w.not_before)
    theirs = theirs and (w.not_after is None or instant < w.not_after)
    assert mine == theirs
