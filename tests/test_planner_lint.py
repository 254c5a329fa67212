"""Lint warnings: each code by example, with its VMs, in a fixed order."""

from __future__ import annotations

import datetime as dt
from typing import Any

from planner.build import build_plan
from planner.fleet import VM, Fleet
from planner.spec import Spec

UTC = dt.timezone.utc
START = dt.datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
PENDING = {
    "customer_initiated_allowed": True,
    "self_service_window": ["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"],
    "scheduled_window": ["2026-12-28T00:00:00Z", "2027-01-10T00:00:00Z"],
}


def vm(name: str, rg: str = "rg", **facts: Any) -> VM:
    facts.setdefault("maintenance", PENDING)
    return VM.model_validate(
        {
            "id": f"/subscriptions/s/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}",
            "name": name,
            "resource_group": rg,
            **facts,
        }
    )


def warnings(tiers: list[dict[str, Any]], *vms: VM) -> dict[str, tuple[str, ...]]:
    spec = Spec.model_validate({"version": 1, "name": "t", "tiers": tiers})
    plan = build_plan(spec, Fleet(captured_at=START, vms=vms), START)
    return {w.code: tuple(v.rsplit("/", 1)[1] for v in w.vms) for w in plan.warnings}


ONE_TIER = [{"name": "a", "select": {"resource_group": "rg"}}]


def test_a_tier_in_one_update_domain_goes_fully_down() -> None:
    """Two VMs of a tier in UD 0 of one availability set: single-domain."""
    found = warnings(
        ONE_TIER,
        vm("a", availability_set="as", update_domain=0),
        vm("b", availability_set="as", update_domain=0),
    )
    assert found["single-domain"] == ("a", "b")


def test_scheduled_window_started_deallocated_not_allowed_and_temp_disk() -> None:
    """Each VM fact the seeds warn about gives its own warning naming that VM, in CODES order."""
    started = {**PENDING, "scheduled_window": ["2026-11-22T00:00:00Z", "2026-12-01T00:00:00Z"]}
    found = warnings(
        ONE_TIER,
        vm("s", zone="1", maintenance=started),
        vm("d", zone="2", power_state="deallocated"),
        vm("n", zone="3", maintenance={**PENDING, "customer_initiated_allowed": False}),
        vm("e", zone="1", ephemeral_os_disk=True),
    )
    assert list(found) == ["scheduled-window-started", "deallocated", "not-allowed", "temp-disk"]
    assert found["scheduled-window-started"] == ("s",)
    assert found["deallocated"] == ("d",) and found["not-allowed"] == ("n",) and found["temp-disk"] == ("e",)


def test_a_lone_availability_set_tier_gains_nothing_over_azures_walk() -> None:
    """One availability-set tier in default order, nothing depending on it: azure-walk-equivalent."""
    sets = [vm(f"v{u}", availability_set="as", update_domain=u) for u in range(3)]
    assert warnings(ONE_TIER, *sets)["azure-walk-equivalent"] == ("v0", "v1", "v2")
    ordered = [{**ONE_TIER[0], "update_domain_order": [2, 1, 0]}]
    assert "azure-walk-equivalent" not in warnings(ordered, *sets)


def test_skipped_vms_are_not_warned_about() -> None:
    """A deallocated VM with nothing pending is not a concern of this rollout."""
    assert warnings(ONE_TIER, vm("d", power_state="deallocated", maintenance=None)) == {}
