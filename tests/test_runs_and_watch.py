"""Finding and following runs: `udroll runs`, --journal defaulting to the latest run under .udroll/,
and `udroll status --watch` (issue 15)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from executor_support import SHOP, SHOP_START, fakes, invoke

from executor.run.journal import Journal


def _run(spec: Path, minutes_later: int = 0) -> None:
    """A completed run of ``spec`` journalled in the default place (.udroll/NAME), on fakes."""
    obj = fakes()
    obj["clock"].advance(minutes_later * 60)
    code, out = invoke(["run", str(spec), "--yes"], obj)
    assert code == 0, out


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UDROLL_JOURNAL", raising=False)
    return tmp_path


def _other_spec(where: Path) -> Path:
    other = where / "other.yaml"
    other.write_text(SHOP.read_text().replace("name: three-tier-shop", "name: other-shop"))
    return other


def test_runs_lists_every_run_newest_first_with_its_progress(workdir: Path) -> None:
    """`udroll runs` lists the journals under .udroll/, newest first in real time (not by the runs' own
    clocks, which here read the same), with state and VMs done/total."""
    _run(SHOP)
    _run(_other_spec(workdir))
    code, out = invoke(["runs"])
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["spec", "state"]
    assert lines[1].startswith("other-shop") and lines[2].startswith("three-tier-shop")
    assert "completed" in lines[1] and "12/12" in lines[1] and ".udroll/other-shop" in lines[1]
    code, out = invoke(["runs", "-o", "json"])
    data = json.loads(out)
    assert [r["spec"] for r in data] == ["other-shop", "three-tier-shop"]
    assert data[0]["vms_done"] == data[0]["vms_total"] == 12 and data[0]["state"] == "completed"
    assert data[0]["started"] >= data[1]["started"]  # RFC 3339 Z, whole seconds
    assert data[0]["started"].endswith("Z")


def test_runs_says_where_it_looked_when_there_are_none(workdir: Path) -> None:
    """With no journal under .udroll/, `udroll runs` says so (exit 0) and `-o json` is an empty list."""
    assert invoke(["runs"]) == (0, "No runs under .udroll/ (`udroll run SPEC` journals there by default).\n")
    assert json.loads(invoke(["runs", "-o", "json"])[1]) == []


def test_an_unreadable_journal_is_listed_not_fatal(workdir: Path) -> None:
    """A journal.db that is not SQLite is listed as unreadable; the other runs still show."""
    _run(SHOP)
    broken = workdir / ".udroll" / "broken"
    broken.mkdir()
    (broken / "journal.db").write_text("not a database")
    code, out = invoke(["runs"])
    assert code == 0, out
    assert "three-tier-shop" in out and ".udroll/broken" in out and "unreadable" in out
    code, out = invoke(["status"], fakes())  # and it is no candidate for the default journal
    assert code == 0 and "Journal: .udroll/three-tier-shop" in out


def test_status_without_journal_uses_the_only_specs_latest_run_and_says_so(workdir: Path) -> None:
    """With runs of one spec only, `status` needs no --journal and names the journal it chose."""
    _run(SHOP)
    code, out = invoke(["status"], fakes())
    assert code == 0, out
    assert "Journal: .udroll/three-tier-shop (latest run of three-tier-shop, completed)" in out
    assert "three-tier-shop: completed" in out


def test_runs_of_several_specs_need_a_spec_or_a_journal(workdir: Path) -> None:
    """With runs of two specs and no --spec, a command exits 2 listing them; --spec NAME or FILE picks one."""
    _run(SHOP)
    other = _other_spec(workdir)
    _run(other, minutes_later=10)
    code, out = invoke(["report"], fakes())
    assert code == 2
    assert "runs of 2 specs" in out and "other-shop (latest: .udroll/other-shop)" in out
    assert "three-tier-shop (latest: .udroll/three-tier-shop)" in out and "--spec NAME" in out
    code, out = invoke(["status", "--spec", "three-tier-shop"], fakes())
    assert code == 0 and "three-tier-shop: completed" in out
    code, out = invoke(["approve", "--all", "--spec", str(other)], fakes())
    assert code == 0 and "Journal: .udroll/other-shop" in out


def test_no_run_at_all_asks_for_a_journal(workdir: Path) -> None:
    """Without --journal and without runs under .udroll/, a command exits 2 saying what to pass."""
    code, out = invoke(["pause"], fakes())
    assert code == 2 and "no run under .udroll/: pass --journal" in out


def test_watch_of_a_finished_run_prints_it_once_and_exits_0(workdir: Path) -> None:
    """`status --watch` on a run that already ended shows its final state and returns at once."""
    _run(SHOP)
    obj: dict[str, Any] = {**fakes(), "sleep": lambda _s: pytest.fail("a stopped run is not watched")}
    code, out = invoke(["status", "--watch", "--journal", ".udroll/three-tier-shop"], obj)
    assert code == 0 and out.count("three-tier-shop: completed") == 1


def _running(journal_dir: Path) -> Journal:
    """Make a finished run look like one a runner is still driving: the returned journal holds its lock."""
    runner = Journal.open(journal_dir)
    runner.set_run_state("running", SHOP_START)
    runner.lock()
    return runner


@pytest.mark.parametrize("live", [False, True], ids=["pipe", "terminal"])
def test_watch_follows_a_run_until_it_ends(workdir: Path, live: bool) -> None:
    """`status --watch` redraws while a runner drives the run and stops, exit 0, once it completed."""
    _run(SHOP)
    runner = _running(workdir / ".udroll" / "three-tier-shop")
    looks: list[float] = []

    def sleep(seconds: float) -> None:  # the runner finishes the run between two looks
        looks.append(seconds)
        runner.set_run_state("completed", SHOP_START)
        runner.close()

    obj = {**fakes(), "sleep": sleep, "live": live}
    code, out = invoke(["status", "-w", "--interval", "3"], obj)
    assert code == 0, out
    assert looks == [3.0]
    first, last = (
        out.index("three-tier-shop: running (runner active)"),
        out.index("three-tier-shop: completed"),
    )
    assert first < last
    assert ("The run is completed: stopped watching." in out) == live


def test_watch_ends_quietly_on_ctrl_c(workdir: Path) -> None:
    """Ctrl-C while watching a run that goes on ends the watch with exit 0, not 130."""
    _run(SHOP)
    runner = _running(workdir / ".udroll" / "three-tier-shop")

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    try:
        code, out = invoke(["status", "--watch"], {**fakes(), "sleep": interrupt})
    finally:
        runner.close()
    assert code == 0 and "running (runner active)" in out


def test_watch_reads_a_journal_in_azure_storage(
    workdir: Path, azurite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`status --watch --journal URL` follows a run kept in Azure Storage (Azurite) to its final state."""
    from executor import rollout

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    url = f"{azurite.split('BlobEndpoint=')[1].rstrip(';')}/runs/watch/{uuid.uuid4().hex[:8]}"
    _run(SHOP)
    rollout.export_run(".udroll/three-tier-shop", url)
    obj: dict[str, Any] = {**fakes(), "sleep": lambda _s: pytest.fail("a stopped run is not watched")}
    code, out = invoke(["status", "--watch", "--journal", url], obj)
    assert code == 0, out
    assert out.count("three-tier-shop: completed") == 1 and "tier web: 3 done" in out
