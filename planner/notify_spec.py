"""The spec's `notify:` sinks and `maintenance_events:` (pre/post events with an answer), issue 17.

Kept out of planner/spec.py so that module only names them. The event types live here too (the
planner never imports the executor, and the spec's `events:` filters are checked against them).

    notify:
      - webhook: https://hooks.example.com/udroll   # http:// only for loopback addresses
        schema: cloudevents                         # or eventgrid
        events: ["run.*", "step.failed"]            # default: every event
        secret_env: UDROLL_WEBHOOK_SECRET           # optional HMAC-SHA256 signature header
      - teams: https://…/workflows/…
      - slack: https://hooks.slack.com/services/…
      - queue: https://ACCOUNT.queue.core.windows.net/maintenance-events
      - command: [scripts/page-oncall, "{type}", "{step}"]
    maintenance_events:
      pre: {required: true, timeout: 10m, per: step, reply_queue: https://ACCOUNT.queue.core.windows.net/replies}
      post: true
"""

from __future__ import annotations

import fnmatch
import ipaddress
import string
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from planner.values import Duration

EVENTS_VERSION = "1.0"  # the payload's version: `dataschema` / `dataVersion` of every event
EVENT_TYPES = (
    "udroll.run.started",
    "udroll.run.paused",
    "udroll.run.resumed",
    "udroll.run.halted",
    "udroll.run.aborted",
    "udroll.run.completed",
    "udroll.run.waiting",
    "udroll.step.started",
    "udroll.step.ended",
    "udroll.step.failed",
    "udroll.approval.needed",
    "udroll.vm.failed",
    "udroll.window.missed",
    "udroll.maintenance.pre",
    "udroll.maintenance.post",
)
COMMAND_FIELDS = ("type", "id", "run", "step", "tier", "vm", "vms", "message", "journal", "time")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname:
        if is_loopback(parts.hostname):
            return value
        raise ValueError(
            f"{value!r} is plain http to a host that is not this machine: use https:// "
            "(http:// is only allowed for loopback addresses such as 127.0.0.1 or localhost)"
        )
    raise ValueError(f"{value!r} is not an https:// URL")


Url = Annotated[str, AfterValidator(_url)]


def _patterns(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    for pattern in value or ():
        full = pattern if pattern.startswith("udroll.") else "udroll." + pattern
        if not fnmatch.filter(EVENT_TYPES, full):
            known = ", ".join(t.removeprefix("udroll.") for t in EVENT_TYPES)
            raise ValueError(f"event filter {pattern!r} matches no event type; known types: {known}")
    return value


Events = Annotated[
    tuple[str, ...] | None,
    AfterValidator(_patterns),
    Field(
        description='Event types to send, globs without "udroll.": ["run.*", "step.failed"]. Default: all.'
    ),
]


class _Sink(_Strict):
    events: Events = None
    retries: int = Field(default=5, ge=1, le=20, description="Delivery attempts before giving up.")

    @model_validator(mode="before")
    @classmethod
    def _schema_only_for_webhooks(cls, data: Any) -> Any:
        if isinstance(data, dict) and "schema" in data and "webhook" not in data:
            raise ValueError(
                "schema is for webhook sinks only: teams, slack and queue sinks have fixed formats"
            )
        return data

    def wants(self, event_type: str) -> bool:
        if self.events is None:
            return True
        short = event_type.removeprefix("udroll.")
        return any(fnmatch.fnmatchcase(short, p.removeprefix("udroll.")) for p in self.events)


class WebhookSink(_Sink):
    webhook: Url = Field(description="POST each event here (http:// only for loopback addresses).")
    schema_: Literal["cloudevents", "eventgrid"] = Field(default="cloudevents", alias="schema")
    secret_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable with a shared secret: adds X-Udroll-Signature: sha256=HMAC.",
    )
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TeamsSink(_Sink):
    teams: Url = Field(description="A Teams Workflows (Power Automate) webhook: gets an Adaptive Card.")


class SlackSink(_Sink):
    slack: Url = Field(description="A Slack incoming webhook: gets a Block Kit message.")


class QueueSink(_Sink):
    queue: Url = Field(description="https://ACCOUNT.queue.core.windows.net/QUEUE: Event Grid schema.")
    encoding: Literal["base64", "text"] = Field(
        default="base64", description="base64 as Event Grid delivers to queues, or plain text."
    )


def _placeholders(argv: tuple[str, ...]) -> tuple[str, ...]:
    for arg in argv:
        for _, name, _, _ in string.Formatter().parse(arg):
            if name is not None and name not in COMMAND_FIELDS:
                raise ValueError(
                    f"unknown placeholder {{{name}}} in {arg!r}; known: {', '.join(COMMAND_FIELDS)}"
                )
    return argv


def _argv(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError(f"a command is an argv list, run without a shell: write [{value!r}] or split it")
    return value


class CommandSink(_Sink):
    command: Annotated[tuple[str, ...], Field(min_length=1), AfterValidator(_placeholders)] = Field(
        description="argv, no shell; placeholders " + ", ".join(f"{{{f}}}" for f in COMMAND_FIELDS)
    )

    @model_validator(mode="before")
    @classmethod
    def _not_a_string(cls, data: Any) -> Any:
        if isinstance(data, dict) and "command" in data:
            _argv(data["command"])
        return data


SINK_KEYS = ("webhook", "teams", "slack", "queue", "command")


def _sink_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kinds = [k for k in SINK_KEYS if k in value]
        return f"{kinds[0]} sink" if len(kinds) == 1 else None
    if isinstance(value, BaseModel):
        return next(f"{k} sink" for k in SINK_KEYS if hasattr(value, k))
    return None


Sink = Annotated[
    Annotated[WebhookSink, Tag("webhook sink")]
    | Annotated[TeamsSink, Tag("teams sink")]
    | Annotated[SlackSink, Tag("slack sink")]
    | Annotated[QueueSink, Tag("queue sink")]
    | Annotated[CommandSink, Tag("command sink")],
    Discriminator(
        _sink_kind,
        custom_error_type="sink_kind",
        custom_error_message="a sink needs exactly one of webhook, teams, slack, queue or command",
    ),
]


class Callback(_Strict):
    listen: str = Field(
        default="127.0.0.1:0", description='"host:port" of udroll\'s answer listener (loopback; 0: any port).'
    )
    url: Url | None = Field(
        default=None, description="Base URL that reaches the listener, when it is exposed via a proxy."
    )

    @model_validator(mode="after")
    def _loopback(self) -> Callback:
        host, _, port = self.listen.rpartition(":")
        if not port.isdigit() or not 0 <= int(port) < 65536 or not is_loopback(host.strip("[]")):
            raise ValueError(f'listen {self.listen!r} must be "LOOPBACK-HOST:PORT", e.g. "127.0.0.1:8765"')
        return self


class PreEvent(_Strict):
    required: bool = Field(default=False, description="Wait for an answer (go or stop) before any trigger.")
    per: Literal["step", "tier"] = Field(default="step", description="Before every step, or a tier's first.")
    timeout: Duration = Field(default=600, description="No answer in time fails the step, nothing triggered.")
    tiers: tuple[str, ...] | None = Field(default=None, description="Only these tiers; default: every tier.")
    reply_queue: Url | None = Field(default=None, description="Answers may come as messages on this queue.")
    callback: Callback = Callback()


class PostEvent(_Strict):
    tiers: tuple[str, ...] | None = Field(default=None, description="Only these tiers; default: every tier.")


def _post(value: Any) -> Any:
    return {} if value is True else None if value is False else value


class MaintenanceEvents(_Strict):
    pre: PreEvent | None = None
    post: Annotated[PostEvent | None, Field(default=None, description="true, or {tiers: [...]}")] = None

    @model_validator(mode="before")
    @classmethod
    def _post_flag(cls, data: Any) -> Any:
        if isinstance(data, dict) and "post" in data:
            return {**data, "post": _post(data["post"])}
        return data

    def covers(self, which: str, tier: str) -> bool:
        event = self.pre if which == "pre" else self.post
        return event is not None and (event.tiers is None or tier in event.tiers)


def cross_check(notify: tuple[Any, ...], events: MaintenanceEvents | None, tiers: set[str]) -> list[str]:
    """Problems across keys: tiers that do not exist, a required answer nobody can be asked for."""
    problems = []
    for which in ("pre", "post"):
        event = getattr(events, which, None)
        for name in getattr(event, "tiers", None) or ():
            if name not in tiers:
                problems.append(f"maintenance_events.{which}.tiers names {name!r}, which is no tier")
    if events and events.pre and events.pre.required:  # noqa: SIM102 (one rule per if)
        if not any(sink.wants("udroll.maintenance.pre") for sink in notify):
            problems.append(
                "maintenance_events.pre.required: no notify sink receives maintenance.pre events, "
                "so nobody could answer; add a sink (or its events filter) for maintenance.pre"
            )
    return problems
