"""`udroll report`: what a run did, from its journal — planned vs actual per step, per-VM result
codes, gate evidence, hook output, and the VMs Azure will reschedule.

``RENDERERS`` maps each ``-o`` format to a function ``(report dict, display zone) -> str``; add a format
by adding one entry (an HTML renderer can reuse :func:`build_report`'s data as is). Times in the data
are RFC 3339 (UTC, ``Z``); the Markdown shows them in the display zone, labelled with it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from executor.report.html import render_html
from executor.run.journal import StepRow, VMRow
from executor.run.status import spec_timezone
from executor.run.store import JournalStore
from planner.plan import Plan, Step
from planner.render.markdown import plain
from planner.timefmt import duration, human_time, parse_instant, rfc3339, rfc3339_or_none, signed_duration

_iso = rfc3339_or_none


def _delta(actual: dt.datetime | None, planned: dt.datetime) -> int | None:
    return int((actual - planned).total_seconds()) if actual else None


def build_report(journal: JournalStore) -> dict[str, Any]:
    """The report as plain data (what ``-o json`` prints)."""
    plan = Plan.from_dict(json.loads(journal.meta("plan") or "{}"))
    rows = {r.id: r for r in journal.steps()}
    vms = journal.vms()
    triggers = journal.triggers()
    gates = [_stamped(g) for g in journal.gates()]
    hooks = [_stamped(h) for h in journal.hooks()]
    steps = [
        {
            **_step_times(step, rows.get(step.id)),
            "vms": [_vm_entry(v, triggers) for v in vms if v.step == step.id],
            "gates": _gate_summary([g for g in gates if g["step"] == step.id]),
            "hooks": [h for h in hooks if h["step"] == step.id],
        }
        for step in plan.steps
    ]
    started = [r.started_at for r in rows.values() if r.started_at]
    ended = [r.ended_at for r in rows.values() if r.ended_at]
    actual = int((max(ended) - plan.start).total_seconds()) if ended else None
    return {
        "format": "udroll/report@1",
        "name": plan.name,
        "fingerprint": plan.fingerprint,
        "state": journal.run_state,
        "timezone": spec_timezone(journal),
        "message": journal.meta("state_message", "") or "",
        "planned_start": _iso(plan.start),
        "actual_start": _iso(min(started)) if started else None,
        "planned_makespan_s": plan.makespan_s,
        "actual_makespan_s": actual,
        "steps": steps,
        "reschedule": [v.vm for v in vms if v.reschedule],
        "skipped": [{"vm": s.vm, "reason": s.reason} for s in plan.skipped]
        + [{"vm": v.vm, "reason": v.message} for v in vms if v.state == "skipped"],
        "unschedulable": [{"vm": u.vm, "reason": u.reason} for u in plan.unschedulable],
    }


def _stamped(row: dict[str, Any]) -> dict[str, Any]:
    """A journal row with its time as every JSON output writes times (RFC 3339, Z, whole seconds)."""
    at = row.get("at")
    return {**row, "at": rfc3339(parse_instant(at))} if isinstance(at, str) else row


def _step_times(step: Step, row: StepRow | None) -> dict[str, Any]:
    """Planned against actual times of one step, and how it ended."""
    started, ended = (row.started_at, row.ended_at) if row else (None, None)
    return {
        "id": step.id,
        "tier": step.tier,
        "state": row.state if row else "unknown",
        "planned_start": _iso(step.start),
        "planned_end": _iso(step.end),
        "actual_start": _iso(started),
        "actual_end": _iso(ended),
        "start_delay_s": _delta(started, step.start),
        "end_delay_s": _delta(ended, step.end),
        "error": row.error if row else None,
    }


def _vm_entry(v: VMRow, triggers: list[tuple[str, str, dt.datetime]]) -> dict[str, Any]:
    return {
        "vm": v.vm,
        "name": _short_name(v.vm),
        "state": v.state,
        "result": v.result,
        "message": v.message,
        "attempts": v.attempts,
        "triggers": [_iso(at) for vm, _, at in triggers if vm == v.vm],
        "completed_at": _iso(v.completed_at),
        "healthy_at": _iso(v.healthy_at),
        "reschedule": v.reschedule,
    }


def _short_name(vm: str) -> str:
    """``db-1``, or ``vmss-app/0`` for a scale set instance (its number alone names nothing)."""
    parts = vm.split("/")
    if len(parts) >= 4 and parts[-4].lower() == "virtualmachinescalesets":
        return f"{parts[-3]}/{parts[-1]}"
    return parts[-1]


def _gate_summary(step_gates: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "probes": len(step_gates),
        "passed": sum(1 for g in step_gates if g["ok"]),
        "last_failures": [g for g in step_gates if not g["ok"]][-3:],
        "last": step_gates[-1] if step_gates else None,
    }


def _fmt_delay(seconds: int | None) -> str:
    return "–" if seconds is None else signed_duration(seconds, plus=True)


def render_markdown(report: dict[str, Any], zone: dt.tzinfo | None = None) -> str:
    """The report as Markdown, times in ``zone`` (default: UTC). Everything from the journal (names,
    messages, hook output, probe details) is escaped: a VM or a hook cannot inject markup or HTML."""
    e = plain
    actual = report["actual_makespan_s"]
    zone = zone or dt.timezone.utc

    def t(text: str | None) -> str:
        return human_time(parse_instant(text), zone) if text else "–"

    out = [
        f"# Rollout report: {e(report['name'])}",
        "",
        f"- state: **{e(report['state'])}**" + (f" — {e(report['message'])}" if report["message"] else ""),
        f"- planned start {t(report['planned_start'])}, actual start {t(report['actual_start'])}",
        f"- makespan: planned {duration(report['planned_makespan_s'])}, actual "
        + (duration(actual) if actual is not None else "–"),
        "",
        "## Steps",
        "",
        "| step | state | planned start | actual start | delay | planned end | actual end | delay |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in report["steps"]:
        out.append(
            f"| {e(s['id'])} | {e(s['state'])} | {t(s['planned_start'])} | {t(s['actual_start'])} | "
            f"{_fmt_delay(s['start_delay_s'])} | {t(s['planned_end'])} | {t(s['actual_end'])} | "
            f"{_fmt_delay(s['end_delay_s'])} |"
        )
    out += [
        "",
        "## VMs",
        "",
        "| step | VM | state | result | attempts | message |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s in report["steps"]:
        for v in s["vms"]:
            cells = (s["id"], v["name"], v["state"], v["result"] or "–", v["attempts"], v["message"] or "")
            out.append("| " + " | ".join(e(c) for c in cells) + " |")
    out += ["", "## Gate evidence", ""]
    for s in report["steps"]:
        out += _gate_lines(s, t)
    hooks = [(s["id"], h) for s in report["steps"] for h in s["hooks"]]
    if hooks:
        out += ["", "## Hooks", ""]
        out += [
            f"- {e(sid)} {e(h['which'])}: exit {e(h['rc'])} — {e((h['output'] or '').strip()[-200:])}"
            for sid, h in hooks
        ]
    out += ["", "## VMs Azure will reschedule", ""]
    out += [f"- {e(vm)}" for vm in report["reschedule"]] or ["none"]
    if report["unschedulable"]:
        out += ["", "## Not scheduled (Azure will maintain them itself)", ""]
        out += [f"- {e(u['vm'])}: {e(u['reason'])}" for u in report["unschedulable"]]
    return "\n".join(out) + "\n"


def _gate_lines(s: dict[str, Any], t: Callable[[str | None], str]) -> list[str]:
    g = s["gates"]
    if not g["probes"]:
        return []
    line = f"- {plain(s['id'])}: {g['passed']}/{g['probes']} probes passed"
    if g["last"]:
        line += f"; last: {_probe_text(g['last'])}"
    out = [line]
    out += [f"  - failed {t(f['at'])}: {_probe_text(f)}" for f in g["last_failures"]]
    if s["error"]:
        out.append(f"  - step failed: {plain(s['error'])}")
    return out


def _probe_text(gate: dict[str, Any]) -> str:
    return plain(f"{_vm_name(gate)}{gate['target']} {gate['detail']}")


def render_json(report: dict[str, Any], zone: dt.tzinfo | None = None) -> str:
    """The data as is: times RFC 3339 in UTC whatever the display zone."""
    return json.dumps(report, indent=2, default=str) + "\n"


RENDERERS: dict[str, Callable[[dict[str, Any], dt.tzinfo | None], str]] = {
    "markdown": render_markdown,
    "json": render_json,
    # planned vs actual bars, failures and gate evidence, self-contained
    "html": lambda report, zone: render_html(report),
}


def _vm_name(gate: dict[str, Any]) -> str:
    """``db-1 `` for a gate row of VM db-1 (the target alone does not say which VM it probed)."""
    return f"{str(gate['vm']).rsplit('/', 1)[-1]} " if gate.get("vm") else ""
