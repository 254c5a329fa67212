"""Discovery and `udroll discover` / `udroll fleet` against the emulator, through the real SDK."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
from backend_support import EPOCH, arm_requests, as_reported, by_id, mixed_fleet
from click.testing import CliRunner

from executor.azure.connect import for_emulator
from executor.cli.main import cli
from executor.emulator import Faults
from executor.run.clock import FakeClock
from planner.errors import AzureError
from planner.fleet import parse_fleet

pytestmark = pytest.mark.e2e


def test_discovery_equals_the_seeded_fleet(make_emulator: Callable[..., Any]) -> None:
    """Every field of every kind of VM (availability set, uniform, flexible, standalone) comes back as seeded."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    found = for_emulator(emu).list_vms()
    assert len(found) == len(fleet.vms)
    assert by_id(found) == as_reported(fleet.vms)


def test_discovery_of_named_groups_and_tags(make_emulator: Callable[..., Any]) -> None:
    """--resource-group narrows to those groups (scale sets included) and tags must all match."""
    fleet = mixed_fleet()
    backend = for_emulator(make_emulator(fleet, epoch=EPOCH))
    data = [vm for vm in fleet.vms if vm.resource_group == "rg-data"]
    assert by_id(backend.list_vms(["rg-data"])) == as_reported(data)
    web = list(backend.iter_vms(["rg-web", "rg-data"], {"role": "web", "owner": "shop"}))
    assert [vm.name for vm in web] == ["web-1"]


def _pages(count: int, size: int) -> int:
    return max(1, -(-count // size))


def test_discovery_of_groups_uses_only_documented_calls(make_emulator: Callable[..., Any]) -> None:
    """Per group: plain VM list pages, one scale set list, each uniform set's instance pages (expanded),
    each flexible set's members filtered by its id (expanded), one instance view per other VM; never
    $expand without $filter (VirtualMachine.tsp)."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH, faults=Faults(page_size=2))
    backend = for_emulator(emu)
    assert by_id(backend.list_vms(["rg-data", "rg-web", "rg-idle"])) == as_reported(fleet.vms)
    log = arm_requests(emu)
    assert all(r["status"] == 200 for r in log)
    resources = [vm for vm in fleet.vms if vm.orchestration != "Uniform"]
    groups, expected = ("rg-data", "rg-web", "rg-idle"), 0
    for rg in groups:
        mine = [vm for vm in resources if vm.resource_group == rg]
        expected += _pages(len(mine), 2) + 1  # plain VM list, scale set list
        expected += sum(1 for vm in mine if not vm.scale_set)  # instance view of each standalone/AS VM
        for name in {vm.scale_set for vm in fleet.vms if vm.resource_group == rg and vm.scale_set}:
            members = [vm for vm in fleet.vms if vm.scale_set == name]
            expected += _pages(len(members), 2)
    assert len(log) == expected
    for r in log:
        if "$expand=instanceView" in r["path"] and "/virtualMachineScaleSets/" not in r["path"]:
            assert "$filter=virtualMachineScaleSet" in unquote(r["path"]), r["path"]


def test_discovery_of_the_whole_subscription_lists_each_vm_once_per_kind(
    make_emulator: Callable[..., Any],
) -> None:
    """Without groups: list_all for facts and tags, list_all(statusOnly=true) for instance views, the
    scale sets once, each uniform set's instances; no per-group list, no GET of a single VM."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    assert by_id(for_emulator(emu).list_vms()) == as_reported(fleet.vms)
    paths = [r["path"] for r in arm_requests(emu)]
    assert not any("/resourceGroups/" in p.split("?")[0] and "ScaleSets/" not in p for p in paths), paths
    assert sum("statusOnly=true" in p for p in paths) == 1
    assert len(paths) == 3 + 2  # list_all x2, scale sets list_all, two uniform instance lists


def test_a_vm_in_an_availability_set_and_a_scale_set_is_left_out_with_a_warning(
    make_emulator: Callable[..., Any],
) -> None:
    """A VM carrying both availabilitySet and virtualMachineScaleSet (as Azure's generated list example
    does) is named in a warning and left out; every other VM is discovered."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    render = emu._api.render_vm

    def both(sim: Any, now: Any, expand: bool) -> dict[str, Any]:
        out = render(sim, now, expand)
        if sim.vm.name == "jump":
            rg = out["id"].split("/providers/")[0]
            out["properties"]["availabilitySet"] = {
                "id": f"{rg}/providers/Microsoft.Compute/availabilitySets/as-x"
            }
            out["properties"]["virtualMachineScaleSet"] = {
                "id": f"{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/flex-web"
            }
        return dict(out)

    emu._api.render_vm = both
    backend = for_emulator(emu)
    heard: list[str] = []
    found = list(backend.iter_vms(["rg-web"], warn=heard.append))
    assert "jump" not in {vm.name for vm in found}
    assert len(found) == sum(1 for vm in fleet.vms if vm.resource_group == "rg-web") - 1
    assert len(heard) == 1 and "jump" in heard[0] and "not both" in heard[0]
    assert backend.warnings == heard


def test_unknown_resource_group_is_an_azure_error(make_emulator: Callable[..., Any]) -> None:
    """A resource group that does not exist says so (exit code 5), no traceback."""
    backend = for_emulator(make_emulator(mixed_fleet(), epoch=EPOCH))
    with pytest.raises(AzureError, match=r"rg-nope.*ResourceGroupNotFound") as err:
        backend.list_vms(["rg-nope"])
    assert err.value.exit_code == 5


def test_discover_command_writes_the_snapshot(make_emulator: Callable[..., Any], tmp_path: Any) -> None:
    """`udroll discover --emulator READY -o FILE` writes a udroll/fleet@1 snapshot equal to the fleet."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    ready = tmp_path / "emu.json"
    emu.write_ready_file(ready)
    out = tmp_path / "fleet.json"
    result = CliRunner().invoke(
        cli, ["discover", "--emulator", str(ready), "-o", str(out)], obj={"clock": FakeClock(EPOCH)}
    )
    assert result.exit_code == 0, result.output
    assert "discovered 18 VMs in 3 resource groups" in result.output
    snapshot = parse_fleet(out.read_text(), str(out))
    assert snapshot.captured_at == EPOCH
    assert by_id(snapshot.vms) == as_reported(fleet.vms)


def test_fleet_command_shows_the_portal_view(make_emulator: Callable[..., Any]) -> None:
    """`udroll fleet -o json`: soonest self-service deadline first; scale sets Yes / No / - as the portal."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    backend = for_emulator(emu)
    result = CliRunner().invoke(
        cli, ["fleet", "-o", "json"], obj={"clock": FakeClock(EPOCH), "backend": backend}
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    deadlines = [
        r["self_service_end"] for r in data["vms"] if r["last_result"] not in (None, "MaintenanceCompleted")
    ]
    assert deadlines == sorted(deadlines)
    assert data["vms"][0]["vm"] == "rg-data/vmss-app/0"
    assert data["vms"][-1]["allowed"] is None  # nothing pending: last
    column = {s["scale_set"]: s["self_service"] for s in data["scale_sets"]}
    # flex-z's window opens on 2026-12-05: in the wave, but nobody in a self-service window yet
    assert column == {
        "rg-data/vmss-app": "Yes",
        "rg-web/flex-web": "Yes",
        "rg-web/flex-z": "No",
        "rg-idle/vmss-idle": "-",
    }


def test_fleet_command_table_and_csv(make_emulator: Callable[..., Any], tmp_path: Any) -> None:
    """The table names every VM and the scale set column; csv has one row per VM."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    ready = tmp_path / "emu.json"
    emu.write_ready_file(ready)
    table = CliRunner().invoke(cli, ["fleet", "--emulator", str(ready)])
    assert table.exit_code == 0, table.output
    assert "SELF-SERVICE MAINTENANCE" in table.output
    assert "rg-web/batch-1" in table.output
    csv = CliRunner().invoke(cli, ["fleet", "--emulator", str(ready), "-o", "csv", "-g", "rg-data"])
    assert csv.exit_code == 0, csv.output
    assert len(csv.output.strip().splitlines()) == 1 + 7
