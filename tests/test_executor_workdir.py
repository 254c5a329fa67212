"""Hooks and command checks run in the spec's directory, so relative scripts are the ones beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from executor_support import invoke

from executor.run.hooks import run_hook

PLANS = Path(__file__).resolve().parent.parent / "plans"


def test_a_relative_hook_is_found_beside_the_spec(tmp_path: Path) -> None:
    """`scripts/x` runs from the spec's directory whatever the current directory is."""
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "drain"
    script.write_text('#!/bin/sh\necho "drained $UDROLL_VMS in $(pwd)"\n')
    script.chmod(0o755)
    result = run_hook(
        ["scripts/drain", "{vms}"],
        "s1",
        "db",
        "before_step",
        ["db-0"],
        ["id"],
        ["rg"],
        "j",
        cwd=str(tmp_path),
    )
    assert result.ok, result.output
    assert f"drained db-0 in {tmp_path}" in result.output


def test_without_the_spec_directory_the_same_hook_is_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counter-case: from another directory, a relative script is not found (so the cwd matters)."""
    monkeypatch.chdir(tmp_path)
    result = run_hook(["scripts/drain"], "s1", "db", "before_step", ["db-0"], ["id"], ["rg"], "j")
    assert not result.ok and "command not found" in result.output


def test_the_sql_example_runs_its_failover_hooks_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundled SQL Always On example simulates to the end, its hooks found beside the spec."""
    monkeypatch.chdir(tmp_path)
    journal = tmp_path / "journal"
    code, out = invoke(
        [
            "run",
            str(PLANS / "sql-always-on.yaml"),
            "--simulate",
            "--yes",
            "--speed",
            "20000",
            "--journal",
            str(journal),
        ],
        {"tty": False, "live": False},
    )
    assert code == 0, out[-2000:]
    hooks = [json.loads(line) for line in (journal / "events.jsonl").read_text().splitlines()]
    outcomes = [e for e in hooks if e.get("kind") == "hook"]
    assert len(outcomes) == 4, outcomes  # before and after each of the two steps
    assert all("ok" in (e.get("message") or "") for e in outcomes), outcomes
