"""udroll against an emulator that answers in each of the shapes Azure documents (issue 12): the
backend's decisions per VM, and whole rollouts in each long-running-operation shape."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from backend_support import EPOCH, LATER, as_reported, by_id, mixed_fleet
from click.testing import CliRunner
from executor_support import SHOP, WINDOW, invoke
from test_executor_e2e import SPEC, scale_set_spec, simulate

from executor.azure.backend import status_from
from executor.azure.connect import connect_emulator, for_emulator
from executor.azure.endpoints import _parse, read_metadata
from executor.cli.main import cli
from executor.emulator import Faults, VMFaults
from executor.emulator.contract import timestamp, upper_case_id
from executor.emulator.faults import Contract, parse_mode
from planner.build import build_plan
from planner.errors import AzureError
from planner.load import parse_spec

pytestmark = pytest.mark.e2e

MODES = [
    Contract(),
    Contract(lro="location"),
    Contract(lro="sync"),
    Contract(timestamps="offset"),
    Contract(timestamps="ticks"),
    Contract(upper_case_ids=True),
    Contract(refusals="recorded"),
    Contract(lro="location", timestamps="ticks", upper_case_ids=True, refusals="recorded"),
]


def _name(mode: Contract) -> str:
    return (
        ",".join(f"{k}={v}" for k, v in mode.model_dump().items() if v != Contract().model_dump()[k])
        or "default"
    )


@pytest.mark.parametrize("mode", MODES, ids=_name)
def test_backend_decisions_in_every_mode(make_emulator: Callable[..., Any], mode: Contract) -> None:
    """In every mode: discovery finds the fleet as Azure reports it, a pending VM is triggered and its
    operation succeeds, a done VM reads as done, a not-eligible VM is refused with Azure's message, and
    the per-scale-set lists agree with per-VM reads."""
    fleet = mixed_fleet()
    faults = Faults(azure=mode, vms={"rg-data/db-2": VMFaults(not_eligible=True)})
    backend = for_emulator(make_emulator(fleet, epoch=EPOCH, faults=faults))
    found = by_id(backend.list_vms())
    assert set(found) == set(as_reported(fleet.vms))
    if not mode.upper_case_ids:
        assert found == as_reported(fleet.vms)
    ids = {vm.ref.lower(): vm.id for vm in found.values()}
    pending = ids["rg-data/db-0"]
    done = next(
        vm.id
        for vm in found.values()
        if vm.maintenance and vm.maintenance.last_result == "MaintenanceCompleted"
    )
    assert backend.status(done).maintenance.last_result == "MaintenanceCompleted"  # skipped by the runner
    result = backend.wait(backend.start_maintenance(pending), timeout=3600)
    assert result.done and result.succeeded and result.synchronous == (mode.lro == "sync")
    refused = next(vm.id for vm in found.values() if vm.name.lower() == "db-2")
    with pytest.raises(
        Exception, match="not eligible" if mode.refusals == "recorded" else "performMaintenance"
    ):
        backend.start_maintenance(refused)
    members = [vm for vm in found.values() if vm.scale_set]
    listed = backend.statuses(members)
    assert listed and all(s.known for s in listed.values())
    for vm in members[:3]:
        alone = backend.status(vm.id)
        assert (alone.power_state, alone.maintenance) == (
            listed[vm.id.lower()].power_state,
            listed[vm.id.lower()].maintenance,
        )


def test_a_vm_listed_without_an_instance_view_is_unknown() -> None:
    """No instance view, or a lastOperationResultCode udroll does not know: unknown, never 'None'."""
    assert not status_from("vm", None).known

    class View:
        statuses: tuple[Any, ...] = ()

        class maintenance_redeploy_status:
            last_operation_result_code = "MaintenanceRescheduled"
            is_customer_initiated_maintenance_allowed = True
            pre_maintenance_window_start_time = pre_maintenance_window_end_time = None
            maintenance_window_start_time = maintenance_window_end_time = None
            last_operation_message = None

    unknown = status_from("vm", View())
    assert not unknown.known and "MaintenanceRescheduled" in unknown.note
    View.maintenance_redeploy_status.last_operation_result_code = "maintenancecompleted"
    assert status_from("vm", View()).maintenance.last_result == "MaintenanceCompleted"  # case-insensitive


def test_the_emulator_gives_the_documented_shapes(
    make_emulator: Callable[..., Any], compute_client: Any
) -> None:
    """Timestamps with +00:00 and 7-digit fractions, ids in upper case, allowed=false before the window."""
    assert timestamp("2026-11-23T22:00:00Z", "offset") == "2026-11-23T22:00:00+00:00"
    assert timestamp("2026-11-23T22:00:00.5Z", "ticks") == "2026-11-23T22:00:00.5000000+00:00"
    assert upper_case_id(
        "/subscriptions/s/resourceGroups/rg-a/providers/Microsoft.Compute/virtualMachines/vm-1"
    ) == ("/subscriptions/s/resourceGroups/RG-A/providers/Microsoft.Compute/virtualMachines/VM-1")
    assert parse_mode("lro=location,ids=upper") == Contract(lro="location", upper_case_ids=True)
    with pytest.raises(ValueError, match="lro"):
        parse_mode("lro=later")
    emu = make_emulator(
        mixed_fleet(), epoch=EPOCH, faults=Faults(azure=Contract(timestamps="ticks", upper_case_ids=True))
    )
    raw: list[Any] = []
    later_vm = next(vm for vm in mixed_fleet().vms if vm.maintenance == LATER)
    client = compute_client(emu)
    view = client.virtual_machines.instance_view(
        later_vm.resource_group, later_vm.name, raw_response_hook=lambda r: raw.append(r.http_response.text())
    )
    body = json.loads(raw[0])
    assert body["maintenanceRedeployStatus"]["preMaintenanceWindowStartTime"].endswith(".0000000+00:00")
    later = view.maintenance_redeploy_status
    assert (
        later.pre_maintenance_window_start_time > EPOCH
        and not later.is_customer_initiated_maintenance_allowed
    )
    assert "RG-WEB" in next(iter(client.virtual_machines.list("rg-web"))).id


@pytest.mark.parametrize("lro", ["async", "location", "sync"])
def test_a_whole_rollout_in_each_lro_shape(tmp_path: Path, lro: str) -> None:
    """Each LRO shape Azure uses (Azure-AsyncOperation + Location, Location only, synchronous 200): the
    run completes, every VM maintained once, the rules hold."""
    result = simulate(tmp_path, f"azure: {{lro: {lro}, timestamps: ticks, upper_case_ids: true}}\n")
    assert result.outcome.state == "completed", result.outcome
    assert result.violations == []
    assert set(result.maintained().values()) == {1}
    posts = [r for r in result.requests if r["method"] == "POST"]
    assert {r["status"] for r in posts} == {200 if lro == "sync" else 202}


def test_a_refused_scale_set_batch_is_split_once(tmp_path: Path) -> None:
    """A permanent 409 on a scale set batch: one call per instance, once; the refused instance fails
    with Azure's recorded message, the others are maintained; no re-POST of the batch."""
    spec = scale_set_spec(3, update_domains=1, max_unavailable="100%")
    faults = "azure: {refusals: recorded}\nvms: {rg-app/vmss/1: {not_eligible: true}}\n"
    result = simulate(tmp_path, faults, spec=spec)
    posts = [r for r in result.requests if r["method"] == "POST"]
    batch = [r for r in posts if "/virtualMachines/" not in r["path"]]
    single = [r for r in posts if "/virtualMachines/" in r["path"]]
    assert len(batch) == 1 and batch[0]["status"] == 409
    assert len(single) == 3
    refused = result.vm("1")
    assert refused.state == "failed" and "not eligible" in (refused.message or "")
    assert {vm["ref"]: vm["attempts"] for vm in result.state["vms"]} == {
        "rg-app/vmss/0": 1,
        "rg-app/vmss/1": 0,
        "rg-app/vmss/2": 1,
    }


STRICT = "lro=location,timestamps=ticks,ids=upper,refusals=recorded"


@pytest.mark.parametrize("mode", [STRICT, "lro=sync,timestamps=offset"])
def test_discover_fleet_and_run_against_a_strict_emulator(
    make_emulator: Callable[..., Any], tmp_path: Path, mode: str
) -> None:
    """`udroll discover`, `udroll fleet` and `udroll run` against an emulator in the given mode (as
    `udroll emulator serve --azure-mode` starts it): each exits 0, the run maintains every VM once."""
    loaded = parse_spec(SPEC, "spec.yaml")
    assert loaded.inventory is not None
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    start = loaded.spec.window.not_before or loaded.inventory.captured_at
    emu = make_emulator(loaded.inventory, speed=3000.0, epoch=start, azure_mode=mode)
    ready = tmp_path / "ready.json"
    emu.write_ready_file(ready)
    found = CliRunner().invoke(cli, ["discover", "--emulator", str(ready), "-o", str(tmp_path / "f.json")])
    assert found.exit_code == 0, found.output
    assert f"discovered {len(loaded.inventory.vms)} VMs" in found.output
    shown = CliRunner().invoke(cli, ["fleet", "--emulator", str(ready), "-o", "json"])
    assert shown.exit_code == 0, shown.output
    run = CliRunner().invoke(
        cli, ["run", str(spec), "--emulator", str(ready), "--journal", str(tmp_path / "j"), "--yes"]
    )
    assert run.exit_code == 0, run.output
    assert {vm["attempts"] for vm in emu.state()["vms"]} == {1}


def test_a_bad_azure_mode_is_a_clear_error() -> None:
    """`udroll emulator serve --azure-mode lro=later` names the choices, exit code 2, no traceback."""
    code, out = invoke(["emulator", "serve", "--spec", str(SHOP), "--azure-mode", "lro=later"])
    assert code == 2, out
    assert "lro=async|location|sync" in out and "Traceback" not in out


def test_a_vm_whose_window_has_not_opened_is_planned_and_triggered_once_it_opens(tmp_path: Path) -> None:
    """allowed=false with preMaintenanceWindowStartTime ahead: planned from the window's start (not
    refused), and the run triggers it only once the window is open (Azure then allows it)."""
    opens = "2026-11-24T02:00:00Z"
    old = '  - {name: web-2, resource_group: rg-web, zone: "2",\n     maintenance: {customer_initiated_allowed: true,'
    assert old in SPEC
    spec = SPEC.replace(
        old, old.replace("customer_initiated_allowed: true", "customer_initiated_allowed: false")
    )
    spec = spec.replace(
        "customer_initiated_allowed: false, self_service_window: " + WINDOW,
        f'customer_initiated_allowed: false, self_service_window: ["{opens}", "2026-12-24T00:00:00Z"]',
    )
    loaded = parse_spec(spec, "spec.yaml")
    assert loaded.inventory is not None
    plan = build_plan(
        loaded.spec, loaded.inventory, loaded.spec.window.not_before or loaded.inventory.captured_at
    )
    web2 = next(vm.id for vm in loaded.inventory.vms if vm.name == "web-2")
    step = next(s for s in plan.steps if web2 in s.vms)
    assert step.start >= dt.datetime.fromisoformat(opens.replace("Z", "+00:00"))
    result = simulate(tmp_path, spec=spec)
    assert result.outcome.state == "completed", result.outcome
    triggered = [
        r for r in result.requests if r["method"] == "POST" and (r.get("vm") or "").lower() == web2.lower()
    ]
    assert len(triggered) == 1 and triggered[0]["status"] == 202
    assert triggered[0]["sim"] >= opens.replace("Z", "")


def test_endpoint_metadata_gives_the_token_audience(make_emulator: Callable[..., Any]) -> None:
    """--endpoint reads its token audience and sign-in host from /metadata/endpoints (both shapes)."""
    emu = make_emulator(mixed_fleet(), epoch=EPOCH)
    found = read_metadata(emu.base_url, emu.ca_bundle)
    assert found.scope == "https://management.udroll-emulator.local/.default"
    assert found.authority == "login.microsoftonline.com"
    clouds = [
        {"resourceManager": "https://other/", "authentication": {"audiences": ["https://a/"]}},
        {"resourceManager": "https://arm.example/", "authentication": {"audiences": ["https://b/"]}},
    ]
    assert _parse(clouds, "https://arm.example").scope == "https://b/.default"
    with pytest.raises(AzureError, match="cannot read the token audience"):
        read_metadata(emu.base_url + "/nowhere", emu.ca_bundle)


def test_api_version_overrides_every_request(make_emulator: Callable[..., Any]) -> None:
    """--api-version: every Compute request carries it (an Azure Stack Hub profile's version)."""
    emu = make_emulator(mixed_fleet(), epoch=EPOCH)
    backend = connect_emulator(
        emu.base_url, emu.ca_bundle, emu.subscription, emu.credential, api_version="2020-06-01"
    )
    backend.list_vms(["rg-data"])
    paths = [r["path"] for r in emu.requests() if r["kind"] == "arm"]
    assert paths and all("api-version=2020-06-01" in p and p.count("api-version") == 1 for p in paths)
