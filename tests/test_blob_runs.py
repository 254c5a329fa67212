"""Runs that outlive one machine: a rollout whose journal lives in Azurite, driven by `udroll` processes in
fresh directories that know only the journal's URL, against an emulator served by the test."""

from __future__ import annotations

import datetime as dt
import json
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from blob_support import (
    NIGHTS_SPEC,
    JumpClock,
    accepted_triggers,
    environment,
    start,
    triggers_per_vm,
    udroll,
)
from executor_support import E2E_SPEC, rule_violations

from executor.azure.blob_journal import BlobJournal
from planner.fleet import parse_fleet
from planner.load import parse_spec
from planner.plan import Plan
from planner.timefmt import parse_instant

NIGHT_1 = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(autouse=True)
def _storage(azurite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test process reads the journal the way the runners reach it: the connection string."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)


def _url(connection: str) -> str:
    return connection.split("BlobEndpoint=")[1].rstrip(";") + f"/udroll/nights-{uuid.uuid4().hex[:6]}"


def _check_done(url: str, spec_text: str, requests: list[dict[str, Any]]) -> BlobJournal:
    """The run completed, each planned VM was asked to perform maintenance once, and R2-R8 held."""
    done = BlobJournal.open(url)
    assert done.run_state == "completed"
    plan = Plan.from_dict(json.loads(done.meta("plan") or "{}"))
    planned = {vm.lower(): vm for step in plan.steps for vm in step.vms}
    per_vm = triggers_per_vm(requests)
    assert set(per_vm) == set(planned) and set(per_vm.values()) == {1}, per_vm
    snapshot = parse_fleet(done.meta("fleet") or "{}", "fleet")
    spec = parse_spec(spec_text, "spec.yaml").spec
    assert rule_violations(plan, spec, snapshot, done, accepted_triggers(requests, planned)) == []
    return done


@pytest.mark.e2e
@pytest.mark.slow
def test_three_nights_on_fresh_agents(
    azurite: str, tmp_path: Path, make_emulator: Callable[..., Any]
) -> None:
    """Three nights, each a fresh process in a fresh directory knowing only the URL, complete the rollout:
    each night exits 'waiting until' the next window, every VM triggered once, gaps and windows kept."""
    spec = tmp_path / "repo" / "spec.yaml"
    spec.parent.mkdir()
    spec.write_text(NIGHTS_SPEC)
    clock = JumpClock(NIGHT_1, 120.0)
    emu = make_emulator(parse_spec(NIGHTS_SPEC, str(spec)).inventory, clock=clock, epoch=NIGHT_1)
    ready = tmp_path / "ready.json"
    emu.write_ready_file(ready)
    url, env = _url(azurite), environment(azurite)
    first = ["run", str(spec), "--emulator", str(ready), "--journal", url, "--yes", "--until-idle"]
    nightly = ["resume", "--journal", url, "--yes", "--until-idle"]
    outputs = []
    for night in range(1, 4):
        code, output = udroll(first if night == 1 else nightly, tmp_path / f"agent-{night}", env)
        outputs.append(output)
        assert code == 0, output
        if "Rollout complete" in output:
            break
        assert "Run waiting until" in output, output
        code, shown = udroll(["status", "--journal", url, "-o", "json"], tmp_path / f"watcher-{night}", env)
        status = json.loads(shown)
        assert (status["state"], status["runner_active"]) == ("waiting", False), shown
        clock.jump(parse_instant(status["next_step_eta"]))  # the next night's pipeline run
    assert "Rollout complete" in outputs[-1] and len(outputs) == 3, outputs
    done = _check_done(url, NIGHTS_SPEC, emu.requests())
    waits = [t for t in done.transitions() if t["kind"] == "run-waiting"]
    assert len(waits) == 2 and all("23:00" not in w["message"] for w in waits)
    code, report = udroll(["report", "--journal", url], tmp_path / "laptop", env)
    assert code == 0 and "planned" in report.lower(), report
    assert not (tmp_path / "laptop" / ".udroll").exists()  # reading a run leaves nothing behind


def _wait_for_lease(url: str, proc: subprocess.Popen[bytes], seconds: float = 40) -> None:
    """Until the runner in ``proc`` holds the run's lease (its start-up is not a phase worth killing)."""
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        if BlobJournal.exists(url) and BlobJournal.open(url).is_locked():
            return
        time.sleep(0.1)


@pytest.mark.e2e
@pytest.mark.slow
def test_kill_9_and_resume_from_other_directories(
    azurite: str, tmp_path: Path, make_emulator: Callable[..., Any]
) -> None:
    """SIGKILL at random moments, `resume` from a new directory each time (taking over the dead runner's lease):
    every VM maintained exactly once, never triggered twice, rules kept."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(E2E_SPEC)
    emu = make_emulator(parse_spec(E2E_SPEC, str(spec)).inventory, speed=600.0, epoch=NIGHT_1)
    ready = tmp_path / "ready.json"
    emu.write_ready_file(ready)
    url, env = _url(azurite), environment(azurite)
    rng, kills, code = random.Random(16), 0, None
    with (tmp_path / "runner.log").open("ab") as log:
        for attempt in range(12):
            if BlobJournal.exists(url):
                args = ["resume", "--journal", url, "--yes"]
            else:
                args = ["run", str(spec), "--emulator", str(ready), "--journal", url, "--yes"]
            proc = start(args, tmp_path / f"agent-{attempt}", env, log)
            try:
                if kills < 3:
                    _wait_for_lease(url, proc)
                code = proc.wait(timeout=rng.uniform(0.2, 2.0) if kills < 3 else 240)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
            if code == 0:
                break
    output = (tmp_path / "runner.log").read_text(errors="replace")
    assert code == 0 and kills == 3, output[-3000:]
    done = _check_done(url, E2E_SPEC, emu.requests())
    assert len([t for t in done.transitions() if t["kind"] == "run-resumed"]) >= 1


@pytest.mark.e2e
@pytest.mark.slow
def test_second_runner_refused_and_dead_runner_taken_over(
    azurite: str, tmp_path: Path, make_emulator: Callable[..., Any]
) -> None:
    """A second runner on the same URL is refused naming the first; once the first is killed, `resume`
    from a third directory takes its lease over (within one lease period) and carries on."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(NIGHTS_SPEC)
    emu = make_emulator(parse_spec(NIGHTS_SPEC, str(spec)).inventory, speed=300.0, epoch=NIGHT_1)
    ready = tmp_path / "ready.json"
    emu.write_ready_file(ready)
    url, env = _url(azurite), environment(azurite)
    with (tmp_path / "first.log").open("wb") as log:
        first = start(
            ["run", str(spec), "--emulator", str(ready), "--journal", url, "--yes"], tmp_path / "a", env, log
        )
        try:
            _wait_for_lease(url, first)
            code, output = udroll(["resume", "--journal", url, "--yes"], tmp_path / "b", env)
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            assert code == 2 and f"pid {first.pid} on" in output, output
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
    code, output = udroll(["resume", "--journal", url, "--yes", "--until-idle"], tmp_path / "c", env)
    assert code == 0 and "Resuming nights" in output, output
    journal = BlobJournal.open(url)
    assert [t["kind"] for t in journal.transitions()].count("run-resumed") == 1
    assert set(triggers_per_vm(emu.requests()).values()) <= {1}
