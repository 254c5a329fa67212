"""Run events as notifications: the runner's :class:`~executor.run.events.Event` kinds mapped to the
``udroll.*`` types, and the two envelopes they travel in (CloudEvents 1.0 JSON, Event Grid schema).

The payload (``data``) is versioned: ``dataschema`` (CloudEvents) and ``dataVersion`` (Event Grid) say
which version; its JSON Schema is :func:`executor.notify.schema.events_schema` (`udroll schema --events`).
"""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from executor.run.events import Event
from planner.notify_spec import EVENTS_VERSION
from planner.values import format_timestamp

DATASCHEMA = "https://udroll.dev/schema/events-v1.json"

# runner event kind -> notification type (run-halted says "aborted" for an abort, see _types)
KINDS = {
    "run-started": "udroll.run.started",
    "run-paused": "udroll.run.paused",
    "run-resumed": "udroll.run.resumed",
    "run-halted": "udroll.run.halted",
    "run-finished": "udroll.run.completed",
    "step-waiting": "udroll.run.waiting",
    "step-started": "udroll.step.started",
    "step-ended": "udroll.step.ended",
    "step-failed": "udroll.step.failed",
    "vm-failed": "udroll.vm.failed",
    "approval-needed": "udroll.approval.needed",
    "maintenance-pre": "udroll.maintenance.pre",
    "maintenance-post": "udroll.maintenance.post",
}
NO_WINDOW = "no open window left"
OUTSIDE_WINDOW = "outside its self-service window"


@dataclass(frozen=True)
class RunInfo:
    """What every event names about its run."""

    name: str
    spec: str
    journal: str
    steps: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # id -> (tier, VM ids)
    names: dict[str, str] = field(default_factory=dict)  # VM id -> "rg/name"
    host: str = field(default_factory=socket.gethostname)

    @property
    def source(self) -> str:
        return f"udroll://{self.host}/runs/{self.name}"


@dataclass(frozen=True)
class Notification:
    """One occurrence of a ``udroll.*`` event, before it is put in an envelope."""

    id: str
    type: str
    time: dt.datetime
    subject: str
    data: dict[str, Any]


def _types(event: Event) -> list[str]:
    kind, message = event.kind, event.message
    found = KINDS.get(kind)
    if kind == "run-halted" and message == "aborted":
        found = "udroll.run.aborted"
    out = [found] if found else []
    if (kind == "step-failed" and message.startswith(NO_WINDOW)) or (
        kind == "vm-skipped" and OUTSIDE_WINDOW in message
    ):
        out.append("udroll.window.missed")
    return out


def translate(event: Event, run: RunInfo) -> list[Notification]:
    """The notifications one runner event makes (none for most kinds: polls, gates, retries)."""
    return [_notification(event, run, kind) for kind in _types(event)]


def _notification(event: Event, run: RunInfo, kind: str) -> Notification:
    details = dict(event.data)
    event_id = str(details.pop("event_id", "")) or str(uuid.uuid4())
    reply = details.pop("reply", None)
    tier, vm_ids = run.steps.get(event.step or "", ("", ()))
    if event.vm and kind in ("udroll.vm.failed", "udroll.window.missed"):
        vm_ids = (event.vm,)
    data: dict[str, Any] = {
        "version": EVENTS_VERSION,
        "run": {"name": run.name, "spec": run.spec, "journal": run.journal},
        "step": {"id": event.step, "tier": tier} if event.step else None,
        "vms": [{"id": vm, "name": run.names.get(vm, vm.rsplit("/", 1)[-1])} for vm in vm_ids],
        "time": format_timestamp(event.at),
        "message": event.message,
        "details": details,
        "see": f"udroll status --journal {run.journal}",
    }
    if reply is not None:
        data["reply"] = reply
    subject = f"runs/{run.name}" + (f"/steps/{event.step}" if event.step else "")
    return Notification(event_id, kind, event.at, subject, data)


def cloudevent(n: Notification, run: RunInfo) -> dict[str, Any]:
    """CloudEvents 1.0, structured JSON mode (Content-Type: application/cloudevents+json)."""
    return {
        "specversion": "1.0",
        "id": n.id,
        "source": run.source,
        "type": n.type,
        "subject": n.subject,
        "time": format_timestamp(n.time),
        "datacontenttype": "application/json",
        "dataschema": DATASCHEMA,
        "data": n.data,
    }


def eventgrid(n: Notification, run: RunInfo) -> dict[str, Any]:
    """The Event Grid event schema (what Update Manager's pre/post events use, e.g. on a queue)."""
    return {
        "id": n.id,
        "topic": run.source,
        "subject": n.subject,
        "eventType": n.type,
        "eventTime": format_timestamp(n.time),
        "data": n.data,
        "dataVersion": EVENTS_VERSION,
        "metadataVersion": "1",
    }


def sample(run: RunInfo, at: dt.datetime) -> Notification:
    """A representative event for `udroll notify test`: a step that failed, with its VMs."""
    step = next(iter(run.steps), "db-ud0")
    event = Event(
        "step-failed",
        at,
        step,
        message="this is a test from `udroll notify test`: nothing failed",
        data={"test": True},
    )
    return _notification(event, run, "udroll.step.failed")
