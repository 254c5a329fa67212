"""perform-maintenance as a long-running operation, driven by the real SDK's poller, and the VM state machine."""

from __future__ import annotations

import datetime as dt

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient

from executor.emulator import Faults, VMFaults
from executor.run.clock import FakeClock
from planner.fleet import VM, Fleet, Maintenance, vm_id

pytestmark = pytest.mark.e2e

SUB = "11111111-2222-3333-4444-555555555555"
T0 = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)


def _vm_state(emu, name: str) -> dict:
    return next(v for v in emu.state()["vms"] if v["id"].endswith(f"/{name}"))


def _status(client, rg: str, name: str):
    return client.virtual_machines.instance_view(rg, name).maintenance_redeploy_status


def test_poller_runs_maintenance_to_completion(emulator, compute_client) -> None:
    """The poller ends once the VM is back; the status then says MaintenanceCompleted, not allowed."""
    client = compute_client(emulator)
    poller = client.virtual_machines.begin_perform_maintenance("rg-shop-db", "db-1")
    assert poller.status() == "InProgress"
    assert _vm_state(emulator, "db-1")["operation"]["outcome"] == "completed"
    assert poller.result() is None and poller.status() == "Succeeded"
    status = _status(client, "rg-shop-db", "db-1")
    assert status.last_operation_result_code == "MaintenanceCompleted"
    assert status.is_customer_initiated_maintenance_allowed is False
    assert _vm_state(emulator, "db-1")["power_state"] == "running"
    log = [r for r in emulator.requests() if r["operation"]]
    assert log[0]["method"] == "POST" and log[0]["status"] == 202
    assert "monitor=true" in log[-1]["path"] and log[-1]["status"] == 200
    assert len({r["client_request_id"] for r in log}) == 1  # polls keep the call's request id


def test_202_answer_and_the_operation_urls(make_emulator, compute_client) -> None:
    """202 with absolute Azure-AsyncOperation and Location URLs; the first says InProgress then Succeeded,
    the second 202 while running and 200 once done."""
    clock = FakeClock(T0)
    emu = make_emulator(clock=clock)
    client = compute_client(emu)
    raw = client.virtual_machines._perform_maintenance_initial("rg-shop-db", "db-0", cls=lambda r, d, h: r)
    response = raw.http_response
    response.read()
    assert response.status_code == 202
    async_url, location = response.headers["Azure-AsyncOperation"], response.headers["Location"]
    assert async_url.startswith(emu.base_url) and "api-version=2026-04-01" in async_url
    assert location.startswith(emu.base_url) and "monitor=true" in location
    assert int(response.headers["Retry-After"]) == 0  # 10 simulated seconds at 600x, rounded down

    def get(url: str):
        return client.send_request(HttpRequest("GET", url))

    running = get(async_url).json()
    assert running["status"] == "InProgress" and running["startTime"] == "2026-11-23T22:00:00Z"
    assert get(location).status_code == 202
    clock.advance(600)
    done = get(async_url).json()
    assert done["status"] == "Succeeded" and done["endTime"] == "2026-11-23T22:10:00Z"
    final = get(location)
    assert final.status_code == 200 and final.content == b""


def test_continuation_token_resumes_on_a_new_client(emulator, compute_client) -> None:
    """A continuation token taken right after the trigger finishes the operation on another client."""
    first = compute_client(emulator)
    token = first.virtual_machines.begin_perform_maintenance("rg-shop-web", "web-2").continuation_token()
    first.close()
    second = ComputeManagementClient(
        emulator.credential,
        emulator.subscription,
        base_url=emulator.base_url,
        connection_verify=emulator.ca_bundle,
        polling_interval=0.02,
    )
    with second:
        poller = second.virtual_machines.begin_perform_maintenance(
            "rg-shop-web", "web-2", continuation_token=token
        )
        poller.result()
        assert poller.status() == "Succeeded"
        assert _status(second, "rg-shop-web", "web-2").last_operation_result_code == "MaintenanceCompleted"
    posts = [r for r in emulator.requests() if r["method"] == "POST"]
    assert len(posts) == 1  # resuming never triggers again


def test_operation_urls_answer_after_success(emulator, compute_client) -> None:
    """The status and Location URLs keep answering after the operation succeeded (never 404)."""
    client = compute_client(emulator)
    poller = client.virtual_machines.begin_perform_maintenance("rg-shop-db", "db-2")
    poller.result()
    token = poller.continuation_token()
    again = client.virtual_machines.begin_perform_maintenance("rg-shop-db", "db-2", continuation_token=token)
    again.result()
    assert again.status() == "Succeeded"


@pytest.mark.parametrize(
    ("maintenance", "power", "expected"),
    [
        (None, "running", "no maintenance is pending"),
        (
            Maintenance(customer_initiated_allowed=False),
            "running",
            "isCustomerInitiatedMaintenanceAllowed is false",
        ),
        (
            Maintenance(customer_initiated_allowed=False, last_result="MaintenanceCompleted"),
            "running",
            "already been completed",
        ),
        (
            Maintenance(
                customer_initiated_allowed=True,
                self_service_window=(T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=2)),
            ),
            "running",
            "outside its self-service maintenance window",
        ),
        (Maintenance(customer_initiated_allowed=True), "deallocated", "deallocated"),
    ],
    ids=["nothing-pending", "not-allowed", "completed", "outside-window", "deallocated"],
)
def test_ineligible_vms_answer_409(make_emulator, compute_client, maintenance, power, expected) -> None:
    """perform-maintenance on an ineligible VM is 409 OperationNotAllowed: the SDK raises ResourceExistsError."""
    vm = VM(
        id="",
        name="vm",
        resource_group="rg",
        location="westeurope",
        maintenance=maintenance,
        power_state=power,
    )
    emu = make_emulator(Fleet(captured_at=T0, vms=(vm.model_copy(update={"id": vm_id(SUB, vm)}),)))
    with pytest.raises(ResourceExistsError) as err:
        compute_client(emu).virtual_machines.begin_perform_maintenance("rg", "vm")
    assert err.value.status_code == 409 and err.value.error.code == "OperationNotAllowed"
    assert expected in err.value.message


def test_a_vm_under_maintenance_refuses_a_second_trigger(make_emulator, compute_client) -> None:
    """While maintenance runs, a second trigger is 409 naming the running operation."""
    clock = FakeClock(T0)
    client = compute_client(make_emulator(clock=clock))
    client.virtual_machines.begin_perform_maintenance("rg-shop-web", "web-3", polling=False)
    with pytest.raises(ResourceExistsError, match="already under maintenance"):
        client.virtual_machines.begin_perform_maintenance("rg-shop-web", "web-3")
    clock.advance(600)
    with pytest.raises(ResourceExistsError, match="already been completed"):
        client.virtual_machines.begin_perform_maintenance("rg-shop-web", "web-3")


def test_scale_set_instance_and_scale_set_level_maintenance(emulator, compute_client) -> None:
    """Scale set instances are maintained one by one, or by the scale set with and without instanceIds."""
    client = compute_client(emulator)
    client.virtual_machine_scale_set_vms.begin_perform_maintenance("rg-shop-app", "vmss-app", "0").result()
    client.virtual_machine_scale_sets.begin_perform_maintenance(
        "rg-shop-app", "vmss-app", {"instanceIds": ["1", "3"]}
    ).result()
    with pytest.raises(ResourceExistsError):  # instance 1 is done: an explicit list must be all eligible
        client.virtual_machine_scale_sets.begin_perform_maintenance(
            "rg-shop-app", "vmss-app", {"instanceIds": ["1", "2"]}
        )
    client.virtual_machine_scale_sets.begin_perform_maintenance(
        "rg-shop-app", "vmss-app"
    ).result()  # the rest
    views = [
        client.virtual_machine_scale_set_vms.get_instance_view("rg-shop-app", "vmss-app", i) for i in "0123"
    ]
    assert {v.maintenance_redeploy_status.last_operation_result_code for v in views} == {
        "MaintenanceCompleted"
    }
    scale_set_posts = [r for r in emulator.requests() if r["method"] == "POST" and r.get("vms")]
    assert [len(r["vms"]) for r in scale_set_posts if r["status"] == 202] == [2, 1]
    with pytest.raises(ResourceExistsError, match="none of its VMs"):
        client.virtual_machine_scale_sets.begin_perform_maintenance("rg-shop-app", "vmss-app")


def test_state_machine_in_simulated_time(make_emulator, compute_client) -> None:
    """With a FakeClock the VM is down exactly for the maintenance duration, then running and completed."""
    clock = FakeClock(T0)
    emu = make_emulator(clock=clock, faults=Faults(maintenance_duration="10m"))
    client = compute_client(emu)
    client.virtual_machines.begin_perform_maintenance("rg-shop-db", "db-0", polling=False)
    assert _vm_state(emu, "db-0")["operation"]["ends"] == "2026-11-23T22:10:00Z"
    powers = []
    for minutes in (0, 1, 5, 9, 10):
        clock.advance(minutes * 60 - (clock.now() - T0).total_seconds())
        view = client.virtual_machines.instance_view("rg-shop-db", "db-0")
        powers.append(view.statuses[-1].code.split("/")[1])
    assert powers == ["stopping", "stopped", "stopped", "starting", "running"]
    assert view.maintenance_redeploy_status.last_operation_result_code == "MaintenanceCompleted"
    assert view.statuses[0].code == "ProvisioningState/succeeded"


def test_retry_later_fault(make_emulator, compute_client) -> None:
    """retry_later: 2 makes two attempts fail with RetryLater (VM stays up and pending); the third works."""
    emu = make_emulator(faults=Faults(vms={"rg-shop-db/db-0": VMFaults(retry_later=2)}))
    client = compute_client(emu)
    for _ in range(2):
        with pytest.raises(HttpResponseError, match="RetryLater"):
            client.virtual_machines.begin_perform_maintenance("rg-shop-db", "db-0").result()
        status = _status(client, "rg-shop-db", "db-0")
        assert status.last_operation_result_code == "RetryLater"
        assert status.is_customer_initiated_maintenance_allowed is True
    client.virtual_machines.begin_perform_maintenance("rg-shop-db", "db-0").result()
    assert _status(client, "rg-shop-db", "db-0").last_operation_result_code == "MaintenanceCompleted"
    assert _vm_state(emu, "db-0")["attempts"] == 3


def test_maintenance_aborted_fault(make_emulator, compute_client) -> None:
    """abort: 1 fails the operation; the VM is back up with maintenance still pending, MaintenanceAborted."""
    emu = make_emulator(faults=Faults(vms={"rg-shop-app/vmss-app/2": VMFaults(abort=1)}))
    client = compute_client(emu)
    poller = client.virtual_machine_scale_set_vms.begin_perform_maintenance("rg-shop-app", "vmss-app", "2")
    with pytest.raises(HttpResponseError, match="MaintenanceAborted"):
        poller.result()
    view = client.virtual_machine_scale_set_vms.get_instance_view("rg-shop-app", "vmss-app", "2")
    assert view.maintenance_redeploy_status.last_operation_result_code == "MaintenanceAborted"
    assert view.maintenance_redeploy_status.pre_maintenance_window_end_time is not None
    assert view.statuses[-1].code == "PowerState/running"
    location_poll = [r for r in emu.requests() if "monitor=true" in r["path"]]
    assert location_poll == []  # a failed operation ends on its status, as the SDK's ARMPolling does


def test_slow_maintenance_fault(make_emulator, compute_client) -> None:
    """duration: a slow VM is down longer than the default."""
    clock = FakeClock(T0)
    emu = make_emulator(clock=clock, faults=Faults(vms={"rg-shop-web/web-1": VMFaults(duration="1h")}))
    client = compute_client(emu)
    client.virtual_machines.begin_perform_maintenance("rg-shop-web", "web-1", polling=False)
    client.virtual_machines.begin_perform_maintenance("rg-shop-web", "web-2", polling=False)
    clock.advance(30 * 60)
    assert _vm_state(emu, "web-1")["power_state"] != "running"
    assert _vm_state(emu, "web-2")["power_state"] == "running"
    clock.advance(30 * 60)
    assert _vm_state(emu, "web-1")["power_state"] == "running"


def test_the_self_service_window_closes(make_emulator, compute_client) -> None:
    """After the self-service window, the status says not allowed and a trigger is refused."""
    clock = FakeClock(dt.datetime(2026, 12, 23, 23, 0, tzinfo=dt.timezone.utc))
    emu = make_emulator(clock=clock)
    client = compute_client(emu)
    assert _status(client, "rg-shop-db", "db-0").is_customer_initiated_maintenance_allowed is True
    clock.advance(2 * 3600)
    assert _status(client, "rg-shop-db", "db-0").is_customer_initiated_maintenance_allowed is False
    with pytest.raises(ResourceExistsError, match="outside its self-service maintenance window"):
        client.virtual_machines.begin_perform_maintenance("rg-shop-db", "db-0")
