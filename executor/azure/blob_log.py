"""A log of JSON-lines records in append blobs, written under a lease with append-position conditions:
the storage under executor.azure.blob_journal.

Every record is one append (``{"id": …, "ops": […]}``, atomic), at the position this process last saw:
if someone appended meanwhile, Azure refuses it, the writer reads what it missed and appends again; a
record whose append had landed although its answer was lost is recognised by its id, not doubled.

An append blob takes 50,000 appends. Before one fills up, the writer continues the log in the next
generation (``RUN/journal.2.jsonl``, …): it leases the new blob with its own lease id, then appends a
``next`` record to the full one; readers follow ``next`` records from the first blob on. The first
blob's lease is the run's lock; every generation is written under the same lease id, so a writer whose
lease lapsed can append nowhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobClient, ContainerClient

from executor.azure.blob_lease import HeldLease, error_code, lease_seconds
from executor.azure.blob_store import BlobLocation
from executor.run.journal_log import decode, encode

ROLL_AT = 49_000  # appends to one blob before the log continues in the next (Azure's limit: 50,000)
LOST = ("LeaseIdMismatchWithBlobOperation", "LeaseNotPresentWithBlobOperation", "LeaseLost", "LeaseIdMissing")


class LeaseLost(Exception):
    """This process's lease is gone (expired, taken over): it must not write any more."""


def generation_name(number: int) -> str:
    return "journal.jsonl" if number == 1 else f"journal.{number}.jsonl"


def read_from(blob: BlobClient, offset: int) -> bytes:
    """The blob's bytes from ``offset`` (one GET; nothing when there are none yet)."""
    try:
        return bytes(blob.download_blob(offset=offset).readall())
    except HttpResponseError as exc:
        if error_code(exc) == "InvalidRange":  # an empty blob has no range to read
            return b""
        raise


class BlobLog:
    """The records of one run, read and appended in order; ``apply`` folds each record in."""

    def __init__(
        self, container: ContainerClient, where: BlobLocation, apply: Callable[[dict[str, Any]], None]
    ):
        self._container = container
        self._where = where
        self._apply = apply
        self.lock_blob = self._generation(1)  # its lease is the run's lock
        self.blob = self.lock_blob  # the generation written now
        self.number = 1
        self.length = 0  # bytes of ``blob`` folded in
        self.blocks = 0  # records (appends) in ``blob``
        self.ids: set[str] = set()
        self.lease: HeldLease | None = None
        self.roll_at = ROLL_AT

    def _generation(self, number: int) -> BlobClient:
        return self._container.get_blob_client(self._where.blob(generation_name(number)))

    # --- reading ---------------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Fold in every record appended since, following the log into later generations."""
        while True:
            data = read_from(self.blob, self.length)
            following = None
            for record in decode(data):
                self.ids.add(record["id"])
                self.blocks += 1
                following = next((op[1] for op in record["ops"] if op[0] == "next"), following)
                self._apply(record)
            self.length += len(data)
            if following is None or following <= self.number:
                return
            self._move_to(following, wait=lease_seconds() + 5)

    def _move_to(self, number: int, wait: float) -> None:
        self.number, self.blob, self.length, self.blocks = number, self._generation(number), 0, 0
        if self.lease is not None and number > 1:
            self.lease.extend(self.blob, wait)

    # --- writing ---------------------------------------------------------------------------------

    def append(self, record_id: str, data: bytes) -> None:
        """Append one record under the lease (which the caller holds); fold it in once it landed."""
        if self.blocks >= self.roll_at:
            self._roll()
        while not self._try(record_id, data):
            pass

    def _try(self, record_id: str, data: bytes) -> bool:
        """One attempt at the position last seen: True once the record is in the log."""
        assert self.lease is not None
        if self.lease.lost:
            raise LeaseLost(self.lease.lost)
        try:
            self.blob.append_block(data, appendpos_condition=self.length, lease=self.lease.id)
        except HttpResponseError as exc:
            code = error_code(exc)
            if code in LOST:
                raise LeaseLost(code) from None
            if code != "AppendPositionConditionNotMet":
                raise
            self.catch_up()  # someone appended (or our retried append landed): read, then decide
            return record_id in self.ids
        self.length += len(data)
        self.blocks += 1
        for record in decode(data):
            self.ids.add(record["id"])
            self._apply(record)
        return True

    def _roll(self) -> None:
        """Continue the log in the next generation: lease it first, then point the full one at it."""
        assert self.lease is not None
        number = self.number + 1
        blob = self._generation(number)
        with contextlib.suppress(ResourceExistsError):
            blob.create_append_blob(if_none_match="*")
        self.lease.extend(blob, 0)
        record_id = f"next-{number}"
        data = encode(record_id, [["next", number]])
        while record_id not in self.ids and self.number < number:
            self._try(record_id, data)  # catch_up moves on if the pointer is already there
        if self.number < number:
            self._move_to(number, 0)
