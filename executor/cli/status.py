"""`udroll status` and `udroll report`: a run read from its journal (DESIGN §8)."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from executor import rollout
from executor.cli.common import SIMULATION_ENDED, dep, emit_text, journal_option
from executor.cli.display import display_zone, text_width, tz_option, wide_option
from executor.report.text import RENDERERS as REPORTS
from executor.report.text import build_report
from executor.run.clock import Clock
from executor.run.store import WAITING, JournalStore
from planner.render.fit import Column, fitted_text
from planner.timefmt import countdown, human_time, parse_instant, parse_instant_or_none, plural


@click.command()
@journal_option
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@tz_option
@wide_option
@click.option(
    "-w", "--watch", is_flag=True, help="Redraw the status until the run stops, or Ctrl-C (exit 0)."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.5),
    default=2.0,
    show_default=True,
    help="With --watch: seconds between two looks at the journal.",
)
@click.pass_obj
def status(
    obj: Any, journal_dir: str, fmt: str, tz: str | None, wide: bool, watch: bool, interval: float
) -> None:
    """Show a run: per tier and step what is done, running, or waiting for what and until when.

    --watch redraws it every --interval seconds (a new copy only on change when not a terminal)
    until the run stops with no runner left, or Ctrl-C; either way the exit code is 0.

    \b
    Examples:
      udroll status --journal .udroll/shop-prod
      udroll status --watch                    # the latest run under .udroll/
    """
    display_zone(tz)  # a bad --tz before the journal is opened
    journal = rollout.open_store(journal_dir)
    try:
        width = None if wide else text_width(sys.stdout.isatty())
        if watch:
            _watch(obj, journal, lambda data: render_data(data, fmt, tz, width), interval)
        else:
            click.echo(render_status(journal, dep(obj, "clock"), fmt, tz, width), nl=False)
    finally:
        journal.close()


def _watch(obj: Any, journal: JournalStore, render: Callable[[dict[str, Any]], str], interval: float) -> None:
    """Redraw until the run stops (as `kubectl argo rollouts get rollout --watch`); Ctrl-C ends quietly."""
    sleep = dep(obj, "sleep") or time.sleep
    redraw = dep(obj, "live")  # redraw in place on a terminal
    redraw = sys.stdout.isatty() if redraw is None else redraw
    shown: dict[str, Any] | None = None
    try:
        while True:
            journal.refresh()
            data = rollout.status(journal, dep(obj, "clock"))
            if redraw:
                click.clear()
                click.echo(render(data) + f"\nwatching every {interval:g}s; Ctrl-C to stop", nl=False)
            elif _moved(shown, data):  # in a pipe or a log: a new copy only when something changed
                click.echo(("\n" if shown else "") + render(data), nl=False)
            shown = data
            if data["stopped"]:
                if redraw:
                    click.echo(f"\nThe run is {data['state']}: stopped watching.")
                return
            sleep(interval)
    except KeyboardInterrupt:
        click.echo("")


def _moved(before: dict[str, Any] | None, now: dict[str, Any]) -> bool:
    """Whether the run changed (not only the time it is seen at)."""
    return before is None or {**before, "as_of": None} != {**now, "as_of": None}


_at = parse_instant_or_none


def render_status(
    journal: JournalStore,
    clock: Clock | None,
    fmt: str = "text",
    tz: str | None = None,
    width: int | None = 160,
) -> str:
    """The run as text (times in ``tz``, else the spec's window zone; steps fitted to ``width``, None
    for every column) or as JSON (times RFC 3339, UTC)."""
    return render_data(rollout.status(journal, clock), fmt, tz, width)


def render_data(
    data: dict[str, Any], fmt: str = "text", tz: str | None = None, width: int | None = 160
) -> str:
    """A run's status (executor.rollout.status) as text or JSON."""
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    zone = display_zone(tz, data.get("timezone"))
    now = parse_instant(data["as_of"])
    out = [
        f"{data['name']}: {data['state']}"
        + (" (runner active)" if data["runner_active"] else "")
        + (", but no runner is active" if data["stopped"] and data["state"] == "running" else "")
        + (f" — {data['message']}" if data["message"] else ""),
        f"as of {human_time(now, zone, seconds=True)}"
        + (" (simulated time)" if data["simulated_time"] else ""),
    ]
    if data.get("behind"):
        out.append(data["behind"])
    tiers: dict[str, list[str]] = {}
    for s in data["steps"]:
        tiers.setdefault(s["tier"], []).append(s["state"])
    for tier, states in tiers.items():
        counts = {
            st: states.count(st) for st in ("done", "running", "waiting", "failed", "skipped") if st in states
        }
        out.append(f"  tier {tier}: " + ", ".join(f"{n} {st}" for st, n in counts.items()))
    out.append("")
    rows = [_step_cells(s, now, data["stopped"], zone) for s in data["steps"]]
    out.append(fitted_text(STEP_COLUMNS, rows, width).rstrip("\n"))
    out += _footer(data, now, zone)
    return "\n".join(out) + "\n"


STEP_COLUMNS = (Column("step", rank=100), Column("state", rank=90), Column("detail", rank=80, wrap=True))


def _step_cells(s: dict[str, Any], now: dt.datetime, stopped: bool, zone: dt.tzinfo) -> list[str]:
    """A step's id, state, and what it does, did or waits for (and until when)."""
    line = ""
    started, ended, until = _at(s["started_at"]), _at(s["ended_at"]), _at(s["waiting_until"])
    if s["state"] == "running" and started:
        line += f" since {human_time(started, zone)}, {s['phase']}, {s['vms_done']}/{s['vms_total']} VMs"
    elif s["state"] == "done" and ended:
        line += f" ended {human_time(ended, zone)}"
    elif s["state"] == "waiting":
        if s["waiting_for"]:
            line += f" for {s['waiting_for']}"
        if until and not stopped:
            line += f" until {human_time(until, zone)} ({countdown(until, now)})"
    elif s["state"] == "failed":
        line += f" {s['error']}"
    if s.get("vms_skipped") and s["state"] in ("running", "done"):
        line += f" ({plural(s['vms_skipped'], 'VM')} skipped, not maintained)"
    return [s["id"], s["state"], line.strip()]


def _footer(data: dict[str, Any], now: dt.datetime, zone: dt.tzinfo) -> list[str]:
    out: list[str] = []
    eta, state, where = _at(data["next_step_eta"]), data["state"], f"--journal {data['journal']}"
    if eta:
        out.append(f"\nnext step: {human_time(eta, zone)} ({countdown(eta, now)})")
    for key in data.get("pending_approvals", []):
        out.append(f"waiting for approval of {key}: udroll approve {key} {where}")
    if state == WAITING and not data["runner_active"]:
        out.append(f"waiting: no runner; the next `udroll resume {where} --until-idle` continues the run")
    elif data["stopped"] and state in ("halted", "paused", "running") and data["simulated"]:
        out.append(f"\n{state}: {SIMULATION_ENDED}")
    elif data["stopped"] and state == "running":
        out.append(f"\nno runner is active (it stopped without recording why) — `udroll resume {where}`")
    elif data["stopped"] and state == "halted":
        out.append(f"\nhalted: resume with udroll resume {where} --retry-failed, or udroll skip STEP {where}")
    elif data["stopped"] and state == "paused":
        out.append(f"\npaused: continue with udroll resume {where}")
    for v in data["failed_vms"]:
        extra = (
            " — Azure will reschedule this VM"
            if v["reschedule"] and "reschedule" not in (v["message"] or "")
            else ""
        )
        out.append(f"failed: {v['vm'].rsplit('/', 1)[-1]} in {v['step']}: {v['message']}{extra}")
    out += [f"warning: {w}" for w in data["warnings"]]
    return out


@click.command()
@journal_option
@click.option(
    "-o", "--output", "fmt", type=click.Choice(sorted(REPORTS)), default="markdown", show_default=True
)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write the report to FILE.")
@tz_option
def report(journal_dir: str, fmt: str, out_path: str | None, tz: str | None) -> None:
    """Report a run: planned vs actual per step, per-VM results, gate evidence, VMs Azure will reschedule.

    \b
    Example:
      udroll report --journal .udroll/shop-prod -o markdown --out rollout.md
    """
    display_zone(tz)  # a bad --tz before the journal is opened
    journal = rollout.open_store(journal_dir)
    try:
        data = build_report(journal)
        text = REPORTS[fmt](data, display_zone(tz, data["timezone"]))
    finally:
        journal.close()
    emit_text(text, out_path)
