"""The verdict after a perform-maintenance (executor.run.outcome): documented facts only."""

from __future__ import annotations

from backend_support import DONE, PENDING

from executor.run.backend import VMStatus
from executor.run.outcome import after_operation, no_longer_pending


def test_completed_needs_running_and_no_longer_pending() -> None:
    """MaintenanceCompleted while running completes; while still rebooting it waits."""
    assert (
        after_operation(VMStatus("v", "running", DONE), PENDING, "Succeeded", 0, 900).verdict == "completed"
    )
    assert after_operation(VMStatus("v", "starting", DONE), PENDING, "Succeeded", 60, 900).verdict == "wait"


def test_a_code_that_stays_none_is_waited_for_then_named() -> None:
    """lastOperationResultCode None after the operation: wait up to settle_s, then fail saying what was seen."""
    s = VMStatus("v", "running", PENDING)
    assert after_operation(s, PENDING, "Succeeded", 300, 900).verdict == "wait"
    failed = after_operation(s, PENDING, "Succeeded", 901, 900)
    assert failed.verdict == "failed" and "lastOperationResultCode None" in failed.message


def test_allowed_false_with_the_window_unchanged_is_done() -> None:
    """isCustomerInitiatedMaintenanceAllowed false, code None, same window: no longer pending."""
    quiet = PENDING.model_copy(update={"customer_initiated_allowed": False})
    assert no_longer_pending(PENDING, quiet) and no_longer_pending(PENDING, None)
    assert not no_longer_pending(PENDING, PENDING)


def test_an_unknown_status_is_never_success() -> None:
    """A VM without an instance view is waited for, and at the end named as such."""
    unknown = VMStatus.unknown("v", "listed without an instance view")
    assert after_operation(unknown, PENDING, "Succeeded", 10, 900).verdict == "wait"
    assert "no instance view" in after_operation(unknown, PENDING, "Succeeded", 1000, 900).message
