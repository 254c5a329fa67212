"""Value types of the spec and fleet formats: durations, timestamps, capacities, hours, dates.

Each parser raises ``ValueError`` with a message that says what is wrong and how to write it
instead; pydantic turns those into located problems.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BeforeValidator, PlainSerializer, Strict, WithJsonSchema

_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_ISO_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$", re.IGNORECASE
)


def parse_duration(value: Any) -> int:
    """Seconds in ``90s``, ``45m``, ``1h30m``, ``2d`` or ISO 8601 ``PT1H30M``."""
    if isinstance(value, bool) or value is None:
        raise ValueError("expected a duration such as 45m, 1h30m or PT45M")
    if isinstance(value, (int, float)):
        raise ValueError(
            f"a bare number ({value}) is not a duration: add a unit, e.g. {value}m for minutes or "
            f"{value}s for seconds"
        )
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 45m, 1h30m or PT45M")
    text = value.strip()
    match = _DURATION.match(text) if text and not text.upper().startswith("P") else None
    match = match or (_ISO_DURATION.match(text) if text.upper() not in ("P", "PT") else None)
    if not text or not match or not any(match.groupdict().values()):
        raise ValueError(
            f"{value!r} is not a duration: write a number with a unit (90s, 45m, 1h30m, 2d) "
            "or ISO 8601 (PT45M)"
        )
    if any(v and len(v) > 9 for v in match.groupdict().values()):
        raise ValueError(f"{value!r} is longer than {MAX_DURATION_DAYS}d: use a shorter duration")
    parts = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
    seconds = parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    if seconds > MAX_DURATION_DAYS * 86400:
        raise ValueError(f"{value!r} is longer than {MAX_DURATION_DAYS}d: use a shorter duration")
    return seconds


MAX_DURATION_DAYS = 366  # no wait, gap or timeout is longer than a year; date arithmetic stays in range


def format_duration(seconds: int) -> str:
    """The shortest unit form that parses back: ``1h30m``, ``45m``, ``90s`` → ``1m30s``."""
    if seconds == 0:
        return "0s"
    out, rest = "", int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out


def parse_timestamp(value: Any) -> dt.datetime:
    """An ISO 8601 timestamp that names its zone (``Z`` or an offset)."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a timestamp: write ISO 8601 with a zone, e.g. "
                "2026-11-23T22:00:00Z or 2026-11-23T23:00:00+01:00"
            ) from None
    else:
        raise ValueError("expected a timestamp such as 2026-11-23T22:00:00Z")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"timestamp {value!s} has no zone: add Z for UTC or an offset such as +01:00")
    if not _FIRST_YEAR <= parsed.year <= _LAST_YEAR:
        # the planner adds windows, gaps and a horizon to these: near year 1 or 9999 that overflows
        raise ValueError(
            f"timestamp {value!s} is outside the years {_FIRST_YEAR}-{_LAST_YEAR}: check the date"
        )
    return parsed.astimezone(dt.timezone.utc)


_FIRST_YEAR, _LAST_YEAR = 1970, 9000


def format_timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Capacity:
    """How many VMs of a tier may be under maintenance at once: a count or a percentage."""

    count: int | None = None
    percent: float | None = None

    def of(self, total: int) -> int:
        """The count for a tier of ``total`` VMs: a percentage rounds down, never below 1."""
        if self.count is not None:
            return self.count
        assert self.percent is not None
        return max(1, int(total * self.percent // 100))

    def __str__(self) -> str:
        if self.count is not None:
            return str(self.count)
        return f"{self.percent:g}%"


def parse_capacity(value: Any) -> Capacity:
    if isinstance(value, Capacity):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"max_unavailable must be at least 1, got {value}")
        return Capacity(count=value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                percent = float(text[:-1])
            except ValueError:
                percent = -1.0
            if 1 <= percent <= 100:
                return Capacity(percent=percent)
            raise ValueError(f"{value!r} is not a percentage between 1% and 100%")
        if text.isdigit() and int(text) >= 1:
            return Capacity(count=int(text))
    raise ValueError(f"{value!r} is not a count or percentage: write e.g. 1, 2 or 34%")


_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")


def parse_timezone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected an IANA time zone name such as Europe/Berlin or UTC")
    if len(value) > 64 or not _ZONE_NAME.match(value):  # no IANA name is longer; an OS path limit is
        shown = value if len(value) <= 64 else value[:60] + "..."
        raise ValueError(f"{shown!r} is not an IANA time zone name: use one such as Europe/Berlin")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        import difflib

        near = difflib.get_close_matches(value, sorted(available_timezones()), n=1)
        hint = f": did you mean {near[0]}?" if near else ": use an IANA name such as Europe/Berlin"
        raise ValueError(f"unknown time zone {value!r}{hint}") from None
    return value


_HOURS = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Hours:
    """Daily allowed hours, in minutes after local midnight; ``end <= start`` wraps midnight."""

    start: int
    end: int

    @property
    def wraps(self) -> bool:
        return self.end <= self.start

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def parse_hours(value: Any) -> Hours:
    if isinstance(value, Hours):
        return value
    match = _HOURS.match(value.strip()) if isinstance(value, str) else None
    fix = 'write "HH:MM-HH:MM" in 24-hour time, e.g. "22:00-06:00" (may wrap midnight)'
    if not match:
        raise ValueError(f"{value!r} is not a range of hours: {fix}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{value!r} has an impossible time of day: {fix}")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end % 1440 == start:
        raise ValueError(f"{value!r} starts and ends at the same time: to allow all day, leave out hours")
    return Hours(start, end % 1440 if end == 1440 else end)


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_day(value: Any) -> str:
    """A weekday as its three-letter name; full names (``monday``) are accepted too."""
    text = value.strip().lower() if isinstance(value, str) else ""
    for day, full in zip(DAYS, _FULL_DAYS, strict=True):
        if text in (day, full):
            return day
    raise ValueError(f"{value!r} is not a day: use one of {', '.join(DAYS)}")


_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class DateRange:
    """Local dates, both ends included, on which no night starts (a blackout)."""

    first: dt.date
    last: dt.date

    def __contains__(self, day: dt.date) -> bool:
        return self.first <= day <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"


def parse_date_range(value: Any) -> DateRange:
    if isinstance(value, DateRange):
        return value
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return DateRange(value, value)
    fix = "write a date (2026-12-01) or an inclusive range (2026-12-24..2026-12-26)"
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date: {fix}")
    first_text, dots, last_text = value.strip().partition("..")
    if dots and not (first_text.strip() and last_text.strip()):
        raise ValueError(f"{value!r} is a range with a missing end: {fix}")
    try:
        first = dt.date.fromisoformat(first_text.strip())
        last = dt.date.fromisoformat(last_text.strip()) if last_text else first
    except ValueError:
        raise ValueError(f"{value!r} is not a date: {fix}") from None
    if last < first:
        raise ValueError(f"{value!r} ends before it starts: put the earlier date first")
    return DateRange(first, last)


_DURATION_SCHEMA = {
    "type": "string",
    "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$|^[Pp](\d+[Dd])?([Tt](\d+[Hh])?(\d+[Mm])?(\d+[Ss])?)?$",
    "description": "A duration with a unit: 90s, 45m, 1h30m, 2d, or ISO 8601 PT45M.",
    "examples": ["45m", "1h30m", "PT45M"],
}

Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(_DURATION_SCHEMA),
]
Timestamp = Annotated[
    dt.datetime,
    BeforeValidator(parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with a zone, e.g. 2026-11-23T22:00:00Z.",
        }
    ),
]
CapacityValue = Annotated[
    Capacity,
    BeforeValidator(parse_capacity),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^\d+(\.\d+)?%$"},
            ],
            "description": "VMs at once: a count (1) or a percentage of the tier (34%).",
        }
    ),
]
TimeZoneName = Annotated[
    str,
    BeforeValidator(parse_timezone),
    WithJsonSchema({"type": "string", "description": "IANA time zone, e.g. Europe/Berlin."}),
]
HoursValue = Annotated[
    Hours,
    BeforeValidator(parse_hours),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}$",
            "description": 'Allowed local hours "HH:MM-HH:MM"; may wrap midnight ("22:00-06:00").',
        }
    ),
]
Day = Annotated[
    str,
    BeforeValidator(parse_day),
    WithJsonSchema({"type": "string", "enum": list(DAYS)}),
]
DateRangeValue = Annotated[
    DateRange,
    BeforeValidator(parse_date_range),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}(\.\.\d{4}-\d{2}-\d{2})?$",
            "description": "A local date or an inclusive range: 2026-12-01 or 2026-12-24..2026-12-26.",
        }
    ),
]


def _version(value: Any) -> Any:
    if type(value) is not int:  # true and 1.0 compare equal to 1, but are not the version
        raise ValueError(f"version must be the number 1, got {value!r}: write 'version: 1'")
    return value


Int = Annotated[int, Strict()]  # a whole number, never a boolean or 1.0
Float = Annotated[float, Strict()]  # a number, never a boolean or a string
Bool = Annotated[bool, Strict()]  # true or false, never 1 or "yes"
Version = Annotated[Literal[1], BeforeValidator(_version)]
