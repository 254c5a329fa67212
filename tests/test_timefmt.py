"""planner.timefmt: one way to write durations, times for people, times for machines and counts."""

from __future__ import annotations

import datetime as dt
import re

from hypothesis import given
from hypothesis import strategies as st

from planner.timefmt import (
    approx_duration,
    countdown,
    duration,
    human_span,
    human_time,
    parse_instant,
    plural,
    rfc3339,
    signed_duration,
)
from planner.values import MAX_DURATION_DAYS, parse_duration

UTC = dt.timezone.utc
instants = st.datetimes(
    min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(8999, 1, 1), timezones=st.just(UTC)
)


@given(st.integers(1, MAX_DURATION_DAYS * 86400))
def test_a_duration_reads_back_as_the_same_seconds(seconds: int) -> None:
    """Every duration is written d/h/m/s without spaces or zero units, and parses back to itself."""
    text = duration(seconds)
    assert re.fullmatch(r"(\d+d)?(\d+h)?(\d+m)?(\d+s)?", text) and "0" not in re.findall(r"\d+", text)
    assert parse_duration(text) == seconds


def test_the_issue_examples() -> None:
    """1d3h43m, 45m, 1h, 30s; signed for delays; countdowns to the unit that matters."""
    assert [duration(s) for s in (99780, 2700, 3600, 30, 0)] == ["1d3h43m", "45m", "1h", "30s", "0s"]
    assert (signed_duration(-300), signed_duration(300, plus=True), signed_duration(0, plus=True)) == (
        "-5m",
        "+5m",
        "+0s",
    )
    assert [approx_duration(s) for s in (270, 3930, 30 * 86400 + 7500)] == ["4m30s", "1h5m", "30d2h"]
    now = dt.datetime(2026, 11, 23, 21, tzinfo=UTC)
    assert countdown(now, now) == "now" and countdown(now + dt.timedelta(minutes=65), now) == "1h5m"


@given(instants)
def test_machine_times_are_rfc3339_z_and_read_back(at: dt.datetime) -> None:
    """RFC 3339 in UTC with Z and whole seconds; udroll's older forms (+00:00, microseconds) read too."""
    text = rfc3339(at)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    assert parse_instant(text) == at.replace(microsecond=0)
    assert parse_instant(at.isoformat()) == at
    assert parse_instant(at.replace(tzinfo=None).isoformat()) == at  # no zone: udroll wrote UTC


@given(instants, st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]))
def test_human_times_name_their_zone(at: dt.datetime, zone: str) -> None:
    """`Mon 11-23 22:00 CET`: weekday, month-day, time and the zone's abbreviation, in that zone."""
    text = human_time(at, zone)
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d-\d\d \d\d:\d\d \S+", text), text
    assert re.fullmatch(r".* \d\d:\d\d:\d\d \S+", human_time(at, zone, seconds=True))


def test_human_time_examples() -> None:
    """The same instant in Berlin in winter and summer, and in UTC; a span joins two times."""
    winter = dt.datetime(2026, 11, 23, 21, tzinfo=UTC)
    summer = dt.datetime(2026, 7, 1, 20, tzinfo=UTC)
    assert human_time(winter, "Europe/Berlin") == "Mon 11-23 22:00 CET"
    assert human_time(summer, "Europe/Berlin") == "Wed 07-01 22:00 CEST"
    assert human_time(winter, UTC) == "Mon 11-23 21:00 UTC"
    assert human_span(winter, summer, "UTC") == "Mon 11-23 21:00 UTC .. Wed 07-01 20:00 UTC"


def test_plurals() -> None:
    """1 VM, 2 VMs, 0 VMs; an irregular plural when given."""
    assert [plural(n, "VM") for n in (0, 1, 2)] == ["0 VMs", "1 VM", "2 VMs"]
    assert plural(1, "waiting step") == "1 waiting step" and plural(3, "entry", "entries") == "3 entries"
