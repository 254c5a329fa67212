"""Per-group fleet locks in Azure Storage: a lease on one blob per group ARM id, so two runs on two
machines never walk the same availability set (or zone group) at once (DESIGN §6, issue 16).

The blobs live in the container ``udroll-locks`` of the run's storage account (one per account, whatever
container the runs use), named by the lower-cased group id. A lease lasts a minute and is renewed while
the run holds it; a refusal names the holder (run, host, pid, since). Same shape as the machine-wide
file locks of executor.run.locks: ``acquire(groups, holder)`` then ``release()``.
"""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import ContainerClient

from executor.azure.blob_lease import HeldLease, LeaseHeld, describe_holder, holder_info
from executor.azure.blob_store import parse_location, service_client
from planner.errors import InputError

LOCKS_CONTAINER = "udroll-locks"


class BlobGroupLocks:
    """Leases on the groups a run walks, taken all or none."""

    def __init__(self, url: str, wait: float = 0.0):
        """``url``: the run's ``--journal`` URL (its account holds the locks); ``wait``: how long to wait
        for a group whose holder may be gone (its lease expires within a minute)."""
        where = parse_location(url)
        self._container: ContainerClient = service_client(where).get_container_client(LOCKS_CONTAINER)
        self._wait = wait
        self._held: list[HeldLease] = []

    def acquire(self, groups: list[str], holder: str) -> None:
        """Lease every group (sorted, so two runs never deadlock); InputError naming the holder of the
        first group someone else has, after releasing what was taken."""
        with contextlib.suppress(ResourceExistsError):
            self._container.create_container()
        for group in sorted({g.lower() for g in groups}):
            blob = self._container.get_blob_client(
                "groups" + (group if group.startswith("/") else "/" + group)
            )
            with contextlib.suppress(ResourceExistsError):
                blob.upload_blob(b"", overwrite=False)
            try:
                self._held.append(HeldLease.take(blob, holder_info(holder), self._wait))
            except LeaseHeld as held:
                self.release()
                raise InputError(
                    f"group {group} is being walked by {describe_holder(held.holder)}: two runs never walk "
                    "the same group at once; wait for that run to end, or pause it"
                ) from None

    def release(self) -> None:
        for lease in self._held:
            lease.release()
        self._held = []
