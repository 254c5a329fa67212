"""QA regressions: wrong documents given to the CLI get one clear message; fleet table wording."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from executor_support import invoke

from executor.azure.fleet_view import render_table, scale_set_rows, vm_rows
from planner.fleet import VM

SHOP = str(Path(__file__).resolve().parent.parent / "plans" / "three-tier-shop.yaml")
NOW = dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc)


def _vm(last_result: str | None) -> VM:
    return VM.model_validate(
        {
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-1",
            "name": "vm-1",
            "resource_group": "rg",
            "maintenance": {
                "customer_initiated_allowed": True,
                "self_service_window": ["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"],
                "scheduled_window": ["2026-12-28T00:00:00Z", "2027-01-10T00:00:00Z"],
                "last_result": last_result,
            },
        }
    )


def test_plan_json_given_as_spec_is_one_problem(tmp_path: Path) -> None:
    """`udroll plan PLAN.json` says it is a plan, not a spec, in one problem instead of ten unknown keys."""
    plan_file = tmp_path / "plan.json"
    made, output = invoke(["plan", SHOP, "-o", "json", "--out", str(plan_file)])
    assert made == 0, output
    code, output = invoke(["plan", str(plan_file)])
    assert code == 2
    assert "1 problem found" in output
    assert "udroll/plan@1 document, not a spec" in output


def test_fleet_snapshot_given_to_validate_says_use_fleet(tmp_path: Path) -> None:
    """`udroll validate FLEET.json` says the file is a fleet snapshot and belongs to --fleet."""
    fleet_file = tmp_path / "fleet.json"
    fleet_file.write_text(json.dumps({"format": "udroll/fleet@1", "vms": []}))
    code, output = invoke(["validate", str(fleet_file)])
    assert code == 2
    assert "udroll/fleet@1 document, not a spec" in output
    assert "--fleet" in output


def test_spec_given_as_fleet_says_it_is_a_spec() -> None:
    """`udroll plan SPEC --fleet SPEC` explains that --fleet takes a JSON snapshot, not a spec."""
    code, output = invoke(["plan", SHOP, "--fleet", SHOP])
    assert code == 2
    assert "looks like a spec" in output
    assert "udroll discover" in output


def test_fleet_table_shows_dash_for_azure_none_result() -> None:
    """Azure's last result "None" (nothing run yet) is shown as "-", not the word None."""
    vms = [_vm("None")]
    table = render_table(vm_rows(vms, NOW), scale_set_rows(vms, NOW), NOW)
    row = next(line for line in table.splitlines() if line.startswith("rg/vm-1"))
    assert "None" not in row
