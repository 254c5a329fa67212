"""The journal store (DESIGN §7): what the runner, `status`, `report` and the controls need of a journal.

Two implementations keep the same guarantees — every write is durable before the call returns, so the
runner journals an *intent* before an Azure call and the *handle* after it, and a crash loses nothing
reported as done:

- :class:`executor.run.journal.Journal` — SQLite in a local directory (the default);
- :class:`executor.azure.blob_journal.BlobJournal` — an append blob in Azure Storage, written with
  append-position conditions under the run's blob lease (runs that outlive one machine).

``location`` is what a user passes to ``--journal`` to reach the run again (a directory or a URL);
``dir`` is a local directory for the files that stay on the machine running it (the events.jsonl audit
trail of this process). ``executor.rollout.open_store`` picks the implementation from the location.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from executor.run.journal import Control, StepRow, VMRow
from planner.errors import InputError

# `status` shows this state for a run that did what its windows allowed and exited (--until-idle):
# nothing runs, and the next `udroll resume --until-idle` continues it when a window opens.
WAITING = "waiting"


class JournalStore(Protocol):
    """A run's durable memory: meta, steps, VMs, triggers, evidence, controls, and the runner's lock."""

    dir: Path

    @property
    def location(self) -> str: ...

    # --- the runner lock (flock locally, a blob lease in Azure Storage) ---
    def lock(self) -> None: ...
    def is_locked(self) -> bool: ...
    def unlock(self) -> None: ...
    def close(self) -> None: ...
    def refresh(self) -> None:
        """Read what other processes wrote since (a no-op where every read is live)."""
        ...

    # --- meta ---
    def meta(self, key: str, default: str | None = None) -> str | None: ...
    def all_meta(self) -> dict[str, str]: ...
    def set_meta(self, key: str, value: str) -> None: ...
    @property
    def run_state(self) -> str: ...
    def set_run_state(self, state: str, at: dt.datetime, message: str = "") -> None: ...

    # --- steps and VMs ---
    def steps(self) -> list[StepRow]: ...
    def step(self, step_id: str) -> StepRow: ...
    def update_step(self, step_id: str, **fields: Any) -> None: ...
    def set_waiting(self, step_id: str, reason: str | None, until: dt.datetime | None) -> None: ...
    def vms(self, step_id: str | None = None) -> list[VMRow]: ...
    def vm(self, vm: str) -> VMRow: ...
    def update_vm(self, vm: str, **fields: Any) -> None: ...
    def record_intent(self, vm: str, at: dt.datetime) -> None: ...
    def record_trigger(self, vm: str, step: str, token: str, at: dt.datetime) -> None: ...
    def triggers(self) -> list[tuple[str, str, dt.datetime]]: ...

    # --- evidence ---
    def record_transition(
        self,
        at: dt.datetime,
        kind: str,
        step: str | None,
        vm: str | None,
        message: str,
        data: dict[str, Any] | None = None,
    ) -> None: ...
    def transitions(self) -> list[dict[str, Any]]: ...
    def record_gates(
        self, at: dt.datetime, step: str, rows: Sequence[tuple[str | None, str, str, bool, str]]
    ) -> None: ...
    def gates(self, step: str | None = None) -> list[dict[str, Any]]: ...
    def record_hook(
        self, at: dt.datetime, step: str, which: str, argv: list[str], rc: int | None, output: str
    ) -> None: ...
    def hooks(self, step: str | None = None) -> list[dict[str, Any]]: ...

    # --- control ---
    def request(self, command: str, arg: str | None, at: dt.datetime) -> None: ...
    def pending_controls(self) -> list[Control]: ...
    def handled(self, control: Control, at: dt.datetime) -> None: ...
    def requests(self) -> list[dict[str, Any]]:
        """Every control request with its ``seq`` and ``handled_at`` (for `journal export`)."""
        ...


def is_url(location: str | Path) -> bool:
    """Whether ``--journal`` names a blob store (a URL) rather than a directory."""
    return str(location).startswith(("https://", "http://"))


SKIPPABLE = ("waiting", "failed")


def refuse_skip(journal: JournalStore, step_id: str) -> None:
    """Raise InputError (exit 2) unless ``step_id`` may be skipped: it must be a step of this run
    that is waiting or failed. A running step is never skipped (its VMs are under maintenance or
    being checked), a done or skipped one has nothing left to skip. Checked before a skip is
    written or requested from a live runner, so the operator hears the refusal, not a log line."""
    known = {s.id: s for s in journal.steps()}
    row = known.get(step_id)
    where = f"--journal {journal.dir}"
    if row is None:
        raise InputError(f"no step {step_id!r} in this run; steps are: {', '.join(known)}")
    if journal.run_state in ("aborted", "completed"):
        raise InputError(
            f"this run {'was aborted' if journal.run_state == 'aborted' else 'completed'}: it never goes "
            "on, so there is nothing to skip; start a new run with `udroll run`"
        )
    if row.state == "running":
        raise InputError(
            f"step {step_id} is running: a running step cannot be skipped (its VMs are in maintenance "
            f"or being checked); wait until it ends, or stop the run with `udroll pause {where}` or "
            f"`udroll abort {where}` (in-flight VMs finish and are recorded)"
        )
    if row.state not in SKIPPABLE:
        raise InputError(
            f"step {step_id} is {row.state}: only a waiting or failed step can be skipped; "
            f"see `udroll status {where}`"
        )
