"""The operator window (DESIGN §4 Windows) as allowed spans of UTC time.

Hours are local to the window's time zone. When they wrap midnight, a night belongs to the day it
starts: ``days`` and ``blackout`` name that day. Local wall times are turned into instants with
zoneinfo (``fold=0``): a nonexistent time in the spring-forward gap maps to the instant one DST shift
later (02:30 in Berlin on the last Sunday of March is 03:30 CEST), an ambiguous one in the autumn to
its first occurrence. Spans that touch (whole allowed days, no hours) are merged: the window does not
close at midnight between two allowed days.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from planner.spec import Window
from planner.values import DAYS

UTC = dt.timezone.utc
Interval = tuple[dt.datetime, dt.datetime]


def allowed_intervals(window: Window, start: dt.datetime, end: dt.datetime) -> list[Interval]:
    """The window's allowed spans within [start, end] in UTC, sorted and disjoint.

    Hours, days, blackout dates and the time zone are applied, and the spans are clipped to
    ``not_before``/``not_after``; the cutoff is NOT applied (the scheduler subtracts it from each
    span's end, where the window closes).
    """
    lo = max(start, window.not_before) if window.not_before else start
    hi = min(end, window.not_after) if window.not_after else end
    lo, hi = lo.astimezone(UTC), hi.astimezone(UTC)
    if hi <= lo:
        return []
    if window.hours is None and window.days is None and not window.blackout:
        return [(lo, hi)]
    zone = ZoneInfo(window.timezone)
    # a night that starts the local day before `lo` may still be open at `lo`
    day = lo.astimezone(zone).date() - dt.timedelta(days=1)
    last = hi.astimezone(zone).date()
    spans: list[Interval] = []
    while day <= last:
        if _day_allowed(window, day):
            a, b = _local_span(window, day, zone)
            a, b = max(a, lo), min(b, hi)
            if a < b:
                if spans and spans[-1][1] >= a:
                    spans[-1] = (spans[-1][0], max(spans[-1][1], b))
                else:
                    spans.append((a, b))
        day += dt.timedelta(days=1)
    return spans


def _day_allowed(window: Window, day: dt.date) -> bool:
    if window.days is not None and DAYS[day.weekday()] not in window.days:
        return False
    return not any(day in blackout for blackout in window.blackout)


def _local_span(window: Window, day: dt.date, zone: ZoneInfo) -> Interval:
    """The allowed span of the night (or whole day, without hours) that starts on local ``day``."""
    if window.hours is None:
        return _instant(day, 0, zone), _instant(day + dt.timedelta(days=1), 0, zone)
    hours = window.hours
    end_day = day + dt.timedelta(days=1) if hours.wraps else day
    return _instant(day, hours.start, zone), _instant(end_day, hours.end, zone)


def _instant(day: dt.date, minute: int, zone: ZoneInfo) -> dt.datetime:
    local = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=zone)
    return local.astimezone(UTC)


def to_offsets(spans: list[Interval], origin: dt.datetime) -> list[tuple[int, int]]:
    """Spans as whole seconds after ``origin`` (start rounded up, end rounded down)."""
    out = []
    for a, b in spans:
        sa = (a - origin).total_seconds()
        sb = (b - origin).total_seconds()
        ia, ib = int(-(-sa // 1)), int(sb // 1)
        if ia < ib:
            out.append((ia, ib))
    return out
