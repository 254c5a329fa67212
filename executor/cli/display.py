"""What the commands that print times and tables share: ``--tz``, ``--wide`` and the width to fit.

``--tz ZONE`` (an IANA name, ``UTC`` or ``local``) is the zone every human time is shown in; without
it, the spec's window timezone, else the machine's local zone (planner.timefmt writes the times).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from zoneinfo import ZoneInfo

import click

from planner.values import parse_timezone

tz_option = click.option(
    "--tz",
    "tz",
    metavar="ZONE",
    help="Show times in this zone (Europe/Berlin, UTC, local); default: the spec's window timezone, "
    "else the local zone.",
)

wide_option = click.option(
    "--wide", is_flag=True, help="Show every column, however wide (default: fit the terminal)."
)


def local_zone() -> dt.tzinfo:
    """The machine's zone: $TZ when it names one, else the system's current offset."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(parse_timezone(name))
        except ValueError:
            pass
    return dt.datetime.now().astimezone().tzinfo or dt.timezone.utc


def display_zone(tz: str | None, spec_zone: str | None = None) -> dt.tzinfo:
    """The zone to show times in: ``--tz``, else the spec's window timezone, else local."""
    if tz is not None:
        if tz.strip().lower() == "local":
            return local_zone()
        try:
            return ZoneInfo(parse_timezone(tz))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--tz") from None
    return ZoneInfo(spec_zone) if spec_zone else local_zone()


def text_width(to_terminal: bool, default: int = 160) -> int:
    """Columns to fit: $COLUMNS when set, else the terminal's width, else ``default`` (a pipe, a file)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if to_terminal and sys.stdout.isatty():
        return shutil.get_terminal_size((default, 40)).columns
    return default
