"""Fleet locks (issue 11 item 2): a run locks every group it walks, machine-wide, so a second run on
another journal that would walk one of them is refused (exit 2) naming the holder; a dead run's lock
is free. The other run is a real second process."""

from __future__ import annotations

import datetime as dt
import os
import socket
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from executor.run.locks import (
    STATE_ENV,
    FileGroupLocks,
    GroupsLocked,
    Holder,
    Refusal,
    group_keys,
    lock_plan_groups,
    state_dir,
)
from planner.build import build_plan
from planner.load import load_spec
from planner.plan import Plan

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "plans" / "three-tier-shop.yaml"
START = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)
SUB = "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute"
AS_DB, AS_WEB = f"{SUB}/availabilitysets/as-db", f"{SUB}/availabilitysets/as-web"

OTHER_RUN = textwrap.dedent(
    """
    import sys
    from executor.run.locks import FileGroupLocks, Holder
    keys = dict(arg.split("=", 1) for arg in sys.argv[3:])
    answer = FileGroupLocks(sys.argv[1]).acquire(keys, Holder.this_process(sys.argv[2]))
    print("held" if hasattr(answer, "keys") else "refused", flush=True)
    sys.stdin.read()  # hold until the test closes our stdin (or kills us)
    """
)


@pytest.fixture
def other_run(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding as-db, on its own journal."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", OTHER_RUN, str(tmp_path / "locks"), "/srv/other/.udroll/shop"]
    with subprocess.Popen(
        [*argv, f"{AS_DB}=rg/as-db"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
        if proc.poll() is None:
            proc.kill()


def shop_plan() -> Plan:
    loaded = load_spec(SHOP)
    assert loaded.inventory is not None
    return build_plan(loaded.spec, loaded.inventory, START)


def me(tmp_path: Path) -> Holder:
    return Holder.this_process(tmp_path / "mine", START)


def test_a_second_run_is_refused_naming_the_holder(tmp_path: Path, other_run: subprocess.Popen[str]) -> None:
    """While another process holds rg/as-db, acquiring it is refused with that run's journal, pid,
    host and start time."""
    answer = FileGroupLocks(tmp_path / "locks").acquire({AS_DB: "rg/as-db"}, me(tmp_path))
    assert isinstance(answer, Refusal)
    (busy,) = answer.busy
    assert busy.holder is not None
    assert (busy.group, busy.holder.journal, busy.holder.pid, busy.holder.host) == (
        "rg/as-db",
        "/srv/other/.udroll/shop",
        other_run.pid,
        socket.gethostname(),
    )
    message = answer.message()
    assert f"pid {other_run.pid}" in message and "journal /srv/other/.udroll/shop" in message
    assert "udroll pause|abort --journal /srv/other/.udroll/shop" in message


def test_refused_means_nothing_taken(tmp_path: Path, other_run: subprocess.Popen[str]) -> None:
    """Asking for as-web and the held as-db takes neither: as-web stays free for others."""
    locks = FileGroupLocks(tmp_path / "locks")
    assert isinstance(locks.acquire({AS_WEB: "rg/as-web", AS_DB: "rg/as-db"}, me(tmp_path)), Refusal)
    again = locks.acquire({AS_WEB: "rg/as-web"}, me(tmp_path))
    assert not isinstance(again, Refusal)
    again.release()


def test_a_dead_runs_lock_is_free(tmp_path: Path, other_run: subprocess.Popen[str]) -> None:
    """kill -9 of the holder frees its groups: the next run gets them without clean-up."""
    other_run.kill()
    other_run.wait()
    held = FileGroupLocks(tmp_path / "locks").acquire({AS_DB: "rg/as-db"}, me(tmp_path))
    assert not isinstance(held, Refusal) and held.keys == (AS_DB,)
    held.release()


def test_release_lets_the_next_run_in_and_files_are_private(tmp_path: Path) -> None:
    """A released group can be taken again (also by the same process); lock files are 0600 in a
    0700 directory, and hold the holder's journal."""
    locks = FileGroupLocks(tmp_path / "locks")
    held = locks.acquire({AS_DB: "rg/as-db"}, me(tmp_path))
    assert not isinstance(held, Refusal)
    assert isinstance(locks.acquire({AS_DB: "rg/as-db"}, me(tmp_path)), Refusal)  # one process, two runs
    path = locks.path(AS_DB)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert str(tmp_path / "mine") in path.read_text()
    locks.release(held)
    second = locks.acquire({AS_DB: "rg/as-db"}, me(tmp_path))
    assert not isinstance(second, Refusal)
    second.release()


def test_the_state_dir_follows_udroll_state_dir_then_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """$UDROLL_STATE_DIR wins, then $XDG_STATE_HOME/udroll, then ~/.local/state/udroll."""
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    assert FileGroupLocks().directory == tmp_path / "state" / "locks"
    monkeypatch.delenv(STATE_ENV)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "xdg" / "udroll"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert state_dir() == Path.home() / ".local" / "state" / "udroll"


def test_a_plans_groups_are_keyed_by_their_arm_ids() -> None:
    """The shop plan locks its availability set, its scale set, and its zonal web VMs' resource group."""
    plan = shop_plan()
    keys = group_keys(plan)
    tails = sorted(k.split("/resourcegroups/")[1] for k in keys)
    assert tails == [
        "rg-shop-app/providers/microsoft.compute/virtualmachinescalesets/vmss-app",
        "rg-shop-db/providers/microsoft.compute/availabilitysets/as-db",
        "rg-shop-web/zonalvirtualmachines",
    ]
    assert keys[next(k for k in keys if k.endswith("zonalvirtualmachines"))] == "*/zonal:web"


def test_lock_plan_groups_refuses_a_second_run_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The run command's call: the second run of one plan on another journal gets GroupsLocked, an
    input error (exit 2) naming the first run's journal; after release the second run goes."""
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    plan = shop_plan()
    first = lock_plan_groups(plan, tmp_path / "first")
    with pytest.raises(GroupsLocked) as refused:
        lock_plan_groups(plan, tmp_path / "second")
    assert refused.value.exit_code == 2
    assert f"journal {tmp_path / 'first'}" in str(refused.value)
    first.release()
    lock_plan_groups(plan, tmp_path / "second").release()
