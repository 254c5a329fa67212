"""The JSON Schema of udroll's events, version 1.0 (`udroll schema --events`): the ``data`` payload and
the two envelopes it travels in. Adding an optional field keeps 1.x; anything else makes 2.0."""

from __future__ import annotations

from typing import Any

from executor.notify.payload import DATASCHEMA
from planner.notify_spec import EVENT_TYPES, EVENTS_VERSION

_STRING = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}


def _data() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["version", "run", "step", "vms", "time", "message", "details", "see"],
        "properties": {
            "version": {"const": EVENTS_VERSION},
            "run": {
                "type": "object",
                "required": ["name", "spec", "journal"],
                "properties": {
                    "name": _STRING,
                    "spec": {**_STRING, "description": "The spec file the run was made from."},
                    "journal": {**_STRING, "description": "The run's journal directory."},
                },
            },
            "step": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["id", "tier"],
                        "properties": {"id": _STRING, "tier": _STRING},
                    },
                ]
            },
            "vms": {
                "type": "array",
                "description": "The step's VMs; the one VM of vm.failed and of a VM's window.missed.",
                "items": {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {
                        "id": {**_STRING, "description": "Azure resource id."},
                        "name": {**_STRING, "description": "resource-group/name"},
                    },
                },
            },
            "time": _TIME,
            "message": _STRING,
            "details": {"type": "object", "description": "The runner's own fields for this event."},
            "see": {**_STRING, "description": "The command that shows the run: udroll status --journal DIR"},
            "reply": {
                "type": "object",
                "description": "Only on a required udroll.maintenance.pre: how to answer, and by when.",
                "required": ["required", "event", "deadline", "decisions"],
                "properties": {
                    "required": {"const": True},
                    "event": {**_STRING, "description": "Name it as `event` in a queue answer."},
                    "deadline": _TIME,
                    "decisions": {"const": ["go", "stop"]},
                    "url": {**_STRING, "description": 'POST {"decision": "go"|"stop", "reason": "…"} here.'},
                    "queue": {**_STRING, "description": 'Or put {"event", "decision", "reason"} on it.'},
                },
            },
        },
    }


def events_schema() -> dict[str, Any]:
    types = {"enum": list(EVENT_TYPES)}
    cloudevents = {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "dataschema", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": _STRING,
            "source": _STRING,
            "type": types,
            "subject": _STRING,
            "time": _TIME,
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"const": DATASCHEMA},
            "data": {"$ref": "#/$defs/data"},
        },
    }
    eventgrid = {
        "type": "object",
        "required": [
            "id",
            "topic",
            "subject",
            "eventType",
            "eventTime",
            "data",
            "dataVersion",
            "metadataVersion",
        ],
        "properties": {
            "id": _STRING,
            "topic": _STRING,
            "subject": _STRING,
            "eventType": types,
            "eventTime": _TIME,
            "data": {"$ref": "#/$defs/data"},
            "dataVersion": {"const": EVENTS_VERSION},
            "metadataVersion": {"const": "1"},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": DATASCHEMA,
        "title": f"udroll events, version {EVENTS_VERSION}",
        "description": "A CloudEvents 1.0 event (webhook default, command stdin) or an Event Grid event "
        "(webhook schema: eventgrid, an array of one; queue sinks) carrying udroll's data payload.",
        "oneOf": [{"$ref": "#/$defs/cloudevent"}, {"$ref": "#/$defs/eventgrid"}],
        "$defs": {"data": _data(), "cloudevent": cloudevents, "eventgrid": eventgrid},
    }
