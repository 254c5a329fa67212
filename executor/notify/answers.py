"""Answers to required pre-maintenance events: ``go`` or ``stop``, by HTTP callback or queue message.

- :class:`Answers` — the inbox: which events wait for an answer, and the answers that came in.
- :class:`CallbackListener` — a small HTTP server on a loopback address: ``POST /udroll/answer/TOKEN``
  with ``{"decision": "go" | "stop", "reason": "…"}``. 200: taken; 404: unknown token; 409: answered
  already; 410: too late (the step already failed at its timeout); 400: not an answer.
- :func:`read_queue` — answers as queue messages ``{"event": ID, "decision": …, "reason": …}``
  (plain or base64 JSON; also inside an Event Grid event's ``data``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DECISIONS = ("go", "stop")
PATH = "/udroll/answer/"


@dataclass(frozen=True)
class Answer:
    decision: str  # go | stop
    reason: str
    via: str  # "callback" | "queue"


def parse_answer(body: Any, via: str) -> tuple[str | None, Answer] | None:
    """``(event id or None, answer)`` from a decoded body, or None when it is not an answer."""
    if isinstance(body, dict) and isinstance(body.get("data"), dict) and "decision" not in body:
        body = body["data"]  # an Event Grid event whose data is the answer
    if not isinstance(body, dict):
        return None
    decision = str(body.get("decision", "")).lower()
    if decision not in DECISIONS:
        return None
    event = body.get("event")
    return (str(event) if event else None), Answer(decision, str(body.get("reason") or "")[:500], via)


class Answers:
    """Thread-safe: the listener's threads give, the step's turns take."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}  # token -> event id
        self._waiting: set[str] = set()
        self._given: dict[str, Answer] = {}
        self._expired: set[str] = set()

    def expect(self, event_id: str, token: str) -> None:
        with self._lock:
            self._tokens[token] = event_id
            self._waiting.add(event_id)

    def event_of(self, token: str) -> str | None:
        with self._lock:
            return self._tokens.get(token)

    def give(self, event_id: str, answer: Answer) -> int:
        """HTTP-like status: 200 taken, 409 answered already, 410 too late, 404 unknown."""
        with self._lock:
            if event_id in self._expired:
                return 410
            if event_id not in self._waiting:
                return 404
            if event_id in self._given:
                return 409
            self._given[event_id] = answer
            return 200

    def take(self, event_id: str) -> Answer | None:
        with self._lock:
            return self._given.get(event_id)

    def forget(self, event_id: str) -> None:
        """The wait is over (answered or timed out): a later answer gets 410."""
        with self._lock:
            self._waiting.discard(event_id)
            self._given.pop(event_id, None)
            self._expired.add(event_id)

    def knows(self, event_id: str) -> bool:
        with self._lock:
            return event_id in self._waiting or event_id in self._expired


class CallbackListener:
    """``POST {url}/udroll/answer/TOKEN`` answers a pre event; serves on a daemon thread."""

    def __init__(self, answers: Answers, host: str = "127.0.0.1", port: int = 0, url: str | None = None):
        self.answers = answers
        handler = type("Handler", (_Handler,), {"answers": answers})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        bound_host, bound_port = str(self.server.server_address[0]), self.server.server_address[1]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base = (url or f"http://{shown}:{bound_port}").rstrip("/")
        self.thread = threading.Thread(target=self.server.serve_forever, name="udroll-answers", daemon=True)
        self.thread.start()

    def url_for(self, token: str) -> str:
        return f"{self.base}{PATH}{token}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    answers: Answers

    def do_POST(self) -> None:
        if not self.path.startswith(PATH):
            return self._reply(404, "not an answer URL")
        event_id = self.answers.event_of(self.path[len(PATH) :].split("?", 1)[0])
        if event_id is None:
            return self._reply(404, "unknown answer token")
        length = min(int(self.headers.get("Content-Length") or 0), 65536)
        try:
            parsed = parse_answer(json.loads(self.rfile.read(length) or b"null"), "callback")
        except (ValueError, UnicodeDecodeError):
            parsed = None
        if parsed is None:
            return self._reply(400, 'send JSON {"decision": "go" or "stop", "reason": "..."}')
        code = self.answers.give(event_id, parsed[1])
        texts = {200: "taken", 409: "answered already", 410: "too late: the step failed at its timeout"}
        return self._reply(code, texts.get(code, "unknown event"))

    def _reply(self, code: int, text: str) -> None:
        body = json.dumps({"status": code, "message": text}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the journal records answers; stderr stays the console's


def read_queue(queue: Any, answers: Answers) -> None:
    """Take the answers for our events from a reply queue (an executor.azure StorageQueue); leave others'."""
    for message in queue.receive():
        try:
            parsed = parse_answer(json.loads(message.text), "queue")
        except ValueError:
            continue
        if parsed is None or parsed[0] is None or not answers.knows(parsed[0]):
            continue  # not ours (another run may share the queue): it comes back for them
        answers.give(parsed[0], parsed[1])
        queue.delete(message)
