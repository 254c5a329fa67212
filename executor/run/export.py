"""Copy a run between journal stores (`udroll journal export`): a laptop run into a pipeline's blob
store, or a pipeline run home for inspection. Everything a `resume`, `status` or `report` reads is
copied — meta, steps, VMs, triggers, transitions, gate evidence, hooks, control requests; the events.jsonl
audit trail stays with the machine that wrote it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from executor.run.journal import Control
from executor.run.store import JournalStore

_STEP_FIELDS = ("state", "phase", "started_at", "ended_at", "error", "waiting_for", "waiting_until")
_VM_FIELDS = (
    "state", "attempts", "token", "intent_at", "triggered_at", "completed_at", "running_at",
    "healthy_at", "retry_at", "result", "message", "reschedule",
)  # fmt: skip


def layout(source: JournalStore) -> list[tuple[str, str, list[str]]]:
    """The run's steps and their VMs, as a store is created with."""
    vms = source.vms()
    return [(s.id, s.tier, [v.vm for v in vms if v.step == s.id]) for s in source.steps()]


def copy_rows(source: JournalStore, target: JournalStore) -> None:
    """Everything recorded in ``source`` into ``target``, freshly created with its meta and layout."""
    batch: Callable[[], AbstractContextManager[Any]] = getattr(target, "batch", contextlib.nullcontext)
    with batch():
        tokens = {v.vm: v.token for v in source.vms()}
        for vm, step, at in source.triggers():
            target.record_trigger(vm, step, tokens.get(vm) or "", at)
        for row in source.steps():
            target.update_step(row.id, **{name: getattr(row, name) for name in _STEP_FIELDS})
        for vm_row in source.vms():
            target.update_vm(vm_row.vm, **{name: getattr(vm_row, name) for name in _VM_FIELDS})
        for t in source.transitions():
            at = dt.datetime.fromisoformat(t["at"])
            target.record_transition(at, t["kind"], t["step"], t["vm"], t["message"] or "", t["data"])
        for g in source.gates():
            probe = (g["vm"], g["kind"], g["target"], bool(g["ok"]), g["detail"] or "")
            target.record_gates(dt.datetime.fromisoformat(g["at"]), g["step"], [probe])
        for h in source.hooks():
            at = dt.datetime.fromisoformat(h["at"])
            target.record_hook(at, h["step"], h["which"], list(h["argv"]), h["rc"], h["output"] or "")
    for request in source.requests():
        at = dt.datetime.fromisoformat(request["at"])
        target.request(request["command"], request["arg"], at)
        if request["handled_at"]:
            control = Control(int(request["seq"]), request["command"], request["arg"])
            target.handled(control, dt.datetime.fromisoformat(request["handled_at"]))
