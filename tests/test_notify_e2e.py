"""Notifications end to end (issue 17): fake-clock rollouts over the scripted backend, with a webhook
sink (a local HTTP receiver), a queue sink (Azurite, the real azure-storage-queue SDK) and required
pre-maintenance events answered by HTTP callback or reply queue."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from executor_support import E2E_SPEC, harness, invoke
from notify_support import Receiver, answer, answer_each_pre, notified_run

from executor import rollout
from executor.azure.queue_sink import StorageQueue
from executor.notify.payload import RunInfo, translate
from executor.notify.schema import events_schema
from executor.run.events import Event
from executor.run.journal import Journal
from executor.run.status import run_status
from planner.load import parse_spec

SECRET = "s3cret-for-tests"
ANY_RUN = RunInfo("e2e", "spec.yaml", "journal")


def _spec(extra: str) -> Any:
    return parse_spec(E2E_SPEC + extra, "spec.yaml")


def _expected(events: list[Event]) -> list[tuple[str, str | None]]:
    """The (type, step) of every notification the runner's events make, in emission order."""
    return [(n.type, e.step) for e in events for n in translate(e, ANY_RUN)]


def _seen(bodies: list[dict[str, Any]], type_key: str = "type") -> list[tuple[str, str | None]]:
    return [(b[type_key], (b["data"]["step"] or {}).get("id")) for b in bodies]


def _per_step(pairs: list[tuple[str, str | None]]) -> dict[str | None, list[str]]:
    out: dict[str | None, list[str]] = {}
    for kind, step in pairs:
        out.setdefault(step, []).append(kind)
    return out


def _drain(queue: StorageQueue, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Every message on the queue, decoded as JSON, in the order the queue hands them out."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = queue.receive(limit=32, hide_for=300)
        if not batch:
            break
        found += [json.loads(m.text) for m in batch]
    return found


def _makespan(journal: Journal) -> float:
    rows = [r for r in journal.steps() if r.started_at and r.ended_at]
    start = min(r.started_at for r in rows if r.started_at)
    end = max(r.ended_at for r in rows if r.ended_at)
    return (end - start).total_seconds()


@pytest.fixture
def queues(azurite: str, monkeypatch: pytest.MonkeyPatch, azurite_server: Any) -> Any:
    """``queues(name)``: a fresh Azurite queue's URL; the sinks find the key in the environment."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    made: list[StorageQueue] = []

    def make(name: str) -> str:
        url = azurite_server.queue_url(f"{name}-{time.monotonic_ns()}")
        queue = StorageQueue(url, base64_encoded=False)
        queue.create()
        made.append(queue)
        return url

    yield make
    for queue in made:
        queue.close()


def test_every_event_arrives_once_in_order_through_retries(
    tmp_path: Path, queues: Any, monkeypatch: Any
) -> None:
    """Webhook and queue sinks get each event once, in the runner's order, though the webhook fails twice first."""
    monkeypatch.setenv("UDROLL_TEST_SECRET", SECRET)
    receiver = Receiver(fail_first=2)
    events_url = queues("udroll-events")
    h = harness(
        tmp_path,
        _spec(f"""
notify:
  - webhook: {receiver.url}
    secret_env: UDROLL_TEST_SECRET
  - queue: {events_url}
maintenance_events:
  pre: {{required: true, timeout: 10m}}
  post: true
"""),
    )

    h.reporter.on_event = answer_each_pre(receiver, "go", "primary moved")
    try:
        outcome = notified_run(h)
    finally:
        receiver.close()
    assert outcome.state == "completed"
    expected = _expected(h.reporter.events)
    assert len([t for t, _ in expected if t == "udroll.maintenance.pre"]) == len(h.plan.steps)
    bodies = receiver.bodies()
    assert _seen(bodies) == expected  # once each, in order
    assert len({b["id"] for b in bodies}) == len(bodies)
    assert [a["status"] for a in receiver.attempts[:3]] == [503, 503, 200]
    for attempt in receiver.attempts:
        digest = hmac.new(SECRET.encode(), attempt["raw"], hashlib.sha256).hexdigest()
        assert attempt["headers"]["X-Udroll-Signature"] == f"sha256={digest}"
    queued = _drain(StorageQueue(events_url, base64_encoded=False))
    assert _per_step(_seen(queued, "eventType")) == _per_step(expected)
    assert {m["id"] for m in queued} == {b["id"] for b in bodies}
    schema = events_schema()
    for item in bodies + queued:
        jsonschema.validate(item, schema)
    outcomes = [t for t in h.journal.transitions() if t["kind"].startswith("notify-")]
    assert {t["kind"] for t in outcomes} == {"notify-delivered"}
    assert len(outcomes) == 2 * len(expected)


def test_a_receiver_that_never_answers_delays_nothing(tmp_path: Path) -> None:
    """A webhook that never answers leaves the run's makespan (simulated time) as it is without it."""
    quiet = harness(tmp_path / "quiet", _spec(""))
    assert quiet.run().state == "completed"
    dead = Receiver(hang=True)
    h = harness(
        tmp_path / "dead",
        _spec(f"""
notify:
  - webhook: {dead.url}
maintenance_events: {{pre: {{}}, post: true}}
"""),
    )
    try:
        outcome = notified_run(h, drain=0.3)
    finally:
        dead.close()
    assert outcome.state == "completed"
    with_dead, without = _makespan(h.journal), _makespan(quiet.journal)
    assert abs(with_dead - without) <= 0.01 * without
    status = run_status(h.journal)
    assert status["state"] == "completed"
    assert status["warnings"] and "not delivered to webhook" in status["warnings"][0]


def test_stop_on_the_reply_queue_fails_the_step_with_nothing_triggered(tmp_path: Path, queues: Any) -> None:
    """A required pre event answered "stop" on the reply queue fails its step before any trigger."""
    events_url, replies_url = queues("udroll-events"), queues("udroll-replies")
    h = harness(
        tmp_path,
        _spec(f"""
notify:
  - queue: {events_url}
maintenance_events:
  pre: {{required: true, timeout: 10m, reply_queue: "{replies_url}"}}
"""),
    )
    inbox, replies = StorageQueue(events_url), StorageQueue(replies_url, base64_encoded=True)

    def stop(event: Event) -> None:
        if event.kind != "maintenance-pre":
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = [m for m in _drain(inbox, 1) if m["eventType"] == "udroll.maintenance.pre"]
            if found:
                reply = found[0]["data"]["reply"]
                assert reply["queue"] == replies_url
                replies.send(
                    json.dumps({"event": reply["event"], "decision": "stop", "reason": "no failover"})
                )
                return
            time.sleep(0.05)
        raise AssertionError("the pre event never reached the queue")

    h.reporter.on_event = stop
    outcome = notified_run(h)
    first = h.plan.steps[0]
    assert outcome.failed_steps == (first.id,)
    assert "answered stop: no failover" in (h.journal.step(first.id).error or "")
    assert h.backend.triggers() == []


def test_a_late_answer_fails_the_step_at_its_timeout(tmp_path: Path) -> None:
    """No answer within the timeout fails the step exactly then, with nothing triggered; the late answer gets 410."""
    receiver = Receiver()
    h = harness(
        tmp_path,
        _spec(f"""
notify:
  - webhook: {receiver.url}
    events: [maintenance.*, step.*]
maintenance_events:
  pre: {{required: true, timeout: 7m}}
"""),
    )
    late: list[int] = []

    def answer_late(event: Event) -> None:
        if event.kind == "step-failed":
            body = receiver.wait_for(lambda b: b["type"] == "udroll.maintenance.pre")
            late.append(answer(body["data"]["reply"]["url"], "go"))

    h.reporter.on_event = answer_late
    try:
        outcome = notified_run(h)
    finally:
        receiver.close()
    first = h.plan.steps[0]
    assert outcome.failed_steps == (first.id,)
    asked, failed = h.reporter.of("maintenance-pre")[0], h.reporter.of("step-failed")[0]
    assert (failed.at - asked.at).total_seconds() == 7 * 60
    assert "no answer to the pre-maintenance event within 7m" in failed.message
    assert late == [410]
    assert h.backend.triggers() == []


def test_queue_messages_are_base64_event_grid_like_update_manager(tmp_path: Path, queues: Any) -> None:
    """A queue sink writes base64 Event Grid events by default, as Event Grid does to Storage queues."""
    url = queues("udroll-b64")
    h = harness(tmp_path, _spec(f"\nnotify:\n  - queue: {url}\n    events: [run.*]\n"))
    assert notified_run(h).state == "completed"
    raw = StorageQueue(url, base64_encoded=False)._client.receive_messages(max_messages=32)
    first = json.loads(base64.b64decode(next(iter(raw)).content))
    assert first["eventType"] == "udroll.run.started" and first["dataVersion"] == "1.0"


@pytest.mark.e2e
def test_a_simulation_against_the_emulator_sends_and_waits_for_answers(tmp_path: Path) -> None:
    """rollout.simulate (real SDK, emulator, scaled clock) sends the events and waits for a responder's go."""
    receiver = Receiver()
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        E2E_SPEC
        + f"notify:\n  - webhook: {receiver.url}\n    events: [run.*, step.*, maintenance.*]\n"
        + "maintenance_events: {pre: {required: true, timeout: 2h}, post: true}\n"
    )
    answered: set[str] = set()
    done = threading.Event()

    def responder() -> None:  # an operator's failover script, answering each pre event as it comes
        while not done.is_set():
            for body in receiver.bodies():
                if body["type"] == "udroll.maintenance.pre" and body["id"] not in answered:
                    answered.add(body["id"])
                    answer(body["data"]["reply"]["url"], "go", "ready")
            time.sleep(0.01)

    thread = threading.Thread(target=responder, daemon=True)
    thread.start()
    try:
        outcome = rollout.simulate(str(spec), journal_dir=str(tmp_path / "journal"), speed=3000)
    finally:
        done.set()
        thread.join(5)
        receiver.close()
    assert outcome.state == "completed"
    types = [b["type"] for b in receiver.bodies()]
    assert types[0] == "udroll.run.started" and types[-1] == "udroll.run.completed"
    assert types.count("udroll.maintenance.pre") == types.count("udroll.step.ended") == len(answered) == 4


def test_a_pre_event_per_tier_asks_once_for_each_tier(tmp_path: Path) -> None:
    """With per: tier, only each tier's first step sends the pre event and waits for its answer."""
    receiver = Receiver()
    h = harness(
        tmp_path,
        _spec(f"""
notify:
  - webhook: {receiver.url}
    events: [maintenance.pre]
maintenance_events:
  pre: {{required: true, per: tier, timeout: 10m}}
"""),
    )

    h.reporter.on_event = answer_each_pre(receiver, "go")
    try:
        outcome = notified_run(h)
    finally:
        receiver.close()
    assert outcome.state == "completed"
    asked = [b["data"]["step"]["tier"] for b in receiver.bodies()]
    assert sorted(asked) == ["db", "web"]


def test_a_missing_queue_is_a_warning_not_a_failed_run(tmp_path: Path, queues: Any) -> None:
    """Events to a queue that does not exist are journalled as failed deliveries; the run completes."""
    missing = queues("udroll-exists").rsplit("/", 1)[0] + "/udroll-never-created"
    h = harness(tmp_path, _spec(f"\nnotify:\n  - queue: {missing}\n    retries: 2\n    events: [run.*]\n"))
    assert notified_run(h).state == "completed"
    code, out = invoke(["status", "--journal", str(h.directory)])
    assert code == 0
    assert re.search(r"warning: notify: \d+ events not delivered to queue .*queue does not exist", out)
