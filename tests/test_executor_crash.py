"""The crash campaign: a runner in a subprocess, killed with SIGKILL at random moments of every phase and
resumed each time, against one emulator that lives on. Afterwards every VM was maintained exactly once,
never triggered twice, and no rule was broken (checked against the emulator's request log)."""

from __future__ import annotations

import datetime as dt
import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from executor_support import E2E_SPEC, ROOT, rule_violations

from executor.run.journal import Journal
from planner.fleet import parse_fleet
from planner.load import parse_spec
from planner.plan import Plan

EPOCH = dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.timezone.utc)
KILLS = 14
SEED = 20261122


def _udroll(args: list[str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "executor.cli.main", *args],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def _wait_until_running(journal: Path, proc: subprocess.Popen[bytes]) -> None:
    """Until the runner holds the journal's lock (its Python start-up is not a phase worth killing)."""
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        if Journal.exists(journal):
            probe = Journal.open(journal)
            try:
                if probe.is_locked():
                    return
            finally:
                probe.close()
        time.sleep(0.02)


@pytest.mark.e2e
@pytest.mark.slow
def test_kill_9_at_random_moments_and_resume(tmp_path: Path, make_emulator: Callable[..., Any]) -> None:
    """SIGKILL at 14 random moments, `udroll resume` after each: every VM maintained once, rules hold."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(E2E_SPEC)
    loaded = parse_spec(E2E_SPEC, str(spec))
    emu = make_emulator(loaded.inventory, speed=600.0, epoch=EPOCH)
    ready = tmp_path / "ready.json"
    emu.write_ready_file(ready)
    journal = tmp_path / "journal"
    rng = random.Random(SEED)
    kills, code = 0, None
    with (tmp_path / "runner.log").open("ab") as log:
        for _ in range(KILLS + 10):
            if Journal.exists(journal):
                args = ["resume", "--journal", str(journal), "--yes"]
            else:
                args = ["run", str(spec), "--emulator", str(ready), "--journal", str(journal), "--yes"]
            proc = _udroll(args, log)
            try:
                if kills < KILLS:
                    _wait_until_running(journal, proc)
                code = proc.wait(timeout=rng.uniform(0.0, 1.2) if kills < KILLS else 120)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
            if code == 0:
                break
    output = (tmp_path / "runner.log").read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert kills >= 10, f"only {kills} kills: the runner finished too early to test much"

    done = Journal.open(journal)
    assert done.run_state == "completed"
    plan = Plan.from_dict(json.loads(done.meta("plan") or "{}"))
    snapshot = parse_fleet(done.meta("fleet") or "{}", "fleet")
    planned = {vm.lower(): vm for step in plan.steps for vm in step.vms}
    requests = emu.requests()
    posts = [r for r in requests if r["method"] == "POST" and "performMaintenance" in r["path"]]
    per_vm = Counter(r["vm"].lower() for r in posts)
    assert set(per_vm) == set(planned)
    assert set(per_vm.values()) == {1}, per_vm  # never triggered twice, not even a refused second try
    state = {vm["id"].lower(): vm for vm in emu.state()["vms"]}
    for vm in planned:
        assert state[vm]["attempts"] == 1
        assert state[vm]["maintenance"]["last_result"] == "MaintenanceCompleted"
    triggers = [
        (dt.datetime.fromisoformat(r["sim"].replace("Z", "+00:00")), planned[r["vm"].lower()])
        for r in posts
        if r["status"] == 202
    ]
    assert rule_violations(plan, loaded.spec, snapshot, done, triggers) == []
    resumed = [t for t in done.transitions() if t["kind"] == "run-resumed"]
    assert len(resumed) >= kills // 2  # (a kill while a runner was still setting up resumes nothing)
