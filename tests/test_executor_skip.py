"""`udroll skip` of a running or finished step is refused with exit 2 and a reason (issue 11), also
while a runner is alive: the refusal reaches the operator instead of a warning in the runner's log."""

from __future__ import annotations

from pathlib import Path

import pytest
from executor_support import SHOP, fakes, invoke

from executor.run.journal import Journal
from executor.run.scripted import VMScript


@pytest.fixture
def halted(tmp_path: Path) -> str:
    """A run of the shop halted on db/as-db/ud1 (db-1 MaintenanceAborted); db/as-db/ud2 is done."""
    journal = str(tmp_path / "j")
    code, out = invoke(
        ["run", str(SHOP), "--yes", "--journal", journal], fakes({"rg-shop-db/db-1": VMScript(abort=1)})
    )
    assert code == 4, out
    return journal


def states(journal: str) -> dict[str, str]:
    j = Journal.open(journal)
    try:
        return {s.id: s.state for s in j.steps()}
    finally:
        j.close()


@pytest.mark.parametrize("live_runner", [False, True])
def test_a_done_or_running_step_is_not_skipped(halted: str, live_runner: bool) -> None:
    """Skipping a done step or a running one exits 2 with the reason, with or without a live runner,
    and nothing is written or requested."""
    j = Journal.open(halted)
    j.update_step("db/as-db/ud0", state="running")
    if live_runner:
        j.lock()
    try:
        code, out = invoke(["skip", "db/as-db/ud2", "--journal", halted], fakes())
        assert code == 2 and "step db/as-db/ud2 is done: only a waiting or failed step can be skipped" in out
        code, out = invoke(["skip", "db/as-db/ud0", "--journal", halted], fakes())
        assert code == 2 and "step db/as-db/ud0 is running: a running step cannot be skipped" in out
        assert f"udroll abort --journal {halted}" in out
        assert j.pending_controls() == []
    finally:
        j.close()
    assert states(halted)["db/as-db/ud2"] == "done" and states(halted)["db/as-db/ud0"] == "running"


def test_a_failed_step_is_still_requested_from_a_live_runner(halted: str) -> None:
    """The failed step may be skipped: with a runner alive the skip is handed to it (exit 0)."""
    j = Journal.open(halted)
    j.lock()
    try:
        code, out = invoke(["skip", "db/as-db/ud1", "--journal", halted], fakes())
        assert code == 0 and "requested from the running runner" in out
        assert [(c.command, c.arg) for c in j.pending_controls()] == [("skip", "db/as-db/ud1")]
    finally:
        j.close()


def test_a_skipped_step_cannot_be_skipped_twice(halted: str) -> None:
    """A second skip of the same step says it is already skipped (exit 2)."""
    assert invoke(["skip", "db/as-db/ud1", "--journal", halted], fakes())[0] == 0
    code, out = invoke(["skip", "db/as-db/ud1", "--journal", halted], fakes())
    assert code == 2 and "is skipped: only a waiting or failed step can be skipped" in out
