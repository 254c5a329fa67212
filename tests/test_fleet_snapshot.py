"""Fleet snapshots (udroll/fleet@1) and inline inventories: one model, the same quality of errors."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from planner.errors import SpecError
from planner.fleet import (
    Fleet,
    _id_problems,
    _json,
    _share_maintenance,
    _valid_snapshot,
    load_fleet,
    parse_fleet,
)
from planner.load import load_spec

VM = {
    "id": "/subscriptions/S/resourceGroups/rg-shop-db/providers/Microsoft.Compute/virtualMachines/db-0",
    "name": "db-0",
    "resource_group": "rg-shop-db",
    "location": "westeurope",
    "availability_set": "as-db",
    "scale_set": None,
    "instance_id": None,
    "orchestration": None,
    "zone": None,
    "update_domain": 0,
    "fault_domain": 0,
    "tags": {"role": "db"},
    "power_state": "running",
    "maintenance": {
        "customer_initiated_allowed": True,
        "self_service_window": ["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"],
        "scheduled_window": ["2026-12-28T00:00:00Z", "2027-01-10T00:00:00Z"],
        "last_result": "None",
        "last_message": None,
    },
}


def snapshot(*vms: dict) -> str:
    return json.dumps(
        {"format": "udroll/fleet@1", "captured_at": "2026-11-22T10:00:00Z", "vms": list(vms)}, indent=1
    )


def test_the_design_example_loads_and_round_trips() -> None:
    """The DESIGN §5 example is a valid snapshot, and writing it back gives the same data."""
    fleet = parse_fleet(snapshot(VM), "fleet.json")
    assert fleet.vms[0].maintenance is not None and fleet.vms[0].maintenance.pending
    again = parse_fleet(fleet.to_json(), "again.json")
    assert again == fleet


def test_errors_name_line_and_column_of_the_bad_value() -> None:
    """A wrong value deep in a snapshot is reported at its own line and column."""
    bad = dict(VM, update_domain="zero", maintenance=dict(VM["maintenance"], last_result="Done"))
    text = snapshot(bad)
    with pytest.raises(SpecError) as info:
        parse_fleet(text, "fleet.json")
    lines = text.splitlines()
    found = {(p.line, p.message.split(":")[0]) for p in info.value.problems}
    ud_line = next(i for i, line in enumerate(lines, 1) if '"update_domain"' in line)
    lr_line = next(i for i, line in enumerate(lines, 1) if '"last_result"' in line)
    assert (ud_line, "vms[0].update_domain") in found
    assert (lr_line, "vms[0].maintenance.last_result") in found


def test_vms_sharing_a_maintenance_status_are_each_checked_at_their_own_place() -> None:
    """A status validated once for many VMs still refuses a copy that differs only in type (1 for
    true, a float update of a window) at that VM's line, and valid copies load equal to the first."""
    other = dict(VM, id=str(VM["id"]).replace("db-0", "db-1"), name="db-1")
    third = dict(VM, id=str(VM["id"]).replace("db-0", "db-2"), name="db-2")
    assert (
        parse_fleet(snapshot(VM, other), "fleet.json").vms[1].maintenance
        == parse_fleet(snapshot(VM), "fleet.json").vms[0].maintenance
    )
    sly = dict(third, maintenance=dict(VM["maintenance"], customer_initiated_allowed=1))
    text = snapshot(VM, other, sly)
    with pytest.raises(SpecError) as info:
        parse_fleet(text, "fleet.json")
    line = [i for i, row in enumerate(text.splitlines(), 1) if '"customer_initiated_allowed"' in row][2]
    (problem,) = info.value.problems
    assert problem.line == line and problem.message.startswith(
        "vms[2].maintenance.customer_initiated_allowed"
    )


def test_invalid_json_points_at_the_syntax_error() -> None:
    """A JSON syntax error gives its line and column."""
    with pytest.raises(SpecError) as info:
        parse_fleet('{"format": "udroll/fleet@1",\n "vms": [}', "fleet.json")
    problem = info.value.problems[0]
    assert (problem.line, problem.col) == (2, 10) and "invalid JSON" in problem.message


def test_another_format_is_refused_by_name() -> None:
    """A plan or other JSON is not mistaken for a fleet."""
    with pytest.raises(SpecError, match="udroll reads 'udroll/fleet@1'"):
        parse_fleet(json.dumps({"format": "udroll/plan@1"}), "plan.json")


def test_windows_must_be_in_order_and_zoned() -> None:
    """A self-service window that ends before it starts, or lacks a zone, is refused."""
    maintenance = dict(VM["maintenance"], self_service_window=["2026-12-24T00:00:00Z", "2026-11-20T00:00:00"])
    with pytest.raises(SpecError) as info:
        parse_fleet(snapshot(dict(VM, maintenance=maintenance)), "fleet.json")
    assert "has no zone" in str(info.value)


def test_a_vm_listed_twice_is_refused() -> None:
    """Duplicate VM ids in one snapshot are an error."""
    with pytest.raises(SpecError, match="listed twice"):
        parse_fleet(snapshot(VM, VM), "fleet.json")


def test_scale_set_members_need_their_orchestration() -> None:
    """A uniform instance without an instance id, or a scale set member without orchestration, is refused."""
    with pytest.raises(SpecError, match="needs orchestration"):
        parse_fleet(snapshot(dict(VM, availability_set=None, scale_set="vmss")), "fleet.json")
    with pytest.raises(SpecError, match="needs its instance_id"):
        parse_fleet(
            snapshot(dict(VM, availability_set=None, scale_set="vmss", orchestration="Uniform")), "fleet.json"
        )


def test_a_missing_file_is_a_located_problem(tmp_path) -> None:
    """Reading a snapshot that does not exist is an input error, not a traceback."""
    with pytest.raises(SpecError, match=r"nope\.json: fleet snapshot not found: check the path"):
        load_fleet(tmp_path / "nope.json")
    with pytest.raises(SpecError, match="is a directory: pass the fleet snapshot file inside it"):
        load_fleet(tmp_path)


def test_inventory_items_use_the_same_model_and_get_arm_ids() -> None:
    """An inline inventory becomes a Fleet; ids are derived from the spec's subscription."""
    loaded = load_spec("plans/three-tier-shop.yaml")
    assert isinstance(loaded.inventory, Fleet)
    ids = {vm.ref: vm.id for vm in loaded.inventory.vms}
    assert ids["rg-shop-db/db-0"] == (
        "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-shop-db"
        "/providers/Microsoft.Compute/virtualMachines/db-0"
    )
    assert ids["rg-shop-app/vmss-app/2"].endswith("/virtualMachineScaleSets/vmss-app/virtualMachines/2")


def test_a_status_repeated_in_another_key_order_or_type_is_told_apart() -> None:
    """Copies of a status are shared whatever their key order, and a copy that differs only in a
    value's type (1 for true) is still refused at its own line, also after a reordered copy."""
    status = VM["maintenance"]
    assert isinstance(status, dict)
    reordered = dict(reversed(list(status.items())))
    vms = [dict(VM, id=str(VM["id"]).replace("db-0", f"db-{i}"), name=f"db-{i}") for i in range(4)]
    vms[1]["maintenance"], vms[2]["maintenance"] = reordered, status
    fleet = parse_fleet(snapshot(*vms[:3]), "fleet.json")
    assert fleet.vms[0].maintenance == fleet.vms[1].maintenance == fleet.vms[2].maintenance
    vms[3]["maintenance"] = dict(reordered, customer_initiated_allowed=1)
    text = snapshot(*vms)
    with pytest.raises(SpecError) as info:
        parse_fleet(text, "fleet.json")
    (problem,) = info.value.problems
    assert problem.message.startswith("vms[3].maintenance.customer_initiated_allowed")


def test_ids_that_differ_only_in_case_are_one_vm_listed_twice() -> None:
    """ARM ids ignore case: the second spelling is refused as a VM listed twice, at its entry."""
    upper = dict(VM, id=str(VM["id"]).upper())
    with pytest.raises(SpecError, match=r"vms\[1\]\.id|listed twice \(first as vms\[0\]\)"):
        parse_fleet(snapshot(VM, upper), "fleet.json")


BASE = snapshot(VM)
VARIANTS = {
    "as written": BASE,
    "a key given twice": BASE.replace('"name": "db-0"', '"name": "db-x", "name": "db-0"'),
    "a huge update domain": BASE.replace('"update_domain": 0', '"update_domain": ' + "9" * 100),
    "a float update domain": BASE.replace('"update_domain": 0', '"update_domain": 0.0'),
    "NaN": BASE.replace('"update_domain": 0', '"update_domain": NaN'),
    "an escaped surrogate pair": BASE.replace('"role": "db"', '"role": "\\ud83d\\ude00"'),
    "a lone surrogate": BASE.replace('"role": "db"', '"role": "\\ud83d"'),
    "CRLF line ends": BASE.replace("\n", "\r\n"),
    "1 for true": BASE.replace('"customer_initiated_allowed": true', '"customer_initiated_allowed": 1'),
    "another format": BASE.replace("udroll/fleet@1", "udroll/fleet@2"),
    "a list": "[]",
    "no VMs": snapshot(),
    "the same VM twice": snapshot(VM, VM),
    "a bad id": BASE.replace("/subscriptions/S/", "/subs/S/"),
}


@pytest.mark.parametrize("text", VARIANTS.values(), ids=VARIANTS.keys())
def test_the_one_pass_read_of_a_snapshot_agrees_with_the_located_read(text: str) -> None:
    """pydantic-core's one-pass read of a snapshot gives the fleet the located read (json.loads,
    then validation) gives, or declines, and then the located read reports the problems."""
    fast = _valid_snapshot(text)
    try:
        data = _json(text, "fleet.json")
        assert not _id_problems(data)
        _share_maintenance(data)
        slow: Fleet | None = Fleet.model_validate(data, context={"ids_checked": True})
    except (SpecError, ValidationError, AssertionError):
        slow = None
    assert fast is None or fast == slow
    if fast is None and slow is None:
        with pytest.raises(SpecError):
            parse_fleet(text, "fleet.json")
