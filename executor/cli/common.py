"""What the command modules share: dependencies from the click context, the --journal option, prompts.

Dependencies come from the click context object so tests inject fakes
(``CliRunner().invoke(cli, [...], obj={...})``):

    clock     a Clock (default: real time, or the emulator's simulated time)
    backend   a ComputeBackend (default: connect() from the Azure options)
    tty       whether prompts can be asked (default: stdin is a terminal)
    live      whether to draw the rich live view (default: stdout is a terminal)
    prober    health probe function handed to the Runner (tests)
    confirm   a function (question) -> bool answering prompts (default: click.confirm)
"""

from __future__ import annotations

import sys
from typing import Any

import click

from executor.run.clock import Clock, SystemClock
from planner.errors import InputError

CONFIRM = click.Choice(["step", "tier", "never"])

SIMULATION_ENDED = (
    "a --simulate run cannot be resumed (its in-process emulator ended with it): run the simulation "
    "again, or rehearse resuming with `udroll emulator serve --ready-file F` and `udroll run --emulator F`"
)

journal_option = click.option(
    "--journal",
    "journal_dir",
    required=True,
    metavar="DIR|URL",
    envvar="UDROLL_JOURNAL",
    help="The run's journal: a directory, or an Azure Storage URL "
    "(https://ACCOUNT.blob.core.windows.net/CONTAINER/RUN); default: $UDROLL_JOURNAL.",
)

until_idle_option = click.option(
    "--until-idle",
    is_flag=True,
    help="Do what the windows allow now; when the next step cannot start before the open window "
    "closes, exit 0 'waiting until TIME' (for scheduled pipelines: resume again the next night).",
)


def dep(obj: Any, key: str) -> Any:
    """A dependency injected through the click context object, or None."""
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def clock_of(obj: Any) -> Clock:
    return dep(obj, "clock") or SystemClock()


def is_tty(obj: Any) -> bool:
    found = dep(obj, "tty")
    return bool(found) if found is not None else sys.stdin.isatty()


def needs_prompt(confirm: str, yes: bool) -> bool:
    return not yes and confirm != "never"


def refuse_without_tty(obj: Any, confirm: str, yes: bool) -> None:
    if needs_prompt(confirm, yes) and not is_tty(obj):
        raise InputError(
            f"this run asks for confirmation (--confirm {confirm}) but standard input is not a terminal: "
            "pass --yes to confirm everything up front, or --confirm never"
        )
