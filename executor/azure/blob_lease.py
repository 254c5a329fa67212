"""Blob leases held for as long as a process lives: the run's runner lock and the per-group fleet locks.

A lease lasts ``LEASE_SECONDS`` (≤ 60 s, Azure's longest finite lease) and a background thread renews it
every third of that, so a runner killed with SIGKILL frees its run within a minute and another machine's
`udroll resume` takes over; a live holder's lease is never broken. The holder (run, host, pid, since)
is written to the blob's metadata under the lease, so a refusal names who has it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import threading
import time
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobLeaseClient

from planner.timefmt import rfc3339

LEASE_SECONDS = 60  # Azure's longest finite lease: a dead holder's lease is gone within a minute
_RETRY_EVERY = 1.0


def lease_seconds() -> int:
    """The lease duration: 60 s, or UDROLL_LEASE_SECONDS (15..60; tests use 15 for quick takeovers)."""
    return min(60, max(15, int(os.environ.get("UDROLL_LEASE_SECONDS", LEASE_SECONDS))))


def error_code(exc: BaseException) -> str:
    """Azure Storage's error code of an SDK error ('' when it has none)."""
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or "")


def holder_info(run: str) -> dict[str, str]:
    """Who takes a lease: written to the blob's metadata so a refused process can name it."""
    since = rfc3339(dt.datetime.now(dt.timezone.utc))
    return {"run": run, "host": socket.gethostname(), "pid": str(os.getpid()), "since": since}


def describe_holder(meta: dict[str, str]) -> str:
    if not meta.get("host"):
        return "another udroll process"
    who = f"pid {meta.get('pid', '?')} on {meta['host']}, since {meta.get('since')}"
    return f"run {meta.get('run', '?')} ({who})"


class LeaseHeld(Exception):
    """Someone else holds the lease; ``holder`` is their metadata."""

    def __init__(self, holder: dict[str, str]):
        super().__init__(describe_holder(holder))
        self.holder = holder


class HeldLease:
    """A lease on a blob (and, with :meth:`extend`, on more blobs under the same id), renewed by a daemon
    thread until :meth:`release` (or the process dies)."""

    def __init__(self, blob: BlobClient, client: BlobLeaseClient, seconds: int):
        self.blob = blob
        self.clients = [client]
        self._names = {blob.blob_name}
        self.seconds = seconds
        self.lost: str | None = None  # why renewal failed: writes under this lease must stop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="udroll-lease", daemon=True)
        self._thread.start()

    @property
    def id(self) -> str:
        return str(self.clients[0].id)

    @classmethod
    def take(
        cls, blob: BlobClient, holder: dict[str, str], wait: float = 0.0, seconds: int | None = None
    ) -> HeldLease:
        """Acquire the blob's lease, waiting up to ``wait`` s for a dead holder's lease to expire."""
        seconds = seconds or lease_seconds()
        client = _acquire(blob, BlobLeaseClient(blob), seconds, wait)
        blob.set_blob_metadata(holder, lease=client)
        return cls(blob, client, seconds)

    def extend(self, blob: BlobClient, wait: float = 0.0) -> None:
        """Lease another blob with this lease's id (LeaseHeld if someone else has it after ``wait`` s)."""
        if blob.blob_name in self._names:
            return
        self.clients.append(_acquire(blob, BlobLeaseClient(blob, lease_id=self.id), self.seconds, wait))
        self._names.add(blob.blob_name)

    def _renew(self) -> None:
        renewed = time.monotonic()
        while not self._stop.wait(self.seconds / 3):
            try:
                for client in list(self.clients):
                    client.renew()
                renewed = time.monotonic()
            except HttpResponseError as exc:
                if exc.status_code in (409, 412) or isinstance(exc, ResourceNotFoundError):
                    self.lost = f"the lease on {self.blob.blob_name} was lost ({error_code(exc)})"
                    return
            except AzureError:
                pass  # unreachable for now: retried at the next tick, until a lease period has passed
            if time.monotonic() - renewed >= self.seconds:
                self.lost = f"the lease on {self.blob.blob_name} could not be renewed for {self.seconds} s"
                return

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self.lost is None:
            for client in self.clients:
                with contextlib.suppress(HttpResponseError):  # else it expires within a lease period
                    client.release()


def _acquire(blob: BlobClient, client: BlobLeaseClient, seconds: int, wait: float) -> BlobLeaseClient:
    deadline = time.monotonic() + wait
    while True:
        try:
            client.acquire(lease_duration=seconds)
            return client
        except ResourceExistsError as exc:
            if error_code(exc) != "LeaseAlreadyPresent" or time.monotonic() >= deadline:
                raise LeaseHeld(read_holder(blob)) from None
            time.sleep(_RETRY_EVERY)


def read_holder(blob: BlobClient) -> dict[str, str]:
    try:
        return dict(blob.get_blob_properties().metadata or {})
    except ResourceNotFoundError:
        return {}


def is_leased(blob: BlobClient) -> bool:
    try:
        props: Any = blob.get_blob_properties()
    except ResourceNotFoundError:
        return False
    return str(props.lease.state) == "leased"
