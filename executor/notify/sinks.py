"""Where notifications go: one deliverer per `notify:` entry of the spec. ``deliver`` makes one
attempt and raises :class:`DeliveryError` when it failed; retries and threads are executor.notify.delivery's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from executor.notify.cards import slack_message, teams_message
from executor.notify.payload import Notification, RunInfo, cloudevent, eventgrid
from planner.errors import InputError
from planner.notify_spec import CommandSink, QueueSink, SlackSink, TeamsSink, WebhookSink

HTTP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0
SIGNATURE_HEADER = "X-Udroll-Signature"


class DeliveryError(Exception):
    """One attempt failed; the message says why (status, error, exit code)."""


Deliver = Callable[[Notification], None]


def describe(sink: Any) -> str:
    """A sink's name in messages and the journal: its kind and where it points (no secrets)."""
    for key in ("webhook", "teams", "slack", "queue"):
        if hasattr(sink, key):
            url = str(getattr(sink, key))
            return f"{key} {url.split('?', 1)[0][:80]}"
    return f"command {sink.command[0]}"


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float = HTTP_TIMEOUT) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach {url.split('?', 1)[0]}: {reason}") from None


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode("utf-8")


def webhook(sink: WebhookSink, run: RunInfo) -> Deliver:
    secret = _secret(sink.secret_env)
    content_type = "application/cloudevents+json" if sink.schema_ == "cloudevents" else "application/json"

    def deliver(n: Notification) -> None:
        # Event Grid delivers an array of events to a webhook; CloudEvents structured mode is one object
        body = _json(cloudevent(n, run) if sink.schema_ == "cloudevents" else [eventgrid(n, run)])
        headers = {"Content-Type": content_type, "User-Agent": "udroll"}
        if secret is not None:
            digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        post_json(sink.webhook, body, headers)

    return deliver


def _secret(env: str | None) -> bytes | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if not value:
        raise InputError(
            f"notify: webhook secret_env {env} is not set in the environment: export it, "
            "or remove secret_env from the sink"
        )
    return value.encode("utf-8")


def teams(sink: TeamsSink, run: RunInfo) -> Deliver:
    def deliver(n: Notification) -> None:
        post_json(sink.teams, _json(teams_message(n)), {"Content-Type": "application/json"})

    return deliver


def slack(sink: SlackSink, run: RunInfo) -> Deliver:
    def deliver(n: Notification) -> None:
        post_json(sink.slack, _json(slack_message(n)), {"Content-Type": "application/json"})

    return deliver


def queue(sink: QueueSink, run: RunInfo) -> Deliver:
    from executor.azure.queue_sink import AzureError, StorageQueue

    try:
        client = StorageQueue(sink.queue, base64_encoded=sink.encoding == "base64")
    except ValueError as exc:  # an unusable connection string
        raise InputError(f"notify: queue {sink.queue}: {exc}") from None

    def deliver(n: Notification) -> None:
        try:
            client.send(json.dumps(eventgrid(n, run), default=str))
        except AzureError as exc:
            raise DeliveryError(f"queue {sink.queue}: {str(exc).splitlines()[0]}") from None

    return deliver


def command_fields(n: Notification) -> dict[str, str]:
    step = n.data.get("step") or {}
    vms = [vm["name"] for vm in n.data.get("vms", [])]
    return {
        "type": n.type,
        "id": n.id,
        "run": n.data["run"]["name"],
        "step": step.get("id") or "",
        "tier": step.get("tier") or "",
        "vm": vms[0] if len(vms) == 1 else "",
        "vms": ",".join(vms),
        "message": n.data["message"],
        "journal": n.data["run"]["journal"],
        "time": n.data["time"],
    }


def command(sink: CommandSink, run: RunInfo, cwd: str | None = None) -> Deliver:
    def deliver(n: Notification) -> None:
        fields = command_fields(n)
        argv = [arg.format(**fields) for arg in sink.command]
        try:
            done = subprocess.run(
                argv,
                input=_json(cloudevent(n, run)),
                capture_output=True,
                timeout=COMMAND_TIMEOUT,
                cwd=cwd,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DeliveryError(f"{argv[0]}: {exc}") from None
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip()[-200:]
            raise DeliveryError(f"{argv[0]} exited {done.returncode}" + (f": {tail}" if tail else ""))

    return deliver


def deliverer(sink: Any, run: RunInfo, cwd: str | None = None) -> Deliver:
    if isinstance(sink, WebhookSink):
        return webhook(sink, run)
    if isinstance(sink, TeamsSink):
        return teams(sink, run)
    if isinstance(sink, SlackSink):
        return slack(sink, run)
    if isinstance(sink, QueueSink):
        return queue(sink, run)
    return command(sink, run, cwd)
