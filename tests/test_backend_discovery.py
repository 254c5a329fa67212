"""Discovery and `udroll discover` / `udroll fleet` against the emulator, through the real SDK."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from backend_support import EPOCH, arm_requests, by_id, mixed_fleet
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
    assert by_id(found) == by_id(fleet.vms)


def test_discovery_of_named_groups_and_tags(make_emulator: Callable[..., Any]) -> None:
    """--resource-group narrows to those groups (scale sets included) and tags must all match."""
    fleet = mixed_fleet()
    backend = for_emulator(make_emulator(fleet, epoch=EPOCH))
    data = [vm for vm in fleet.vms if vm.resource_group == "rg-data"]
    assert by_id(backend.list_vms(["rg-data"])) == by_id(data)
    web = list(backend.iter_vms(["rg-web", "rg-data"], {"role": "web", "owner": "shop"}))
    assert [vm.name for vm in web] == ["web-1"]


def test_discovery_lists_by_page_never_per_vm(make_emulator: Callable[..., Any]) -> None:
    """One request per page (paging followed), one per group and scale set; no GET of a single VM."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH, faults=Faults(page_size=2))
    backend = for_emulator(emu)
    assert by_id(backend.list_vms(["rg-data", "rg-web", "rg-idle"])) == by_id(fleet.vms)
    paths = [r["path"].split("?")[0] for r in arm_requests(emu)]
    assert all(r["status"] == 200 for r in arm_requests(emu))
    assert all(p.endswith(("/virtualMachines", "/virtualMachineScaleSets")) for p in paths), paths
    # rg-data: 3 VMs -> 2 pages, 1 scale set list, vmss-app 4 instances -> 2 pages
    # rg-web: 9 VMs -> 5 pages, 1 scale set list (both flexible: no instance list)
    # rg-idle: 0 VMs -> 1 page, 1 scale set list, vmss-idle 2 instances -> 1 page
    assert len(paths) == (2 + 1 + 2) + (5 + 1) + (1 + 1 + 1)
    vm_lists = [r["path"] for r in arm_requests(emu) if r["path"].split("?")[0].endswith("/virtualMachines")]
    assert all("$expand=instanceView" in path for path in vm_lists), vm_lists


def test_discovery_of_the_whole_subscription_finds_every_group(make_emulator: Callable[..., Any]) -> None:
    """Without groups, list_all of VMs and scale sets names the groups; scale sets are not listed again."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    assert by_id(for_emulator(emu).list_vms()) == by_id(fleet.vms)
    paths = [r["path"].split("?")[0] for r in arm_requests(emu)]
    assert not any("/resourceGroups/" in p and p.endswith("/virtualMachineScaleSets") for p in paths)
    assert len(paths) == 2 + 3 + 2  # list_all x2, one VM list per group, two uniform instance lists


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
    assert by_id(snapshot.vms) == by_id(fleet.vms)


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
