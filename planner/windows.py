"""The operator window (DESIGN §4 Windows, §11 R7) as allowed spans of UTC time.

Hours are local to the window's time zone. When they wrap midnight, a night belongs to the day it
starts: ``days`` and ``blackout`` name that day. Spans that touch (whole allowed days, no hours) are
merged: the window does not close at midnight between two allowed days.

Daylight saving (DESIGN §11): an instant is allowed when its reading on the local wall clock lies
inside the hours of an allowed night. So
- a wall time that does not exist (spring forward) maps to the next existing instant: Berlin's
  ``22:00-02:30`` on 2026-03-29 closes at 03:00 CEST, the instant 02:00 CET became 03:00 CEST;
- a repeated hour (fall back) is allowed only where its wall reading is inside ``hours``: with
  ``22:00-02:30`` on 2026-10-25 the night closes at 02:30 CEST, reopens at 02:00 CET and closes
  again at 02:30 CET (two spans); with ``02:30-06:00`` it opens at 02:30 CEST, closes at 02:00 CET
  (03:00 CEST) and reopens at 02:30 CET.
Every span is computed from the wall clock itself, piece by piece between the zone's offset
changes, never by turning a wall time into an instant (which would guess a fold).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from zoneinfo import ZoneInfo

from planner.spec import Window
from planner.values import DAYS

UTC = dt.timezone.utc
Interval = tuple[dt.datetime, dt.datetime]
# an offset between two samples this far apart changed at most once (tzdb zones change offset at
# most a few times a year, months apart)
_SAMPLE = dt.timedelta(hours=12)
_MARGIN = dt.timedelta(days=3)  # wider than any night's wall span plus the largest UTC offset
_REACH = dt.timedelta(hours=15)  # more than any UTC offset
# where instants are held when a window reaches the ends of the calendar (any zone can still read them)
_FIRST = dt.datetime(1, 1, 2, tzinfo=UTC)
_LAST = dt.datetime(9999, 12, 30, tzinfo=UTC)


def allowed_intervals(window: Window, start: dt.datetime, end: dt.datetime) -> list[Interval]:
    """The window's allowed spans within [start, end] in UTC, sorted and disjoint.

    Hours, days, blackout dates and the time zone are applied in wall-clock time (a night may give
    two spans on a fall-back night), and the spans are clipped to ``not_before``/``not_after``; the
    cutoff is NOT applied (the scheduler subtracts it from each span's end, where the window closes).
    """
    lo = max(start, window.not_before) if window.not_before else start
    hi = min(end, window.not_after) if window.not_after else end
    lo, hi = max(lo.astimezone(UTC), _FIRST), min(hi.astimezone(UTC), _LAST)
    if hi <= lo:
        return []
    if window.hours is None and window.days is None and not window.blackout:
        return [(lo, hi)]
    zone = ZoneInfo(window.timezone)
    pieces = offset_pieces(zone, _shift(lo, -_MARGIN), _shift(hi, _MARGIN))
    starts = [p[0] for p in pieces]
    # a night that starts the local day before `lo` may still be open at `lo`
    day = lo.astimezone(zone).date() - dt.timedelta(days=1)
    last = hi.astimezone(zone).date()
    raw: list[Interval] = []
    while day <= last:
        if _day_allowed(window, day):
            wall_lo, wall_hi = _wall_span(window, day)
            # the pieces a clock could read this night on (UTC offsets lie within +-15 hours)
            i = max(bisect_right(starts, _instant(wall_lo, _REACH)) - 1, 0)
            while i < len(pieces) and pieces[i][0] <= _instant(wall_hi, -_REACH):
                p_lo, p_hi, offset = pieces[i]
                a = max(p_lo, _instant(wall_lo, offset), lo)
                b = min(p_hi, _instant(wall_hi, offset), hi)
                if a < b:
                    raw.append((a, b))
                i += 1
        day += dt.timedelta(days=1)
    return _merged(raw)


def offset_pieces(
    zone: ZoneInfo, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime, dt.timedelta]]:
    """[start, end) cut where ``zone``'s UTC offset changes: (from, to, offset) with ``to`` exclusive."""
    pieces = []
    at, offset = start, _offset(zone, start)
    probe = start
    while probe < end:
        nxt = min(_shift(probe, _SAMPLE), end)
        if _offset(zone, nxt) != offset:
            change = _first_change(zone, probe, nxt, offset)
            pieces.append((at, change, offset))
            at, offset = change, _offset(zone, change)
        probe = nxt
    pieces.append((at, end, offset))
    return pieces


def _first_change(
    zone: ZoneInfo, before: dt.datetime, after: dt.datetime, offset: dt.timedelta
) -> dt.datetime:
    """The first whole second in (before, after] whose offset is not ``offset`` (bisection)."""
    while after - before > dt.timedelta(seconds=1):
        mid = before + (after - before) // 2
        mid = mid.replace(microsecond=0)
        if mid <= before:
            mid = before + dt.timedelta(seconds=1)
        if _offset(zone, mid) == offset:
            before = mid
        else:
            after = mid
    return after


def _shift(instant: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """``instant + delta``, held at the ends of the calendar (a window may end in year 9999)."""
    try:
        return instant + delta
    except OverflowError:
        return _LAST if delta > dt.timedelta(0) else _FIRST


def _offset(zone: ZoneInfo, instant: dt.datetime) -> dt.timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _instant(wall: dt.datetime, offset: dt.timedelta) -> dt.datetime:
    """The UTC instant at which a clock running at ``offset`` reads the naive ``wall`` time."""
    return _shift(wall.replace(tzinfo=UTC), -offset)


def _day_allowed(window: Window, day: dt.date) -> bool:
    if window.days is not None and DAYS[day.weekday()] not in window.days:
        return False
    return not any(day in blackout for blackout in window.blackout)


def _wall_span(window: Window, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The allowed wall-clock span (naive) of the night, or whole day without hours, from ``day``."""
    midnight = dt.datetime(day.year, day.month, day.day)
    if window.hours is None:
        return midnight, midnight + dt.timedelta(days=1)
    hours = window.hours
    end_day = midnight + dt.timedelta(days=1) if hours.wraps else midnight
    return midnight + dt.timedelta(minutes=hours.start), end_day + dt.timedelta(minutes=hours.end)


def _merged(spans: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(spans):
        if out and out[-1][1] >= a:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


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
