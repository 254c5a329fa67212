"""Run events (DESIGN §3 Reporter): the runner emits them, the CLI renders them, a log records them.

- :class:`Reporter` — the protocol; :class:`NullReporter` ignores everything.
- :class:`RecordingReporter` — keeps every event in memory, for tests.
- :class:`JsonLinesReporter` — appends one JSON object per event to ``events.jsonl`` in the journal
  directory: the audit trail of the rollout, always on.
- :class:`FanOut` — sends each event to several reporters.

Event kinds (``kind``): run-started, run-resumed, run-finished, run-paused, run-halted, step-waiting,
run-waiting, step-started, step-ended, step-failed, step-skipped, vm-skipped, vm-intent, vm-triggered,
vm-polled, vm-result, vm-retry, vm-running, vm-reconciled, gate, vm-healthy, vm-failed, hook,
baseline, control, warning, azure-retry, behind (the runner fell behind its plan), on-time
(it caught up).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from executor.run.private import open_private
from planner.values import format_timestamp


@dataclass(frozen=True)
class Event:
    """One thing that happened, at a time of the run's clock."""

    kind: str
    at: dt.datetime
    step: str | None = None
    vm: str | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": format_timestamp(self.at), "kind": self.kind}
        if self.step is not None:
            out["step"] = self.step
        if self.vm is not None:
            out["vm"] = self.vm
        if self.message:
            out["message"] = self.message
        if self.data:
            out["data"] = self.data
        return out


class Reporter(Protocol):
    def emit(self, event: Event) -> None:
        """Observe one event; must not raise for ordinary I/O trouble of its own."""
        ...


class NullReporter:
    def emit(self, event: Event) -> None:
        pass


class RecordingReporter:
    """Keeps every event, for tests: ``kinds()`` and ``of(kind)`` make assertions short."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


class JsonLinesReporter:
    """Appends each event as one JSON line and flushes it: the audit trail survives a crash."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        # 0600 whatever the umask: the trail names VMs, hooks and their output (executor.run.private)
        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        line = json.dumps(event.to_dict(), sort_keys=False, default=str)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()


class FanOut:
    def __init__(self, *reporters: Reporter):
        self.reporters = reporters

    def emit(self, event: Event) -> None:
        for reporter in self.reporters:
            reporter.emit(event)
