"""Notifications, piece by piece (issue 17): the spec's `notify:` entries, the runner-event mapping, the
envelopes and their schema, the Teams and Slack messages, the command sink, `udroll notify test`."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from executor_support import E2E_SPEC, invoke
from hypothesis import given, settings
from hypothesis import strategies as st
from notify_support import Receiver, adaptive_card_problems, answer, block_kit_problems

from executor.notify.answers import Answer, Answers, CallbackListener
from executor.notify.cards import slack_message, teams_message
from executor.notify.payload import KINDS, RunInfo, cloudevent, eventgrid, sample, translate
from executor.notify.schema import events_schema
from executor.notify.sinks import command
from executor.run.events import Event
from planner.errors import SpecError
from planner.load import parse_spec
from planner.notify_spec import EVENT_TYPES, CommandSink

AT = dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.timezone.utc)
RUN = RunInfo(
    "shop",
    "plans/shop.yaml",
    ".udroll/shop",
    {
        "db-ud0": (
            "db",
            ("/subscriptions/s/resourceGroups/rg-db/providers/Microsoft.Compute/virtualMachines/db-0",),
        )
    },
    {"/subscriptions/s/resourceGroups/rg-db/providers/Microsoft.Compute/virtualMachines/db-0": "rg-db/db-0"},
)


def _problems(extra: str) -> list[str]:
    with pytest.raises(SpecError) as exc:
        parse_spec(E2E_SPEC + extra, "spec.yaml")
    return [f"{p.line}:{p.col}: {p.message}" for p in exc.value.problems]


def test_plain_http_is_refused_unless_loopback() -> None:
    """A webhook over http:// to another host is a located error; to 127.0.0.1 it is fine."""
    lines = len(E2E_SPEC.splitlines())
    problems = _problems("notify:\n  - webhook: http://hooks.example.com/x\n")
    assert problems == [
        f"{lines + 2}:14: notify[0].webhook: 'http://hooks.example.com/x' is plain http to a host that is "
        "not this machine: use https:// (http:// is only allowed for loopback addresses such as 127.0.0.1 "
        "or localhost)"
    ]
    loaded = parse_spec(E2E_SPEC + "notify:\n  - webhook: http://127.0.0.1:9/x\n", "spec.yaml")
    assert loaded.spec.notify[0].webhook == "http://127.0.0.1:9/x"


def test_sink_mistakes_are_located_and_explained() -> None:
    """Unknown filters, shell strings, unknown placeholders and a required pre without sink are errors."""
    text = "\n".join(
        _problems("""notify:
  - slack: https://hooks.slack.com/services/x
    events: [step.exploded]
  - command: "page-oncall {type}"
  - command: [page-oncall, "{colour}"]
  - teams: https://x.example/wf
    schema: eventgrid
""")
    )
    assert "event filter 'step.exploded' matches no event type" in text
    assert "a command is an argv list, run without a shell" in text
    assert "unknown placeholder {colour}" in text
    assert "schema is for webhook sinks only" in text
    lonely = "\n".join(_problems("maintenance_events: {pre: {required: true}}\n"))
    assert "no notify sink receives maintenance.pre events" in lonely


def test_the_spec_schema_covers_notify() -> None:
    """`udroll schema` describes the notify: sinks and maintenance_events."""
    code, out = invoke(["schema"])
    schema = json.loads(out)
    assert code == 0
    assert {"notify", "maintenance_events"} <= set(schema["properties"])
    assert {"WebhookSink", "QueueSink", "CommandSink", "PreEvent"} <= set(schema["$defs"])


@settings(deadline=None, max_examples=40)  # schema validation is slow on a busy machine
@given(st.sampled_from(sorted(KINDS)), st.text(max_size=40))
def test_every_mapped_runner_event_makes_a_valid_event_in_both_envelopes(kind: str, message: str) -> None:
    """Each runner event kind that maps makes events valid against the published schema, in both envelopes."""
    event = Event(kind, AT, "db-ud0", None, message, {"x": 1})
    made = translate(event, RUN)
    assert made and all(n.type in EVENT_TYPES for n in made)
    schema = events_schema()
    for n in made:
        jsonschema.validate(cloudevent(n, RUN), schema)
        jsonschema.validate(eventgrid(n, RUN), schema)
        assert n.data["see"] == "udroll status --journal .udroll/shop"


def test_special_mappings() -> None:
    """An abort, a missed window, a VM outside its window and a pending approval get their own types."""

    def types(kind: str, message: str, vm: str | None = None) -> list[str]:
        return [n.type for n in translate(Event(kind, AT, "db-ud0", vm, message), RUN)]

    assert types("run-halted", "aborted") == ["udroll.run.aborted"]
    assert types("run-halted", "1 step failed") == ["udroll.run.halted"]
    assert types("step-failed", "no open window left: the operator window ...") == [
        "udroll.step.failed",
        "udroll.window.missed",
    ]
    assert types("vm-skipped", "outside its self-service window 2026-..: not triggered", "vm1") == [
        "udroll.window.missed"
    ]
    assert types("approval-needed", "approve step db-ud0") == ["udroll.approval.needed"]
    assert types("vm-polled", "") == [] and types("gate", "") == []


def test_teams_and_slack_messages_keep_their_shapes() -> None:
    """The Teams message is a valid Adaptive Card and the Slack one valid Block Kit, readable text."""
    n = sample(RUN, AT)
    teams, slack = teams_message(n), slack_message(n)
    assert adaptive_card_problems(teams) == []
    assert block_kit_problems(slack) == []
    assert slack["blocks"][0]["text"]["text"] == "Step failed: shop — step db-ud0"
    facts = teams["attachments"][0]["content"]["body"][2]["facts"]
    assert {"title": "VMs", "value": "rg-db/db-0"} in facts
    long = translate(Event("step-failed", AT, "db-ud0", message="x" * 5000), RUN)[0]
    assert block_kit_problems(slack_message(long)) == []


def test_the_command_sink_runs_argv_without_a_shell(tmp_path: Path) -> None:
    """Placeholders fill single arguments (a ; stays text); the CloudEvent comes on stdin."""
    out = tmp_path / "out.json"
    script = tmp_path / "record.py"
    script.write_text(
        "import json, sys\n"
        "json.dump({'argv': sys.argv[1:], 'stdin': json.load(sys.stdin)}, open(sys.argv[1], 'w'))\n"
    )
    argv = [sys.executable, str(script), str(out), "{type}", "{step}; rm -rf /"]
    sink = CommandSink.model_validate({"command": argv})
    command(sink, RUN)(sample(RUN, AT))
    got = json.loads(out.read_text())
    assert got["argv"][1:] == ["udroll.step.failed", "db-ud0; rm -rf /"]
    assert got["stdin"]["specversion"] == "1.0"


def test_events_schema_is_printed() -> None:
    """`udroll schema --events` prints the versioned payload schema."""
    code, out = invoke(["schema", "--events"])
    assert code == 0
    assert json.loads(out)["$id"] == "https://udroll.dev/schema/events-v1.json"


def test_notify_test_sends_one_sample_to_each_sink(tmp_path: Path) -> None:
    """`udroll notify test` sends a sample to every sink (filters aside) and exits 1 if one refuses."""
    good, bad = Receiver(), Receiver(fail_first=99)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        E2E_SPEC
        + f"notify:\n  - teams: {good.url}\n    events: [run.completed]\n  - slack: {good.url}\n"
        + f"  - webhook: {bad.url}\n"
    )
    try:
        code, out = invoke(["notify", "test", str(spec)])
    finally:
        good.close()
        bad.close()
    assert code == 1
    assert "notify[0] teams" in out and "notify[1] slack" in out and ": sent" in out
    assert "notify[2] webhook" in out and "FAILED: HTTP 503" in out
    teams, slack = good.bodies()
    assert adaptive_card_problems(teams) == [] and block_kit_problems(slack) == []


def test_notify_test_needs_sinks(tmp_path: Path) -> None:
    """A spec without notify: is an input error (exit 2) that says what to add."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(E2E_SPEC)
    code, out = invoke(["notify", "test", str(spec)])
    assert code == 2 and "has no notify: sinks" in out


def test_a_missing_secret_is_an_input_error(tmp_path: Path, monkeypatch: Any) -> None:
    """A webhook whose secret_env is unset stops `notify test` with exit 2 before sending anything."""
    monkeypatch.delenv("UDROLL_NOPE", raising=False)
    spec = tmp_path / "spec.yaml"
    spec.write_text(E2E_SPEC + "notify:\n  - webhook: https://h.example/x\n    secret_env: UDROLL_NOPE\n")
    code, out = invoke(["notify", "test", str(spec)])
    assert code == 2 and "UDROLL_NOPE is not set" in out


def test_the_answer_listener_takes_one_answer_per_event() -> None:
    """The callback takes one go/stop per waiting event: 400 for a non-answer, 404 unknown, 409 twice, 410 late."""
    answers = Answers()
    listener = CallbackListener(answers)
    try:
        answers.expect("ev1", "tok1")
        url = listener.url_for("tok1")
        assert answer(url, "maybe") == 400
        assert answer(listener.url_for("nope"), "go") == 404
        assert answer(url, "stop", "no failover") == 200
        assert answer(url, "go") == 409
        assert answers.take("ev1") == Answer("stop", "no failover", "callback")
        answers.forget("ev1")
        assert answer(url, "go") == 410
    finally:
        listener.close()
