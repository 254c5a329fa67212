"""The emulator's request log: one JSON object per answered request, the ground truth of tests.

Fields: ``wall`` and ``sim`` (ISO times), ``method``, ``path`` (with the query), ``status``,
``kind`` (``arm``, ``health`` or ``emulator``), ``vm`` (the VM's ARM id, or null), ``vms`` (for a
scale set perform-maintenance: the instances it started), ``operation`` (the long-running operation
id a perform-maintenance started or a poll asked about), ``client_request_id``
(``x-ms-client-request-id``: azure-core keeps it across retries and polls of one call) and ``error``
(the CloudError code of a failed answer).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any


class RequestLog:
    """Thread-safe, in memory, and appended to a JSON-lines file when given one."""

    def __init__(self, path: str | Path | None = None):
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8", buffering=1) if path else None  # noqa: SIM115

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)
            if self._file is not None:
                self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
