"""How udroll writes times, durations and counts: the one place every output goes through.

- Durations, one style: ``1d3h43m``, ``45m``, ``1h``, ``30s`` (:func:`duration`; it parses back).
- Instants for people: ``Mon 11-23 22:00 CET`` in the display zone, always labelled with the zone's
  abbreviation (:func:`human_time`); seconds where they matter (a run's clock, a log line).
- Instants for machines (JSON, events.jsonl): RFC 3339 in UTC with ``Z`` and no fraction
  (:func:`rfc3339`); :func:`parse_instant` reads them back, and older ``+00:00``/microsecond forms too.
- Counts: ``1 VM``, ``2 VMs`` (:func:`plural`).

Pure: the display zone is passed in (the CLI resolves ``--tz``, the spec's window zone, else local).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from planner.values import format_duration, format_timestamp

Zone = dt.tzinfo | str  # a tzinfo, or an IANA name such as "Europe/Berlin"


def zone_of(zone: Zone) -> dt.tzinfo:
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def duration(seconds: float) -> str:
    """``1d3h43m``, ``45m``, ``1h``, ``30s`` (``0s`` for nothing); the form the spec accepts."""
    return format_duration(round(seconds))


def signed_duration(seconds: float, plus: bool = False) -> str:
    """A duration that may be negative (a delay, a slack): ``-5m``; ``+5m`` when ``plus``."""
    whole = round(seconds)
    sign = "-" if whole < 0 else "+" if plus else ""
    return sign + duration(abs(whole))


def approx_duration(seconds: float) -> str:
    """A duration for a countdown, to the unit that matters: ``30d2h``, ``1h5m``, ``4m30s``."""
    whole = max(0, int(seconds))
    unit = 3600 if whole >= 86400 else 60 if whole >= 3600 else 1
    return duration(whole - whole % unit)


def countdown(until: dt.datetime, now: dt.datetime) -> str:
    """Time left until ``until``: ``1h5m``, ``4m30s``, or ``now`` once it has come."""
    left = (until - now).total_seconds()
    return "now" if left <= 0 else approx_duration(left)


def human_time(at: dt.datetime, zone: Zone, seconds: bool = False) -> str:
    """``Mon 11-23 22:00 CET`` (``Mon 11-23 22:00:05 CET`` with ``seconds``) in ``zone``."""
    local = at.astimezone(zone_of(zone))
    return local.strftime("%a %m-%d %H:%M:%S %Z" if seconds else "%a %m-%d %H:%M %Z")


def human_span(start: dt.datetime, end: dt.datetime, zone: Zone) -> str:
    """``Mon 11-23 22:00 CET .. Tue 11-24 04:00 CET``."""
    return f"{human_time(start, zone)} .. {human_time(end, zone)}"


def rfc3339(at: dt.datetime) -> str:
    """``2026-11-23T21:00:00Z``: UTC, whole seconds (what JSON outputs and events.jsonl carry)."""
    return format_timestamp(at)


def rfc3339_or_none(at: dt.datetime | None) -> str | None:
    return rfc3339(at) if at is not None else None


def parse_instant(text: str) -> dt.datetime:
    """An instant written by udroll, any version: ``Z`` or an offset, with or without a fraction.

    A time without a zone is taken as UTC (udroll has only ever written UTC)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(value)
    return parsed.replace(tzinfo=dt.timezone.utc) if parsed.tzinfo is None else parsed


def parse_instant_or_none(text: str | None) -> dt.datetime | None:
    return parse_instant(text) if text else None


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 VM``, ``2 VMs``, ``0 VMs``; ``many`` for an irregular plural (``1 is``/``2 are`` style)."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
