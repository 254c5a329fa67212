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

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from executor.run.clock import Clock, SystemClock
from planner.errors import InputError

CONFIRM = click.Choice(["step", "tier", "never"])

SIMULATION_ENDED = (
    "a --simulate run cannot be resumed (its in-process emulator ended with it): run the simulation "
    "again, or rehearse resuming with `udroll emulator serve --ready-file F` and `udroll run --emulator F`"
)


def journal_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--journal DIR|URL`` and ``--spec NAME``: without --journal (or $UDROLL_JOURNAL) the command
    operates on the latest run under .udroll/ (of --spec's spec when runs of several specs are there),
    and says which one on standard error."""

    @functools.wraps(command)
    def resolved(*args: Any, journal_dir: str | None, spec_name: str | None, **kwargs: Any) -> Any:
        if journal_dir is None:
            from executor.run.catalog import default_journal

            entry = default_journal(_spec_name(spec_name))
            click.echo(f"Journal: {entry.journal} (latest run of {entry.spec}, {entry.state})", err=True)
            journal_dir = entry.journal
        return command(*args, journal_dir=journal_dir, **kwargs)

    resolved = click.option(
        "--spec",
        "spec_name",
        metavar="NAME|FILE",
        help="Without --journal: the latest run of this spec (its name, or its file) under .udroll/.",
    )(resolved)
    return click.option(
        "--journal",
        "journal_dir",
        metavar="DIR|URL",
        envvar="UDROLL_JOURNAL",
        help="The run's journal: a directory, or an Azure Storage URL "
        "(https://ACCOUNT.blob.core.windows.net/CONTAINER/RUN); default: $UDROLL_JOURNAL, else the "
        "latest run under .udroll/ (see `udroll runs`).",
    )(resolved)


def _spec_name(given: str | None) -> str | None:
    """A spec's name from --spec: a spec file's `name:`, or the name itself."""
    if given and Path(given).is_file():
        from planner.load import load_spec

        return load_spec(given).spec.name
    return given


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


def emit_text(text: str, out: str | None) -> None:
    """``text`` into the file ``--out`` names (a located error when it cannot be written), else stdout."""
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from None
