"""A run's state read from its journal, as data (what `udroll status` shows and `-o json` prints)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from executor.run.clock import Clock, SystemClock
from executor.run.gates import spoken
from executor.run.store import JournalStore
from planner.plan import Plan

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
        return dt.datetime.fromisoformat(last[0]["at"])  # simulated time: as of the last event
    return SystemClock().now()


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


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
    return f"runner is {spoken(float((last[0]['data'] or {}).get('lag_s', 0)))} behind its plan"


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
    stopped = journal.run_state in STOPPED and not active  # will not continue by itself
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
        "as_of": now.isoformat(),
        "next_step_eta": _iso(eta),
        "steps": [
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
                "vms_done": sum(1 for v in vms if v.step == s.id and v.state in ("healthy", "skipped")),
            }
            for s in steps
        ],
        "warnings": notify_warnings(journal),
        "behind": behind(journal) if active and journal.run_state == "running" else None,
        "pending_approvals": json.loads(journal.meta("pending_approvals") or "[]") if active else [],
        "failed_vms": [
            {"vm": v.vm, "step": v.step, "message": v.message, "reschedule": v.reschedule}
            for v in vms
            if v.state == "failed"
        ],
    }
