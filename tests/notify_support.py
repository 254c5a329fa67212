"""Test devices for notifications: a local HTTP receiver (records every POST; can fail the first
attempts or never answer), a run over the scripted backend with the spec's notifications wired in,
and the Block Kit / Adaptive Card shape checks."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from executor_support import Harness

from executor import notify
from executor.run.context import RunConfig
from executor.run.events import Event, FanOut
from executor.run.runner import Runner, RunOutcome


@dataclass
class Receiver:
    """``url`` takes POSTs: the first ``fail_first`` get 503, all of them hang when ``hang``."""

    fail_first: int = 0
    hang: bool = False
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every POST: headers, body, status
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.hang:
                    receiver.release.wait(30)
                    return
                with receiver.arrived:
                    failing = len(receiver.attempts) < receiver.fail_first
                    status = 503 if failing else 200
                    receiver.attempts.append({"headers": dict(self.headers), "raw": body, "status": status})
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self) -> list[Any]:
        """The JSON of every accepted POST, in arrival order."""
        with self.arrived:
            return [json.loads(a["raw"]) for a in self.attempts if a["status"] == 200]

    def wait_for(self, test: Any, timeout: float = 20.0) -> Any:
        """The first accepted body for which ``test(body)`` holds, waiting for it to arrive."""
        with self.arrived:
            found = self.arrived.wait_for(
                lambda: next((b for b in self._accepted() if test(b)), None), timeout=timeout
            )
        assert found is not None, "the receiver never got the expected event"
        return found

    def _accepted(self) -> list[Any]:
        return [json.loads(a["raw"]) for a in self.attempts if a["status"] == 200]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def answer(url: str, decision: str, reason: str = "") -> int:
    """POST a go/stop answer to a pre event's callback URL; the HTTP status."""
    body = json.dumps({"decision": decision, "reason": reason}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def answer_each_pre(receiver: Receiver, decision: str, reason: str = "") -> Callable[[Event], None]:
    """A test hook: when the runner sends a pre event, wait until the receiver has it, then answer it."""

    def hook(event: Event) -> None:
        if event.kind == "maintenance-pre":
            body = receiver.wait_for(lambda b: b["id"] == event.data["event_id"])
            assert answer(body["data"]["reply"]["url"], decision, reason) == 200

    return hook


def notified_run(h: Harness, spec_file: str = "spec.yaml", drain: float = 20.0) -> RunOutcome:
    """Run the harness with the spec's notifications, as rollout.execute wires them (fast retries)."""
    bundle = notify.start(h.spec, h.plan, h.fleet, h.journal, h.clock, spec_file, backoff=0.01)
    assert bundle is not None
    runner = Runner(
        h.journal,
        h.plan,
        h.spec,
        h.fleet,
        h.backend,
        h.clock,
        FanOut(bundle.notifier, h.reporter),  # the test hooks see events after the sinks got them
        prober=h.backend.prober,
        config=RunConfig(control_interval=300),
        step_events=bundle.gate,
    )
    try:
        return runner.run()
    finally:
        bundle.close(drain)


def block_kit_problems(message: dict[str, Any]) -> list[str]:
    """What breaks Slack's Block Kit rules for an incoming webhook (the parts udroll uses)."""
    problems = [] if isinstance(message.get("text"), str) else ["no fallback text"]
    blocks = message.get("blocks", [])
    if not 0 < len(blocks) <= 50:
        problems.append("0 or more than 50 blocks")
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            text = block["text"]
            if text["type"] != "plain_text" or not 0 < len(text["text"]) <= 150:
                problems.append("header needs plain_text of 1-150 characters")
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append("section without text or fields")
            if "text" in block and not 0 < len(block["text"]["text"]) <= 3000:
                problems.append("section text of 1-3000 characters")
            fields = block.get("fields", [])
            if len(fields) > 10 or any(len(f["text"]) > 2000 for f in fields):
                problems.append("at most 10 fields of at most 2000 characters")
        elif kind == "context":
            if not 0 < len(block["elements"]) <= 10:
                problems.append("context with 1-10 elements")
        else:
            problems.append(f"unexpected block type {kind}")
    return problems


def adaptive_card_problems(message: dict[str, Any]) -> list[str]:
    """What breaks a Teams Workflows webhook message with an Adaptive Card (the parts udroll uses)."""
    problems = []
    if message.get("type") != "message" or len(message.get("attachments", [])) != 1:
        return ["a message with exactly one attachment"]
    attachment = message["attachments"][0]
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append("contentType is not application/vnd.microsoft.card.adaptive")
    card = attachment.get("content", {})
    if card.get("type") != "AdaptiveCard" or card.get("version") not in ("1.2", "1.3", "1.4", "1.5"):
        problems.append("content is not an AdaptiveCard of version 1.2-1.5")
    for element in card.get("body", []):
        if element["type"] == "TextBlock" and not element.get("text"):
            problems.append("empty TextBlock")
        elif element["type"] == "FactSet" and not all({"title", "value"} <= set(f) for f in element["facts"]):
            problems.append("a fact without title or value")
        elif element["type"] not in ("TextBlock", "FactSet"):
            problems.append(f"unexpected element {element['type']}")
    return problems
