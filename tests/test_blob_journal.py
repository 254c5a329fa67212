"""The blob journal against Azurite (the real azure-storage-blob SDK, never mocked): it reads back what the
SQLite journal would, writes only under the run's lease with append-position conditions, recognises its
own retried append, refuses a second runner naming it, and stops a runner whose lease was taken over."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor import rollout
from executor.azure import blob_log
from executor.azure.blob_journal import BlobJournal
from executor.azure.blob_locks import BlobGroupLocks
from executor.azure.blob_store import parse_location
from executor.run.journal import Journal, JournalLocked
from executor.run.journal_log import encode
from planner.errors import InputError

T0 = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)
STEPS = [("db/0", "db", ["vm-a", "vm-b"]), ("web/1", "web", ["vm-c"])]


@pytest.fixture
def storage(azurite: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Azurite reached the way udroll reaches it: the connection string in the environment."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    monkeypatch.setenv("UDROLL_LEASE_SECONDS", "15")
    return azurite.split("BlobEndpoint=")[1].rstrip(";")


def _url(endpoint: str) -> str:
    return f"{endpoint}/runs/test/{uuid.uuid4().hex[:8]}"


def test_urls_name_account_container_and_run() -> None:
    """Both URL forms split into account, container and run; anything else is a clear error."""
    azure = parse_location("https://acct.blob.core.windows.net/udroll/shop/prod")
    assert (azure.account_url, azure.container, azure.run) == (
        "https://acct.blob.core.windows.net",
        "udroll",
        "shop/prod",
    )
    local = parse_location("http://127.0.0.1:10000/devstoreaccount1/runs/shop")
    assert (local.account_url, local.container, local.run) == (
        "http://127.0.0.1:10000/devstoreaccount1",
        "runs",
        "shop",
    )
    with pytest.raises(InputError, match="CONTAINER/RUN"):
        parse_location("https://acct.blob.core.windows.net/only-a-container")
    with pytest.raises(InputError, match="'Runs' is not a valid name"):
        parse_location("https://acct.blob.core.windows.net/Runs/shop")


# one operation on a journal: (method, args) drawn by hypothesis, applied to SQLite and to the blob alike
_AT = st.integers(0, 10_000).map(lambda s: T0 + dt.timedelta(seconds=s))
_VM = st.sampled_from(["vm-a", "vm-b", "vm-c"])
_STEP = st.sampled_from(["db/0", "web/1"])
_OPS = st.one_of(
    st.tuples(st.just("record_intent"), st.tuples(_VM, _AT)),
    st.tuples(st.just("record_trigger"), st.tuples(_VM, _STEP, st.text(max_size=5), _AT)),
    st.tuples(st.just("update_vm"), st.tuples(_VM, st.fixed_dictionaries({"state": st.sampled_from(["completed", "healthy", "failed"]), "completed_at": _AT, "reschedule": st.booleans()}))),
    st.tuples(st.just("update_step"), st.tuples(_STEP, st.fixed_dictionaries({"state": st.sampled_from(["running", "done"]), "ended_at": _AT, "error": st.none() | st.text(max_size=8)}))),
    st.tuples(st.just("set_run_state"), st.tuples(st.sampled_from(["running", "paused", "waiting"]), _AT, st.text(max_size=8))),
    st.tuples(st.just("record_transition"), st.tuples(_AT, st.just("x"), _STEP, st.none(), st.text(max_size=8), st.just({"n": 1}))),
    st.tuples(st.just("record_gates"), st.tuples(_AT, _STEP, st.just([("vm-a", "http", "u", True, "200")]))),
    st.tuples(st.just("record_hook"), st.tuples(_AT, _STEP, st.just("before_step"), st.just(["echo"]), st.just(0), st.text(max_size=8))),
)  # fmt: skip


def _reads(journal: Any) -> tuple[Any, ...]:
    return (
        journal.steps(), journal.vms(), journal.triggers(), journal.transitions(), journal.gates(),
        journal.hooks(), journal.run_state, journal.meta("state_message"), journal.all_meta(),
    )  # fmt: skip


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_OPS, max_size=12))
def test_blob_journal_reads_back_what_sqlite_does(
    storage: str, tmp_path_factory: Any, ops: list[Any]
) -> None:
    """Any sequence of writes reads back the same from the blob journal (reopened elsewhere) as from SQLite."""
    local = Journal.create(tmp_path_factory.mktemp("j"), {"plan": "{}"}, STEPS)
    url = _url(storage)
    blob = BlobJournal.create(url, {"plan": "{}"}, STEPS)
    try:
        for name, args in ops:
            for journal in (local, blob):
                if name.startswith("update_"):
                    getattr(journal, name)(args[0], **args[1])
                else:
                    getattr(journal, name)(*args)
    finally:
        blob.close()
    reopened = BlobJournal.open(url)
    assert _reads(reopened) == _reads(local)
    local.close()


def test_writers_that_raced_both_land_in_order(storage: str) -> None:
    """Two processes writing one run: the stale one's append is refused by position, it reads and re-appends."""
    url = _url(storage)
    BlobJournal.create(url, {}, STEPS).close()
    first, second = BlobJournal.open(url), BlobJournal.open(url)
    first.update_step("db/0", state="skipped")
    second.update_step("web/1", state="skipped")  # its view is stale: the append position moved
    states = {s.id: s.state for s in BlobJournal.open(url).steps()}
    assert states == {"db/0": "skipped", "web/1": "skipped"}


def test_a_retried_append_that_had_landed_is_not_doubled(storage: str) -> None:
    """An append whose answer was lost (so it is retried) is recognised by its record id, not written twice."""
    url = _url(storage)
    journal = BlobJournal.create(url, {}, STEPS)
    record_id = "retried-record"
    data = encode(record_id, [["intent", "vm-a", T0.isoformat()]])
    assert journal._store.lease is not None
    journal._store.blob.append_block(data, lease=journal._store.lease.id)  # the first try
    journal._store.append(record_id, data)  # the retry, from the position before the first try
    journal.close()
    row = BlobJournal.open(url).vm("vm-a")
    assert (row.state, row.attempts) == ("intent", 1)


def test_the_log_goes_on_in_the_next_blob_under_the_same_lease(
    storage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its append limit the journal continues in journal.2.jsonl, …: read back whole from elsewhere,
    every generation fenced by the run's lease, and a later holder writes on."""
    monkeypatch.setattr(blob_log, "ROLL_AT", 3)
    local, url = Journal.create(tmp_path / "j", {}, STEPS), _url(storage)
    runner = BlobJournal.create(url, {}, STEPS)
    for i in range(10):
        for journal in (local, runner):
            journal.record_transition(T0 + dt.timedelta(seconds=i), "x", "db/0", None, f"n{i}")
    assert runner._store.number >= 3
    other = BlobJournal.open(url)
    assert _reads(other) == _reads(local)
    with pytest.raises(HttpResponseError):
        other._store.blob.append_block(b"{}\n")  # the generation written now is leased too
    runner.close()
    other.lock(wait=0)
    for journal in (local, other):
        journal.record_transition(T0, "y", "web/1", None, "after the takeover")
    other.close()
    assert _reads(BlobJournal.open(url)) == _reads(local)


def test_second_runner_is_refused_naming_the_holder(storage: str) -> None:
    """While a runner holds the run's lease, another lock() is refused with its host and pid; controls still land."""
    url = _url(storage)
    runner = BlobJournal.create(url, {}, STEPS)
    other = BlobJournal.open(url)
    assert other.is_locked()
    with pytest.raises(JournalLocked, match=r"pid \d+ on .*since"):
        other.lock(wait=0)
    with pytest.raises(JournalLocked, match="udroll pause"):
        other.update_step("db/0", state="skipped")  # a direct write needs the lease
    other.request("pause", None, T0)
    assert [c.command for c in runner.pending_controls()] == ["pause"]
    runner.close()
    other.update_step("db/0", state="skipped")  # no runner: a one-off lease for the write
    assert BlobJournal.open(url).step("db/0").state == "skipped"
    assert not other.is_locked()


def test_a_runner_whose_lease_was_taken_over_writes_nothing(storage: str) -> None:
    """Fencing: once another process holds the lease, the old runner's next write fails and is not appended."""
    url = _url(storage)
    old = BlobJournal.create(url, {}, STEPS)
    assert old._store.lease is not None
    old._store.lease.clients[0].break_lease(
        lease_break_period=0
    )  # what expiry does to a frozen runner's lease
    new = BlobJournal.open(url)
    new.lock(wait=0)
    with pytest.raises(JournalLocked, match="lost the lease"):
        old.record_intent("vm-a", T0)
    new.close()
    old.close()
    assert BlobJournal.open(url).vm("vm-a").attempts == 0


def test_group_locks_refuse_a_second_run_naming_the_first(storage: str) -> None:
    """A group leased by one run is refused to another (naming run and host), and free again once released."""
    url = _url(storage)
    group = "/subscriptions/s/resourceGroups/rg-db/providers/Microsoft.Compute/availabilitySets/as-db"
    first, second = BlobGroupLocks(url), BlobGroupLocks(url)
    first.acquire([group, "/subscriptions/s/resourcegroups/rg-web/zone/1"], "shop-prod")
    with pytest.raises(InputError, match=r"as-db is being walked by run shop-prod \(pid \d+ on "):
        second.acquire([group.upper()], "shop-canary")
    first.release()
    second.acquire([group], "shop-canary")
    second.release()


def test_export_round_trip_keeps_status_and_report(storage: str, tmp_path: Path) -> None:
    """A run copied to Azure Storage and back reads the same: meta, steps, VMs, triggers, evidence, controls."""
    local = Journal.create(tmp_path / "home", {"plan": '{"steps": []}', "state": "paused"}, STEPS)
    local.record_intent("vm-a", T0)
    local.record_trigger("vm-a", "db/0", "tok", T0)
    local.record_transition(T0, "step-started", "db/0", None, "2 VMs", {"vms": 2})
    local.request("pause", None, T0)
    local.handled(local.pending_controls()[0], T0)
    local.close()
    url = _url(storage)
    rollout.export_run(tmp_path / "home", url)
    rollout.export_run(url, tmp_path / "back")
    original, back = Journal.open(tmp_path / "home"), Journal.open(tmp_path / "back")
    assert _reads(back) == _reads(original)
    assert back.requests() == original.requests()
    assert back.run_state == "paused" and back.triggers()[0][0] == "vm-a"


def test_storage_that_refuses_the_key_is_a_clear_error(azurite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A storage account that refuses the credentials: exit 5 naming the role to grant, not a traceback."""
    from azurite import KEY
    from executor_support import invoke

    wrong = base64.b64encode(b"not the account key" * 3).decode()
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.replace(KEY, wrong))
    code, output = invoke(["status", "--journal", _url(azurite.split("BlobEndpoint=")[1].rstrip(";"))])
    assert code == 5 and "Storage Blob Data Contributor" in output, output


def test_export_command_refuses_a_running_run_and_copies_a_stopped_one(tmp_path: Path) -> None:
    """`udroll journal export` refuses a run a runner holds (pause it first) and copies a stopped one."""
    from executor_support import invoke

    source = Journal.create(tmp_path / "home", {"plan": "{}"}, STEPS)  # created locked, like a runner
    source.update_step("db/0", state="done", ended_at=T0)
    code, output = invoke(
        ["journal", "export", "--journal", str(tmp_path / "home"), "--to", str(tmp_path / "c")]
    )
    assert code == 2 and "pause it first" in output, output
    source.close()
    code, output = invoke(
        ["journal", "export", "--journal", str(tmp_path / "home"), "--to", str(tmp_path / "c")]
    )
    assert code == 0 and "udroll resume --journal" in output, output
    assert _reads(Journal.open(tmp_path / "c")) == _reads(Journal.open(tmp_path / "home"))


def test_two_runs_with_blob_journals_that_share_a_group_never_overlap(storage: str, tmp_path: Path) -> None:
    """A run whose journal is in Storage holds a lease per group it walks: another run on another URL
    that would walk the same availability set is refused at start (exit 2) naming the holder, and
    nothing is triggered; once the lease is released the groups can be taken again."""
    from executor_support import SHOP, fakes, invoke, shop

    from executor.run.locks import group_keys
    from planner.build import build_plan

    loaded = shop()
    assert loaded.inventory is not None
    plan = build_plan(
        loaded.spec, loaded.inventory, loaded.spec.window.not_before or loaded.inventory.captured_at
    )
    first = BlobGroupLocks(_url(storage))
    first.acquire(sorted(group_keys(plan)), "the-first-run")
    try:
        deps = fakes()
        code, out = invoke(["run", str(SHOP), "--journal", _url(storage), "--yes"], deps)
        assert code == 2, out
        assert "being walked by" in out and "the-first-run" in out
        assert deps["backend"].triggers() == []
    finally:
        first.release()
    again = BlobGroupLocks(_url(storage))
    again.acquire(sorted(group_keys(plan)), "the-next-run")
    again.release()
