"""After perform-maintenance: is the VM done, still settling, or failed? Decided only from facts Azure
documents (issue 12): the operation's terminal status, PowerState/running, and the maintenance no
longer pending — ``maintenanceRedeployStatus`` absent, ``lastOperationResultCode`` MaintenanceCompleted,
or ``isCustomerInitiatedMaintenanceAllowed`` false with the self-service window unchanged. A code that
stays ``None`` while the VM reboots, a 200 without a body, an operation that ends early: none fails a VM
before ``settle_s`` has passed since the operation ended; the message then says what was seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from executor.run.backend import VMStatus
from planner.fleet import Maintenance
from planner.timefmt import duration

Verdict = Literal["wait", "completed", "retry_later", "aborted", "failed"]


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    message: str


def no_longer_pending(before: Maintenance | None, now: Maintenance | None) -> bool:
    """The maintenance the VM had before its trigger is no longer pending."""
    if now is None or now.last_result == "MaintenanceCompleted":
        return True
    window_kept = before is not None and before.self_service_window == now.self_service_window
    return not now.customer_initiated_allowed and now.last_result == "None" and window_kept


def after_operation(
    s: VMStatus, before: Maintenance | None, op_status: str, waited_s: float, settle_s: float
) -> Outcome:
    """The verdict on a VM whose operation ended (``op_status``: Succeeded or Failed) ``waited_s`` ago."""
    m = s.maintenance
    if s.known and m is not None and m.last_result == "RetryLater":
        return Outcome("retry_later", "RetryLater")
    if s.known and m is not None and m.last_result == "MaintenanceAborted":
        return Outcome("aborted", "MaintenanceAborted: Azure will reschedule this VM")
    if s.known and s.power_state == "running" and no_longer_pending(before, m):
        return Outcome("completed", "MaintenanceCompleted")
    if waited_s < settle_s:
        return Outcome("wait", "settling")
    seen = "no instance view" if not s.known else _seen(s)
    return Outcome(
        "failed",
        f"the operation ended {op_status or 'without a status'} {duration(waited_s)} ago, but Azure still "
        f"shows {seen} (waited {duration(settle_s)} for it to settle)",
    )


def _seen(s: VMStatus) -> str:
    m = s.maintenance
    if m is None:
        return f"power state {s.power_state}"
    return (
        f"power state {s.power_state}, lastOperationResultCode {m.last_result}, "
        f"isCustomerInitiatedMaintenanceAllowed {str(m.customer_initiated_allowed).lower()}"
    )
