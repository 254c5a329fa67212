"""A journal as a log of records, folded in memory: what a blob journal (executor.azure.blob_journal) reads.

Each record is one JSON line ``{"id": ..., "ops": [[op, ...], ...]}``, appended atomically; the ops of
one record are one transaction. Folding the records in order gives the same rows the SQLite journal
holds, so the runner, `status` and `report` read both alike. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from executor.run.journal import Control, StepRow, VMRow, parse_ts, ts

Op = list[Any]

_STEP = {"id": "", "tier": "", "position": 0, "state": "waiting", "phase": None, "started_at": None}
_STEP.update(ended_at=None, error=None, waiting_for=None, waiting_until=None)
_VM: dict[str, Any] = {"vm": "", "step": "", "state": "pending", "attempts": 0, "token": None}
_VM.update(dict.fromkeys(("intent_at", "triggered_at", "completed_at", "running_at", "healthy_at"), None))
_VM.update(retry_at=None, result=None, message=None, reschedule=0)
_STEP_TIMES = ("started_at", "ended_at", "waiting_until")
_VM_TIMES = ("intent_at", "triggered_at", "completed_at", "running_at", "healthy_at", "retry_at")


def column(value: Any) -> Any:
    """A value as the SQLite journal stores it: timestamps as ISO text, booleans as 0/1."""
    if isinstance(value, dt.datetime):
        return ts(value)
    if isinstance(value, bool):
        return int(value)
    return value


def columns(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: column(value) for name, value in fields.items()}


def encode(record_id: str, ops: Sequence[Op]) -> bytes:
    return (
        json.dumps({"id": record_id, "ops": list(ops)}, default=str, separators=(",", ":")) + "\n"
    ).encode()


def decode(data: bytes) -> list[dict[str, Any]]:
    """Whole records from appended bytes (appends are atomic: every block ends with a newline)."""
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


class JournalLog:
    """The state the records describe; :meth:`apply` folds one more record in."""

    def __init__(self) -> None:
        self.meta: dict[str, str] = {}
        self.steps: dict[str, dict[str, Any]] = {}
        self.vms: dict[str, dict[str, Any]] = {}
        self.triggers: list[tuple[str, str, str, str | None]] = []
        self.transitions: list[dict[str, Any]] = []
        self.gates: list[dict[str, Any]] = []
        self.hooks: list[dict[str, Any]] = []
        self.handled: dict[int, str] = {}
        self.ids: set[str] = set()
        self.created = False

    def apply(self, record: dict[str, Any]) -> None:
        self.ids.add(record["id"])
        for op in record["ops"]:
            getattr(self, "_" + op[0])(*op[1:])

    # --- ops ---------------------------------------------------------------------------------------

    def _create(self, meta: dict[str, str], steps: list[list[Any]]) -> None:
        self.created = True
        self.meta.update(meta)
        for position, (step, tier, vms) in enumerate(steps):
            self.steps[step] = {**_STEP, "id": step, "tier": tier, "position": position}
            for vm in vms:
                self.vms[vm] = {**_VM, "vm": vm, "step": step}

    def _meta(self, values: dict[str, str]) -> None:
        self.meta.update(values)

    def _step(self, step: str, fields: dict[str, Any]) -> None:
        if step in self.steps:
            self.steps[step].update(fields)

    def _vm(self, vm: str, fields: dict[str, Any]) -> None:
        if vm in self.vms:
            self.vms[vm].update(fields)

    def _intent(self, vm: str, at: str) -> None:
        if vm in self.vms:
            row = self.vms[vm]
            row.update(state="intent", intent_at=at, token=None, attempts=row["attempts"] + 1)

    def _trigger(self, vm: str, step: str, token: str | None, at: str) -> None:
        if vm in self.vms:
            self.vms[vm].update(state="triggered", token=token, triggered_at=at)
        self.triggers.append((vm, step, at, token))

    def _transition(self, row: dict[str, Any]) -> None:
        self.transitions.append(row)

    def _gates(self, rows: list[dict[str, Any]]) -> None:
        self.gates.extend(rows)

    def _hook(self, row: dict[str, Any]) -> None:
        self.hooks.append(row)

    def _handled(self, seq: int, at: str) -> None:
        self.handled[seq] = at

    def _next(self, number: int) -> None:
        """The log goes on in its next blob (executor.azure.blob_log): nothing to fold."""

    # --- reads, as the SQLite journal returns them ---------------------------------------------------

    def step_rows(self) -> list[StepRow]:
        rows = sorted(self.steps.values(), key=lambda r: r["position"])
        return [StepRow(**{**r, **{k: parse_ts(r[k]) for k in _STEP_TIMES}}) for r in rows]

    def vm_rows(self, step_id: str | None = None) -> list[VMRow]:
        return [
            VMRow(**{**r, **{k: parse_ts(r[k]) for k in _VM_TIMES}, "reschedule": bool(r["reschedule"])})
            for r in self.vms.values()
            if step_id is None or r["step"] == step_id
        ]

    def pending(self, requests: list[dict[str, Any]]) -> list[Control]:
        """Control requests (1-based by their order in the control log) not handled yet."""
        return [
            Control(seq, r["command"], r.get("arg"))
            for seq, r in enumerate(requests, start=1)
            if seq not in self.handled
        ]
