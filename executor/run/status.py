"""A run's state read from its journal, as data (what `udroll status` shows and `-o json` prints)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from executor.run.clock import Clock, SystemClock
from executor.run.journal import StepRow, VMRow
from executor.run.store import JournalStore
from planner.errors import SpecError
from planner.plan import Plan
from planner.source import load_text
from planner.timefmt import duration, parse_instant, rfc3339, rfc3339_or_none

STOPPED = ("halted", "paused", "aborted", "completed")
_WAITS_FOR = re.compile(r"step (\S+) \((\w+)\)")
_RESUME_HINTS = ("; continue with `udroll resume`", "; fix the cause, then", "; `udroll resume")


def without_resume_hint(message: str) -> str:
    """A runner's message without its `udroll resume` hint (for runs that cannot be resumed)."""
    for hint in _RESUME_HINTS:
        message = message.split(hint)[0]
    return message


def _as_of(journal: JournalStore, clock: Clock | None, simulated: bool) -> dt.datetime:
    if clock is not None:
        return clock.now()
    last = journal.transitions()[-1:] if simulated else []
    if last:
        return parse_instant(last[0]["at"])  # simulated time: as of the last event
    return SystemClock().now()


_iso = rfc3339_or_none  # RFC 3339, Z, whole seconds: what every JSON output of udroll carries


def spec_timezone(journal: JournalStore) -> str | None:
    """The window timezone of the spec a run was made from (where its times are shown by default)."""
    try:
        data = load_text(journal.meta("spec_text") or "", "<spec>").data
    except SpecError:  # an unreadable spec only loses the default zone; status still shows the run
        return None
    window = data.get("window") if isinstance(data, dict) else None
    zone = window.get("timezone") if isinstance(window, dict) else None
    return zone if isinstance(zone, str) else None


def notify_warnings(journal: JournalStore) -> list[str]:
    """Failed notification deliveries (executor.notify journals them): warnings, never a failed run."""
    failed: dict[str, list[dict[str, Any]]] = {}
    for row in journal.transitions():
        if row["kind"] == "notify-failed":
            failed.setdefault(str(row["data"].get("sink")), []).append(row)
    return [
        f"notify: {len(rows)} event{'s' if len(rows) > 1 else ''} not delivered to {sink} "
        f"(last: {rows[-1]['data'].get('type')}: {rows[-1]['data'].get('error')})"
        for sink, rows in failed.items()
    ]


def behind(journal: JournalStore) -> str | None:
    """The runner's last word on its lag (executor.run.lag): 'runner is 12 min behind its plan', or
    None when it is on time (or never said otherwise)."""
    last = [row for row in journal.transitions() if row["kind"] in ("behind", "on-time")][-1:]
    if not last or last[0]["kind"] != "behind":
        return None
    return f"runner is {duration(float((last[0]['data'] or {}).get('lag_s', 0)))} behind its plan"


def run_status(journal: JournalStore, clock: Clock | None = None) -> dict[str, Any]:
    """Per step what is done, running, or waiting for what and until when; failed VMs; the next ETA."""
    plan = Plan.from_dict(json.loads(journal.meta("plan") or "{}"))
    steps = journal.steps()
    vms = journal.vms()
    active = journal.is_locked()
    simulated = journal.meta("simulated") == "1"
    emulated = simulated or bool(journal.meta("emulator"))
    now = _as_of(journal, clock, emulated)
    waiting = [s for s in steps if s.state == "waiting"]
    # will not continue by itself: ended or paused, or "running" with no runner (it crashed or was killed)
    stopped = journal.run_state in (*STOPPED, "running") and not active
    eta = min((s.waiting_until for s in waiting if s.waiting_until), default=None)
    if eta is None and waiting:
        eta = min(plan.step(s.id).start for s in waiting)
    if stopped:
        eta = None
    state_of = {s.id: s.state for s in steps}

    def waits_for(text: str | None) -> str | None:
        # the journal keeps the predecessor's state from when the step last waited: show today's
        return _WAITS_FOR.sub(lambda m: f"step {m[1]} ({state_of.get(m[1], m[2])})", text) if text else text

    message = journal.meta("state_message", "") or ""
    return {
        "name": plan.name,
        "state": journal.run_state,
        "runner_active": active,
        "stopped": stopped,
        "simulated": simulated,
        "simulated_time": emulated and clock is None,
        "journal": journal.location,
        "message": without_resume_hint(message) if simulated else message,
        "as_of": rfc3339(now),
        "timezone": spec_timezone(journal),
        "next_step_eta": _iso(eta),
        "steps": _step_rows(steps, vms, waits_for),
        "warnings": notify_warnings(journal),
        "behind": behind(journal) if active and journal.run_state == "running" else None,
        "pending_approvals": json.loads(journal.meta("pending_approvals") or "[]") if active else [],
        "failed_vms": [
            {"vm": v.vm, "step": v.step, "message": v.message, "reschedule": v.reschedule}
            for v in vms
            if v.state == "failed"
        ],
    }


def _step_rows(
    steps: list[StepRow], vms: list[VMRow], waits_for: Callable[[str | None], str | None]
) -> list[dict[str, Any]]:
    """Each step as status shows it, with its VMs counted by outcome (skipped is not maintained)."""
    return [
        {
            "id": s.id,
            "tier": s.tier,
            "state": s.state,
            "phase": s.phase,
            "started_at": _iso(s.started_at),
            "ended_at": _iso(s.ended_at),
            "waiting_for": waits_for(s.waiting_for),
            "waiting_until": _iso(s.waiting_until),
            "error": s.error,
            "vms_total": sum(1 for v in vms if v.step == s.id),
            "vms_done": sum(1 for v in vms if v.step == s.id and v.state == "healthy"),
            "vms_skipped": sum(1 for v in vms if v.step == s.id and v.state == "skipped"),
        }
        for s in steps
    ]
