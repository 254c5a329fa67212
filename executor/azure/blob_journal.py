"""The run journal in Azure Blob Storage: runs that outlive one machine (DESIGN §7, issue 16).

A run at ``…/CONTAINER/RUN`` is append blobs::

    RUN/journal.jsonl   the journal: one JSON line per transaction (executor.run.journal_log), written
                        only under the run's blob lease, each append conditioned on the append position
                        last seen — on a conflict the writer reads what it missed and appends again
                        (executor.azure.blob_log); past 49,000 appends it goes on in journal.2.jsonl, …
    RUN/control.jsonl   pause / abort / skip requests, appended by anyone with write access

The same guarantees as the SQLite journal: an append returns only once Azure Storage has it
(synchronously replicated), so the intent is durable before the Azure call and the handle after; no
write is last-writer-wins. The runner's lock is the lease on journal.jsonl itself, renewed every
20 s: a writer whose lease lapsed (a frozen or killed runner) cannot append any more — another machine's
`udroll resume` took the run over — and a live runner's lease is never broken. Writes from a process
without the lease (`udroll skip` of a stopped run, `journal export`) take a lease for that one write.
Every record has an id, so an append retried by the SDK after a lost response is recognised, not doubled.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import ContainerClient

from executor.azure.blob_lease import (
    HeldLease,
    LeaseHeld,
    describe_holder,
    error_code,
    holder_info,
    is_leased,
    lease_seconds,
)
from executor.azure.blob_log import BlobLog, LeaseLost, read_from
from executor.azure.blob_store import BlobLocation, container_client, parse_location
from executor.run.journal import Control, JournalLocked, StepRow, VMRow, ts
from executor.run.journal_log import JournalLog, Op, columns, encode
from planner import errors
from planner.errors import InputError

CONTROL_BLOB = "control.jsonl"
MAX_RECORD = 4 * 1024 * 1024  # Azure's smallest append-block limit across service versions
BATCH_BYTES = 1024 * 1024  # a batch is flushed as one record once it holds about this much


def local_dir(location: BlobLocation) -> Path:
    """Where this machine keeps its files of a blob run (events.jsonl): below ./.udroll/."""
    return Path(".udroll") / "blob" / re.sub(r"[^A-Za-z0-9._-]+", "_", f"{location.container}/{location.run}")


@contextlib.contextmanager
def _storage_errors(location: BlobLocation) -> Iterator[None]:
    """Sign-in, permission and network problems as clear errors (exit 5), not tracebacks."""
    try:
        yield
    except ClientAuthenticationError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise errors.AuthenticationError(
            f"cannot sign in to {location.account_url}: {first}. Set AZURE_STORAGE_CONNECTION_STRING, "
            "or sign in (az login, a pipeline's OIDC login, a managed identity)"
        ) from None
    except HttpResponseError as exc:
        if exc.status_code != 403:
            raise
        raise errors.AuthorizationError(
            f"{location.url}: access denied ({error_code(exc) or 403}); the identity needs the "
            "'Storage Blob Data Contributor' role on the container (Reader for status and report)"
        ) from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise errors.AzureError(
            f"cannot reach {location.account_url} ({type(exc).__name__}): what was journalled is safe; "
            f"`udroll resume --journal {location.url}` goes on once storage answers"
        ) from None


class BlobJournal:
    """One run's journal in Azure Storage. Open with :meth:`create` (new run) or :meth:`open`."""

    def __init__(self, location: BlobLocation, container: ContainerClient):
        self._where = location
        self._log = JournalLog()
        self._store = BlobLog(container, location, self._log.apply)
        self._control = container.get_blob_client(location.blob(CONTROL_BLOB))
        self.dir = local_dir(location)
        self._requests: list[dict[str, Any]] = []
        self._control_length = 0
        self._batch: list[Op] | None = None
        self._batch_bytes = 0
        self._mutex = threading.RLock()

    @property
    def location(self) -> str:
        return self._where.url  # never the SAS: it would end up in logs and hints

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def _at(cls, url: str, create: bool = False) -> BlobJournal:
        where = parse_location(url)
        with _storage_errors(where):
            container = container_client(where, create=create)
        return cls(where, container)

    @classmethod
    def exists(cls, url: str) -> bool:
        journal = cls._at(url)
        with _storage_errors(journal._where):
            try:
                return int(journal._store.lock_blob.get_blob_properties().size) > 0
            except ResourceNotFoundError:
                return False

    @classmethod
    def create(cls, url: str, meta: dict[str, str], steps: list[tuple[str, str, list[str]]]) -> BlobJournal:
        """A new run at ``url``, leased by this process (a concurrent creator is refused)."""
        journal = cls._at(url, create=True)
        with _storage_errors(journal._where):
            for blob in (journal._store.lock_blob, journal._control):
                # an empty one left by a crashed creator is taken over below
                with contextlib.suppress(ResourceExistsError):
                    blob.create_append_blob(if_none_match="*")
            if journal._store.lock_blob.get_blob_properties().size:
                raise InputError(
                    f"{url} already holds a run's journal: continue it with `udroll resume --journal {url}`, "
                    "look at it with `udroll status`, or pass another --journal URL"
                )
            journal.lock(wait=0)
            if journal._log.created:  # another creator got there between our check and our lease
                journal.close()
                raise InputError(f"{url} already holds a run's journal: pass another --journal URL")
            journal._write([["create", meta, [[s, t, list(v)] for s, t, v in steps]]])
        return journal

    @classmethod
    def open(cls, url: str) -> BlobJournal:
        journal = cls._at(url)
        with _storage_errors(journal._where):
            try:
                journal.refresh()
            except ResourceNotFoundError:
                journal._log.created = False
        if not journal._log.created:
            raise InputError(f"no journal at {journal.location}: pass the --journal URL `udroll run` used")
        return journal

    # --- the lease -------------------------------------------------------------------------------

    def lock(self, wait: float | None = None) -> None:
        """Take the run's lease (waiting up to one lease period for a dead runner's to expire), or say who
        has it; then read whatever the previous holder wrote."""
        self._take(lease_seconds() + 5 if wait is None else wait)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _take(self, wait: float) -> None:
        try:
            lease = HeldLease.take(self._store.lock_blob, holder_info(self._where.run), wait)
        except LeaseHeld as held:
            raise JournalLocked(
                f"another udroll runner, {describe_holder(held.holder)}, holds the lease of {self.location}: "
                f"watch it with `udroll status --journal {self.location}`, or stop it with "
                f"`udroll pause` / `udroll abort --journal {self.location}`"
            ) from None
        with self._mutex:
            self._store.lease = lease
            if self._store.number > 1:  # the generation written now is leased with the same id
                lease.extend(self._store.blob, wait + lease_seconds())
        self.refresh()

    def is_locked(self) -> bool:
        return self._store.lease is not None or is_leased(self._store.lock_blob)

    def unlock(self) -> None:
        if self._store.lease is not None:
            self._store.lease.release()
            self._store.lease = None

    def close(self) -> None:
        self.unlock()

    # --- reading and writing ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Fold in what others appended since (journal and control requests)."""
        with self._mutex, _storage_errors(self._where):
            self._store.catch_up()
            self._refresh_controls()

    def _refresh_controls(self) -> None:
        try:
            data = read_from(self._control, self._control_length)
        except ResourceNotFoundError:
            return
        self._requests += [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
        self._control_length += len(data)

    def _write(self, ops: Sequence[Op]) -> None:
        """One transaction: appended at the position last seen, under the lease; folded in on success."""
        with self._mutex:
            if self._batch is not None:
                self._batch.extend(ops)
                self._batch_bytes += len(json.dumps(list(ops), default=str))
                if self._batch_bytes >= BATCH_BYTES:
                    self._flush()
                return
            if self._store.lease is None:
                with self._leased_once():
                    self._write(ops)
                return
            record_id = uuid.uuid4().hex
            data = encode(record_id, ops)
            if len(data) > MAX_RECORD:
                raise InputError(f"a journal record of {len(data)} bytes exceeds Azure's 4 MiB append block")
            try:
                with _storage_errors(self._where):
                    self._store.append(record_id, data)
            except LeaseLost as lost:
                raise JournalLocked(self._lost_message(str(lost))) from None

    def _lost_message(self, why: str) -> str:
        return (
            f"this runner lost the lease of {self.location} ({why}): another runner may have taken the run "
            "over; this one stops without writing. See `udroll status --journal " + self.location + "`"
        )

    @contextlib.contextmanager
    def _leased_once(self) -> Iterator[None]:
        try:
            self._take(0)
        except JournalLocked:
            raise JournalLocked(
                f"a runner holds {self.location} right now: ask it with `udroll pause`, `abort` or `skip`"
            ) from None
        try:
            yield
        finally:
            self.unlock()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Writes inside the block become one record (one append): for copying a whole run."""
        with self._mutex:
            self._batch, self._batch_bytes = [], 0
            try:
                yield
                self._flush()
            finally:
                self._batch = None

    def _flush(self) -> None:
        ops, self._batch, self._batch_bytes = self._batch or [], None, 0
        try:
            if ops:
                self._write(ops)
        finally:
            self._batch = []

    # --- meta ----------------------------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        return self._log.meta.get(key, default)

    def all_meta(self) -> dict[str, str]:
        return dict(self._log.meta)

    def set_meta(self, key: str, value: str) -> None:
        self._write([["meta", {key: value}]])

    @property
    def run_state(self) -> str:
        return self.meta("state", "new") or "new"

    def set_run_state(self, state: str, at: dt.datetime, message: str = "") -> None:
        self._write([["meta", {"state": state, "state_at": ts(at), "state_message": message}]])

    # --- steps and VMs ---------------------------------------------------------------------------

    def steps(self) -> list[StepRow]:
        with self._mutex:
            return self._log.step_rows()

    def step(self, step_id: str) -> StepRow:
        for row in self.steps():
            if row.id == step_id:
                return row
        raise KeyError(step_id)

    def update_step(self, step_id: str, **fields: Any) -> None:
        if fields:
            self._write([["step", step_id, columns(fields)]])

    def set_waiting(self, step_id: str, reason: str | None, until: dt.datetime | None) -> None:
        self.update_step(step_id, waiting_for=reason, waiting_until=until)

    def vms(self, step_id: str | None = None) -> list[VMRow]:
        with self._mutex:
            return self._log.vm_rows(step_id)

    def vm(self, vm: str) -> VMRow:
        for row in self.vms():
            if row.vm == vm:
                return row
        raise KeyError(vm)

    def update_vm(self, vm: str, **fields: Any) -> None:
        if fields:
            self._write([["vm", vm, columns(fields)]])

    def record_intent(self, vm: str, at: dt.datetime) -> None:
        self._write([["intent", vm, ts(at)]])

    def record_trigger(self, vm: str, step: str, token: str, at: dt.datetime) -> None:
        self._write([["trigger", vm, step, token, ts(at)]])

    def triggers(self) -> list[tuple[str, str, dt.datetime]]:
        with self._mutex:
            return [(vm, step, dt.datetime.fromisoformat(at)) for vm, step, at, _ in self._log.triggers]

    # --- evidence --------------------------------------------------------------------------------

    def record_transition(
        self,
        at: dt.datetime,
        kind: str,
        step: str | None,
        vm: str | None,
        message: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        payload = json.loads(json.dumps(data or {}, default=str))
        row = {"at": ts(at), "kind": kind, "step": step, "vm": vm, "message": message, "data": payload}
        self._write([["transition", row]])

    def transitions(self) -> list[dict[str, Any]]:
        with self._mutex:
            return [dict(row) for row in self._log.transitions]

    def record_gates(
        self, at: dt.datetime, step: str, rows: Sequence[tuple[str | None, str, str, bool, str]]
    ) -> None:
        out = [
            {
                "at": ts(at),
                "step": step,
                "vm": vm,
                "kind": kind,
                "target": target,
                "ok": bool(ok),
                "detail": d,
            }
            for vm, kind, target, ok, d in rows
        ]
        if out:
            self._write([["gates", out]])

    def gates(self, step: str | None = None) -> list[dict[str, Any]]:
        with self._mutex:
            return [dict(g) for g in self._log.gates if step is None or g["step"] == step]

    def record_hook(
        self, at: dt.datetime, step: str, which: str, argv: list[str], rc: int | None, output: str
    ) -> None:
        row = {"at": ts(at), "step": step, "which": which, "argv": list(argv), "rc": rc, "output": output}
        self._write([["hook", row]])

    def hooks(self, step: str | None = None) -> list[dict[str, Any]]:
        with self._mutex:
            return [dict(h) for h in self._log.hooks if step is None or h["step"] == step]

    # --- control ---------------------------------------------------------------------------------

    def request(self, command: str, arg: str | None, at: dt.datetime) -> None:
        line = json.dumps({"at": ts(at), "command": command, "arg": arg}) + "\n"
        with _storage_errors(self._where):
            try:
                self._control.append_block(line.encode())
            except ResourceNotFoundError:
                self._control.create_append_blob(if_none_match="*")
                self._control.append_block(line.encode())

    def pending_controls(self) -> list[Control]:
        with self._mutex:
            self._refresh_controls()
            return self._log.pending(self._requests)

    def requests(self) -> list[dict[str, Any]]:
        """Every control request, handled or not (for `journal export`)."""
        with self._mutex:
            return [
                dict(r, seq=i, handled_at=self._log.handled.get(i)) for i, r in enumerate(self._requests, 1)
            ]

    def handled(self, control: Control, at: dt.datetime) -> None:
        self._write([["handled", control.seq, ts(at)]])
