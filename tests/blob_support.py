"""Runs whose journal lives in Azurite, driven as separate `udroll` processes in fresh directories against an
emulator served by the test (shared by tests/test_blob_runs.py and benchmarks/blob_crash_campaign.py)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from executor.run.clock import ScaledClock

ROOT = Path(__file__).resolve().parent.parent
WINDOW = '["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"]'
_VM = f"maintenance: {{customer_initiated_allowed: true, self_service_window: {WINDOW}}}"

# four VMs, four steps, one hour of operator window a night and a 50-minute recovery gap: three nights
NIGHTS_SPEC = f"""
version: 1
name: nights
subscription: 11111111-2222-3333-4444-555555555555
defaults:
  recovery_gap: 50m
  expected_duration: 10m
  max_unavailable: 1
  health: {{wait: 1m, timeout: 20m, healthy_for: 2m, interval: 15s}}
window: {{not_before: 2026-11-23T21:00:00Z, hours: "22:00-23:00"}}
limits: {{max_parallel_steps: 2}}
tiers:
  - {{name: db, select: {{availability_set: rg-db/as-db}}}}
  - {{name: web, depends_on: [db], select: {{resource_group: rg-web}}, max_unavailable: 100%}}
inventory:
  - {{name: db-0, resource_group: rg-db, availability_set: as-db, update_domain: 0, fault_domain: 0, {_VM}}}
  - {{name: db-1, resource_group: rg-db, availability_set: as-db, update_domain: 1, fault_domain: 1, {_VM}}}
  - {{name: web-1, resource_group: rg-web, {_VM}}}
  - {{name: web-2, resource_group: rg-web, {_VM}}}
"""


class JumpClock(ScaledClock):
    """The emulator's time: scaled, and moved forward by the test between two "nights"."""

    def jump(self, to: dt.datetime) -> None:
        self.epoch, self._origin = to.astimezone(dt.timezone.utc), time.monotonic()


def environment(connection: str, lease: int = 15) -> dict[str, str]:
    env = dict(os.environ, AZURE_STORAGE_CONNECTION_STRING=connection, UDROLL_LEASE_SECONDS=str(lease))
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start(args: list[str], cwd: Path, env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    """`udroll ARGS` as a new process in ``cwd`` (a directory that knows nothing but what ARGS say)."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "executor.cli.main", *args],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def udroll(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 180) -> tuple[int, str]:
    """Run `udroll ARGS` to its end in ``cwd``: (exit code, output)."""
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "executor.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode, done.stdout + done.stderr


def triggers_per_vm(requests: list[dict[str, Any]]) -> Counter[str]:
    """How often each VM was asked to perform maintenance (accepted or not), from the emulator's log."""
    posts = [r for r in requests if r["method"] == "POST" and "performMaintenance" in r["path"]]
    return Counter(r["vm"].lower() for r in posts)


def accepted_triggers(
    requests: list[dict[str, Any]], planned: dict[str, str]
) -> list[tuple[dt.datetime, str]]:
    return [
        (dt.datetime.fromisoformat(r["sim"].replace("Z", "+00:00")), planned[r["vm"].lower()])
        for r in requests
        if r["method"] == "POST" and "performMaintenance" in r["path"] and r["status"] == 202
    ]
