"""What the maintenance phase keeps per VM between turns, and the small pure helpers around it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from executor.run.gates import HealthGate
from planner.errors import AuthenticationError, AuthorizationError, AzureError
from planner.fleet import VM

_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass
class VMWork:
    """What the step worker knows about one VM between turns (the journal holds the durable part)."""

    vm: VM
    state: str
    due: dt.datetime
    token: str | None = None
    needs_status: bool = False  # the next turn reads its status (precheck, reconcile, result, power)
    op_done: bool = False
    refused: str | None = None  # a 409 on trigger, kept until the status explains it
    gate: HealthGate | None = None
    backoff: float = 0.0
    retries: int = 0
    expected_at: dt.datetime | None = None  # when a started maintenance should be done
    early: bool = False  # the next status read is an early look after a trigger (or on resume)
    retried: bool = False  # it answered RetryLater in this run: look early after its next trigger
    ready: bool = False  # checked and eligible: to be triggered this turn
    op_status: str = ""  # the operation's terminal status, once polled
    op_ended: dt.datetime | None = None
    split: bool = False  # its scale set batch was refused: triggered on its own
    unknown_told: bool = False  # "no instance view" already told for this VM


def trigger_units(items: list[VMWork], batch: bool) -> list[list[VMWork]]:
    """One call per VM, except instances of one uniform scale set, started together when the
    backend can (``batch``); an instance whose batch was refused goes on its own."""
    if not batch:
        return [[w] for w in items]
    units: dict[tuple[str, ...], list[VMWork]] = {}
    for w in items:
        vm = w.vm
        if vm.orchestration == "Uniform" and vm.scale_set and not w.split:
            key: tuple[str, ...] = (vm.subscription.lower(), vm.resource_group.lower(), vm.scale_set.lower())
        else:
            key = (vm.id,)
        units.setdefault(key, []).append(w)
    return list(units.values())


def answer_of(call: Callable[[_T], _R], arg: _T) -> _R | AzureError:
    """An Azure call's result, or its error as a value to sort out per VM; a credential or
    permission problem is not per VM and stops the run."""
    try:
        return call(arg)
    except (AuthenticationError, AuthorizationError):
        raise
    except AzureError as exc:
        return exc
