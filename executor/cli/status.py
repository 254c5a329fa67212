"""`udroll status` and `udroll report`: a run read from its journal (DESIGN §8)."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from executor import rollout
from executor.cli.common import SIMULATION_ENDED, dep, journal_option
from executor.cli.console import countdown
from executor.report.text import RENDERERS as REPORTS
from executor.report.text import build_report
from executor.run.clock import Clock
from executor.run.store import WAITING, JournalStore
from planner.errors import InputError


@click.command()
@journal_option
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
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
def status(obj: Any, journal_dir: str, fmt: str, watch: bool, interval: float) -> None:
    """Show a run: per tier and step what is done, running, or waiting for what and until when.

    With --watch the status is redrawn every --interval seconds (in place on a terminal; a new copy
    whenever it changes otherwise) until the run is completed, halted, paused or aborted with no
    runner left, or Ctrl-C; either way the exit code is 0.

    \b
    Examples:
      udroll status --journal .udroll/shop-prod
      udroll status --watch                    # the latest run under .udroll/
    """
    journal = rollout.open_store(journal_dir)
    try:
        if watch:
            _watch(obj, journal, fmt, interval)
        else:
            click.echo(render_status(journal, dep(obj, "clock"), fmt), nl=False)
    finally:
        journal.close()


def _watch(obj: Any, journal: JournalStore, fmt: str, interval: float) -> None:
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
                click.echo(
                    render_data(data, fmt) + f"\nwatching every {interval:g}s; Ctrl-C to stop", nl=False
                )
            elif _moved(shown, data):  # in a pipe or a log: a new copy only when something changed
                click.echo(("\n" if shown else "") + render_data(data, fmt), nl=False)
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


def _at(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def render_status(journal: JournalStore, clock: Clock | None, fmt: str = "text") -> str:
    return render_data(rollout.status(journal, clock), fmt)


def render_data(data: dict[str, Any], fmt: str = "text") -> str:
    """A run's status (executor.rollout.status) as text or JSON."""
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    now = dt.datetime.fromisoformat(data["as_of"])
    out = [
        f"{data['name']}: {data['state']}"
        + (" (runner active)" if data["runner_active"] else "")
        + (f" — {data['message']}" if data["message"] else ""),
        f"as of {now:%Y-%m-%d %H:%M:%S}Z" + (" (simulated time)" if data["simulated_time"] else ""),
    ]
    tiers: dict[str, list[str]] = {}
    for s in data["steps"]:
        tiers.setdefault(s["tier"], []).append(s["state"])
    for tier, states in tiers.items():
        counts = {
            st: states.count(st) for st in ("done", "running", "waiting", "failed", "skipped") if st in states
        }
        out.append(f"  tier {tier}: " + ", ".join(f"{n} {st}" for st, n in counts.items()))
    out.append("")
    out += [_step_line(s, now, data["stopped"]) for s in data["steps"]]
    out += _footer(data, now)
    return "\n".join(out) + "\n"


def _step_line(s: dict[str, Any], now: dt.datetime, stopped: bool) -> str:
    line = f"  {s['id']:<32} {s['state']:<8}"
    started, ended, until = _at(s["started_at"]), _at(s["ended_at"]), _at(s["waiting_until"])
    if s["state"] == "running" and started:
        line += f" since {started:%H:%M:%S}, {s['phase']}, {s['vms_done']}/{s['vms_total']} VMs"
    elif s["state"] == "done" and ended:
        line += f" ended {ended:%Y-%m-%d %H:%M:%S}Z"
    elif s["state"] == "waiting":
        if s["waiting_for"]:
            line += f" for {s['waiting_for']}"
        if until and not stopped:
            line += f" until {until:%Y-%m-%d %H:%M:%S}Z ({countdown(until, now)})"
    elif s["state"] == "failed":
        line += f" {s['error']}"
    return line


def _footer(data: dict[str, Any], now: dt.datetime) -> list[str]:
    out: list[str] = []
    eta, state, where = _at(data["next_step_eta"]), data["state"], f"--journal {data['journal']}"
    if eta:
        out.append(f"\nnext step: {eta:%Y-%m-%d %H:%M:%S}Z ({countdown(eta, now)})")
    for key in data.get("pending_approvals", []):
        out.append(f"waiting for approval of {key}: udroll approve {key} {where}")
    if state == WAITING and not data["runner_active"]:
        out.append(f"waiting: no runner; the next `udroll resume {where} --until-idle` continues the run")
    elif data["stopped"] and state in ("halted", "paused") and data["simulated"]:
        out.append(f"\n{state}: {SIMULATION_ENDED}")
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
def report(journal_dir: str, fmt: str, out_path: str | None) -> None:
    """Report a run: planned vs actual per step, per-VM results, gate evidence, VMs Azure will reschedule.

    \b
    Example:
      udroll report --journal .udroll/shop-prod -o markdown --out rollout.md
    """
    journal = rollout.open_store(journal_dir)
    try:
        text = REPORTS[fmt](build_report(journal))
    finally:
        journal.close()
    if out_path is None:
        click.echo(text, nl=False)
        return
    try:
        Path(out_path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {out_path}: {exc.strerror}") from None
