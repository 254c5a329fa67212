"""`udroll status` and `udroll report`: a run read from its journal (DESIGN §8)."""

from __future__ import annotations

import datetime as dt
import json
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
@click.pass_obj
def status(obj: Any, journal_dir: str, fmt: str) -> None:
    """Show a run: per tier and step what is done, running, or waiting for what and until when.

    \b
    Example:
      udroll status --journal .udroll/shop-prod
    """
    journal = rollout.open_store(journal_dir)
    try:
        click.echo(render_status(journal, dep(obj, "clock"), fmt), nl=False)
    finally:
        journal.close()


def _at(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def render_status(journal: JournalStore, clock: Clock | None, fmt: str = "text") -> str:
    data = rollout.status(journal, clock)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    now = dt.datetime.fromisoformat(data["as_of"])
    out = [
        f"{data['name']}: {data['state']}"
        + (" (runner active)" if data["runner_active"] else "")
        + (f" — {data['message']}" if data["message"] else ""),
        f"as of {now:%Y-%m-%d %H:%M:%S}Z" + (" (simulated time)" if data["simulated_time"] else ""),
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
