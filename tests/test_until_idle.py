"""--until-idle (issue 16): a run does what the windows allow, stops 'waiting' when nothing can start before
the open window closes, and later invocations finish it with the same result as one long-lived runner."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from executor_support import harness, invoke, shop
from hypothesis import given
from hypothesis import strategies as st

from executor.run.journal import EVENTS_NAME
from executor.run.runner import RunConfig
from executor.run.scheduling import idle_until
from planner.timefmt import parse_instant

UTC = dt.timezone.utc
NIGHT = (dt.datetime(2026, 11, 23, 22, 0, tzinfo=UTC), dt.datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
NEXT_NIGHT = (NIGHT[0] + dt.timedelta(days=1), NIGHT[1] + dt.timedelta(days=1))


@given(now=st.integers(-3600, 30 * 3600), ready=st.integers(0, 48 * 3600))
def test_idle_only_when_the_next_start_lies_beyond_the_open_window(now: int, ready: int) -> None:
    """Stop exactly when the next start is later than now and not inside the window open now."""
    at = NIGHT[0] + dt.timedelta(seconds=now)
    start = at + dt.timedelta(seconds=ready)
    open_now = next(((a, b) for a, b in (NIGHT, NEXT_NIGHT) if a <= at < b), None)
    expected = start > at and (open_now is None or start >= open_now[1])
    assert idle_until([NIGHT, NEXT_NIGHT], at, start) == expected


def test_nightly_invocations_finish_like_one_runner(tmp_path: Path) -> None:
    """Each --until-idle invocation ends 'waiting' at a closed window; repeated, they complete the shop's run
    with every VM triggered once, as a single runner would."""
    h = harness(tmp_path, shop(**{'hours: "22:00-06:00"': 'hours: "22:00-23:30"'}))
    outcomes = []
    for _ in range(20):
        outcome = h.run(RunConfig(control_interval=300, until_idle=True))
        outcomes.append(outcome.state)
        if outcome.state != "waiting":
            break
        assert outcome.message.startswith("waiting until ") and h.journal.run_state == "waiting"
        assert re.match(r"waiting until \w{3} \d\d-\d\d \d\d:\d\d CET: ", outcome.message), outcome.message
        events = [json.loads(line) for line in (h.journal.dir / EVENTS_NAME).read_text().splitlines()]
        stamp = [e["data"]["until"] for e in events if e["kind"] == "run-waiting"][-1]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)  # events.jsonl: RFC 3339, Z
        until = parse_instant(stamp)
        assert until > h.clock.now()
        h.clock.advance((until - h.clock.now()).total_seconds())  # the next night
        h.reopen()
    assert outcomes[-1] == "completed" and "waiting" in outcomes, outcomes
    triggered = [vm for vm, _, _ in h.journal.triggers()]
    assert sorted(triggered) == sorted({vm for s in h.plan.steps for vm in s.vms})


def test_status_shows_a_waiting_run_and_pause_holds_it(tmp_path: Path) -> None:
    """`status` shows 'waiting' with the next start; `pause` of a waiting run keeps scheduled resumes off it."""
    h = harness(tmp_path, shop(**{'hours: "22:00-06:00"': 'hours: "22:00-23:30"'}))
    assert h.run(RunConfig(control_interval=300, until_idle=True)).state == "waiting"
    h.journal.close()
    code, shown = invoke(["status", "--journal", str(h.directory)], {"clock": h.clock})
    assert code == 0 and "waiting" in shown.splitlines()[0] and "next step:" in shown, shown
    assert "--until-idle` continues the run" in shown
    code, said = invoke(["pause", "--journal", str(h.directory)], {"clock": h.clock})
    assert code == 0 and "scheduled resumes leave it alone" in said
    code, said = invoke(
        ["resume", "--journal", str(h.directory), "--yes", "--until-idle"], {"clock": h.clock}
    )
    assert code == 0 and "This run is paused" in said, said
