"""The real azure-mgmt-compute client reads every emulated route over HTTPS and gets what Azure would give."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest

from executor.emulator.fleets import synthetic_fleet
from planner.fleet import VM, Fleet, vm_id

pytestmark = pytest.mark.e2e

SUB = "11111111-2222-3333-4444-555555555555"
DB_RG, APP_RG, WEB_RG = "rg-shop-db", "rg-shop-app", "rg-shop-web"


def _window(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.timezone.utc) if value else None


def test_vm_get_with_instance_view_keeps_every_field_udroll_relies_on(emulator, compute_client) -> None:
    """A VM deserializes into the SDK's models with UD, FD, statuses, redeploy status, zones, set and tags."""
    client = compute_client(emulator)
    vm = client.virtual_machines.get(DB_RG, "db-2", expand="instanceView")
    assert (
        vm.id
        == f"/subscriptions/{SUB}/resourceGroups/{DB_RG}/providers/Microsoft.Compute/virtualMachines/db-2"
    )
    assert vm.location == "westeurope" and vm.tags == {"role": "db"}
    assert vm.properties.availability_set.id.endswith("/availabilitySets/as-db")
    view = vm.properties.instance_view
    assert (view.platform_update_domain, view.platform_fault_domain) == (2, 0)
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    status = view.maintenance_redeploy_status
    assert status.is_customer_initiated_maintenance_allowed is True
    assert _window(status.pre_maintenance_window_start_time) == dt.datetime(
        2026, 11, 20, tzinfo=dt.timezone.utc
    )
    assert _window(status.pre_maintenance_window_end_time) == dt.datetime(
        2026, 12, 24, tzinfo=dt.timezone.utc
    )
    assert _window(status.maintenance_window_start_time) == dt.datetime(2026, 12, 28, tzinfo=dt.timezone.utc)
    assert _window(status.maintenance_window_end_time) == dt.datetime(2027, 1, 10, tzinfo=dt.timezone.utc)
    assert status.last_operation_result_code == "None"


def test_zonal_vm_and_instance_view_route(emulator, compute_client) -> None:
    """A zonal VM carries its zone and the instanceView route answers the same view as $expand."""
    client = compute_client(emulator)
    vm = client.virtual_machines.get(WEB_RG, "web-1")
    assert vm.zones == ["1"] and vm.properties.instance_view is None
    assert vm.properties.availability_set is None and vm.properties.virtual_machine_scale_set is None
    view = client.virtual_machines.instance_view(WEB_RG, "web-1")
    assert view.maintenance_redeploy_status.last_operation_result_code == "None"
    assert [s.code for s in view.statuses][-1] == "PowerState/running"


def test_vm_without_pending_maintenance_has_no_redeploy_status(make_emulator, compute_client) -> None:
    """maintenanceRedeployStatus is absent (None in the SDK) when nothing is pending."""
    vm = VM(id="", name="quiet", resource_group="rg", location="westeurope", power_state="deallocated")
    fleet = Fleet(
        captured_at=dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc),
        vms=(vm.model_copy(update={"id": vm_id(SUB, vm)}),),
    )
    emu = make_emulator(fleet)
    view = compute_client(emu).virtual_machines.instance_view("rg", "quiet")
    assert view.maintenance_redeploy_status is None
    assert "PowerState/deallocated" in [s.code for s in view.statuses]


def test_lists_by_resource_group_and_subscription(emulator, compute_client) -> None:
    """list and list_all return VM resources (not uniform scale set instances); $expand=instanceView
    without a $filter is the 400 the contract gives; statusOnly=true lists run-time status without tags."""
    client = compute_client(emulator)
    db = list(client.virtual_machines.list(DB_RG))
    assert [vm.name for vm in db] == ["db-0", "db-1", "db-2"]
    assert all(vm.properties.instance_view is None and vm.tags for vm in db)
    for listing in (
        lambda: client.virtual_machines.list(DB_RG, expand="instanceView"),
        lambda: client.virtual_machines.list_all(expand="instanceView"),
    ):
        with pytest.raises(HttpResponseError) as refused:
            list(listing())
        assert refused.value.status_code == 400 and "valid $filter" in str(refused.value.message)
    every = list(client.virtual_machines.list_all())
    assert len(every) == 10 and not any("_" in vm.name for vm in every)
    assert all(vm.properties.instance_view is None for vm in every)
    status = {vm.name: vm for vm in client.virtual_machines.list_all(status_only="true")}
    assert [status[f"db-{i}"].properties.instance_view.platform_update_domain for i in range(3)] == [0, 1, 2]
    assert all(not vm.tags for vm in status.values())


def test_availability_sets(emulator, compute_client) -> None:
    """Availability sets: get, list per group and per subscription, with their members."""
    client = compute_client(emulator)
    aset = client.availability_sets.get(DB_RG, "as-db")
    assert aset.properties.platform_update_domain_count >= 3
    assert len(aset.properties.virtual_machines) == 3
    assert [a.name for a in client.availability_sets.list(DB_RG)] == ["as-db"]
    assert [a.name for a in client.availability_sets.list_by_subscription()] == ["as-db"]
    assert list(client.availability_sets.list(WEB_RG)) == []


def test_scale_sets_and_their_instances(emulator, compute_client) -> None:
    """Scale sets (get, list, list_all, instance view) and their instances (list, get, instance view)."""
    client = compute_client(emulator)
    vmss = client.virtual_machine_scale_sets.get(APP_RG, "vmss-app")
    assert vmss.properties.orchestration_mode == "Uniform" and vmss.sku.capacity == 4
    assert [s.name for s in client.virtual_machine_scale_sets.list(APP_RG)] == ["vmss-app"]
    assert [s.name for s in client.virtual_machine_scale_sets.list_all()] == ["vmss-app"]
    summary = client.virtual_machine_scale_sets.get_instance_view(APP_RG, "vmss-app").virtual_machine
    assert summary.statuses_summary[0].count == 4
    instances = list(client.virtual_machine_scale_set_vms.list(APP_RG, "vmss-app", expand="instanceView"))
    assert [i.instance_id for i in instances] == ["0", "1", "2", "3"]
    assert [i.properties.instance_view.platform_update_domain for i in instances] == [0, 1, 0, 1]
    one = client.virtual_machine_scale_set_vms.get(APP_RG, "vmss-app", "3", expand="instanceView")
    assert one.id.endswith("/virtualMachineScaleSets/vmss-app/virtualMachines/3") and one.tags == {
        "role": "app"
    }
    view = client.virtual_machine_scale_set_vms.get_instance_view(APP_RG, "vmss-app", "2")
    assert (view.platform_update_domain, view.platform_fault_domain) == (0, 2)
    assert view.maintenance_redeploy_status.is_customer_initiated_maintenance_allowed is True


def test_flexible_members_and_ephemeral_disks(make_emulator, compute_client) -> None:
    """Flexible members are VMs with virtualMachineScaleSet.id, no update domain, and diffDiskSettings."""
    emu = make_emulator(synthetic_fleet(12, per_group=4))
    client = compute_client(emu)
    flex = list(client.virtual_machines.list("rg-000"))
    members = [vm for vm in flex if vm.properties.virtual_machine_scale_set]
    assert len(members) == 4
    flt = f"virtualMachineScaleSet/id eq '{members[0].properties.virtual_machine_scale_set.id}'"
    member = next(iter(client.virtual_machines.list("rg-000", filter=flt, expand="instanceView")))
    assert member.properties.virtual_machine_scale_set.id.endswith("/virtualMachineScaleSets/flex-2")
    assert member.properties.instance_view.platform_update_domain is None
    assert member.properties.storage_profile.os_disk.diff_disk_settings.option == "Local"
    assert member.zones == ["1"]
    scale_set_id = member.properties.virtual_machine_scale_set.id
    filtered = list(client.virtual_machines.list_all(filter=f"virtualMachineScaleSet/id eq '{scale_set_id}'"))
    assert len(filtered) == 4
    assert (
        client.virtual_machine_scale_sets.get("rg-000", "flex-2").properties.orchestration_mode == "Flexible"
    )


def test_paging_through_a_thousand_vms(make_emulator, compute_client) -> None:
    """1,000 VMs come in pages of 100 whose absolute nextLink carries the api-version and statusOnly."""
    emu = make_emulator(synthetic_fleet(1000, per_group=250))
    client = compute_client(emu)
    names = [vm.name for vm in client.virtual_machines.list_all(status_only="true")]
    assert len(names) == 750 and len(set(names)) == 750  # a quarter are uniform scale set instances
    instances = list(client.virtual_machine_scale_set_vms.list("rg-000", "vmss-1", expand="instanceView"))
    assert len(instances) == 250 and all(i.properties.instance_view for i in instances)
    pages = [r for r in emu.requests() if "/virtualMachines?" in r["path"] and r["kind"] == "arm"]
    assert len(pages) == 8 + 3
    follow = parse_qs(urlsplit(pages[1]["path"]).query)
    assert follow["api-version"] == ["2026-04-01"] and follow["statusOnly"] == ["true"]


def test_not_found_answers_are_cloud_errors(emulator, compute_client) -> None:
    """Unknown VMs, resource groups and routes answer 404 with a CloudError body."""
    client = compute_client(emulator)
    with pytest.raises(ResourceNotFoundError) as missing_vm:
        client.virtual_machines.get(DB_RG, "db-9")
    assert missing_vm.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as missing_rg:
        client.virtual_machines.instance_view("rg-nope", "db-0")
    assert missing_rg.value.error.code == "ResourceGroupNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.virtual_machine_scale_set_vms.get(APP_RG, "vmss-app", "42")
    response = client.send_request(
        HttpRequest(
            "GET",
            f"{emulator.base_url}/subscriptions/{SUB}/providers/"
            "Microsoft.Compute/disks?api-version=2026-04-01",
        )
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "NotFound"


def test_requests_without_a_bearer_token_are_refused(emulator, compute_client) -> None:
    """ARM routes need Authorization: Bearer; without it the SDK sees 401."""

    class NoToken:
        def get_token(self, *scopes, **kwargs):
            raise ClientAuthenticationError("no credential here")

    from azure.mgmt.compute import ComputeManagementClient

    client = ComputeManagementClient(
        NoToken(), emulator.subscription, base_url=emulator.base_url, connection_verify=emulator.ca_bundle
    )
    with client, pytest.raises(ClientAuthenticationError):
        client.virtual_machines.get(DB_RG, "db-0")
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=emulator.ca_bundle)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(
            f"{emulator.base_url}/subscriptions/{SUB}/resourceGroups/{DB_RG}/providers/"
            "Microsoft.Compute/virtualMachines/db-0",
            context=context,
        )
    assert refused.value.code == 401
    refused.value.close()


def test_unknown_api_version_is_accepted(emulator, compute_client) -> None:
    """An older api-version is answered like the current one (the emulator does not version its shapes)."""
    client = compute_client(emulator)
    assert client.virtual_machines.get(DB_RG, "db-0", api_version="2024-07-01").name == "db-0"
    assert "api-version=2024-07-01" in emulator.requests()[-1]["path"]


def test_http_errors_carry_the_cloud_error_message(emulator, compute_client) -> None:
    """The SDK's HttpResponseError shows Azure's code and message, as it would for Azure."""
    client = compute_client(emulator)
    with pytest.raises(HttpResponseError) as err:
        client.availability_sets.get(DB_RG, "as-nope")
    assert "ResourceNotFound" in str(err.value) and "as-nope" in str(err.value)


def _dropped(model: object, data: object, path: str = "") -> list[str]:
    """Keys of ``data`` that the SDK model has no field for (they would be invisible to udroll)."""
    if isinstance(data, list) and isinstance(model, list):
        return [k for m, d in zip(model, data, strict=True) for k in _dropped(m, d, f"{path}[]")]
    fields = getattr(type(model), "_attr_to_rest_field", None)
    if not isinstance(data, dict) or fields is None:
        return []
    by_rest = {field._rest_name: attr for attr, field in fields.items()}
    lost = []
    for key, value in data.items():
        if key not in by_rest:
            lost.append(f"{path}.{key}")
        else:
            lost += _dropped(getattr(model, by_rest[key]), value, f"{path}.{key}")
    return lost


def test_no_field_of_any_answer_is_lost_by_the_sdk_models(make_emulator, compute_client) -> None:
    """Every key of every emulated answer maps to a field of the SDK model it deserializes into."""
    emu = make_emulator(synthetic_fleet(16, per_group=4))
    client = compute_client(emu)
    raw: list[dict] = []

    def hook(response) -> None:
        raw.append(response.http_response.json())

    calls = [
        lambda: client.virtual_machines.get(
            "rg-000", "as0-vm1", expand="instanceView", raw_response_hook=hook
        ),
        lambda: client.virtual_machines.get(
            "rg-000", "flex2-vm1", expand="instanceView", raw_response_hook=hook
        ),
        lambda: client.virtual_machines.get(
            "rg-000", "web3-vm2", expand="instanceView", raw_response_hook=hook
        ),
        lambda: client.virtual_machines.instance_view("rg-000", "as0-vm0", raw_response_hook=hook),
        lambda: client.availability_sets.get("rg-000", "as-0", raw_response_hook=hook),
        lambda: client.virtual_machine_scale_sets.get("rg-000", "vmss-1", raw_response_hook=hook),
        lambda: client.virtual_machine_scale_sets.get("rg-000", "flex-2", raw_response_hook=hook),
        lambda: client.virtual_machine_scale_sets.get_instance_view(
            "rg-000", "vmss-1", raw_response_hook=hook
        ),
        lambda: client.virtual_machine_scale_set_vms.get(
            "rg-000", "vmss-1", "2", expand="instanceView", raw_response_hook=hook
        ),
        lambda: client.virtual_machine_scale_set_vms.get_instance_view(
            "rg-000", "vmss-1", "2", raw_response_hook=hook
        ),
    ]
    for call in calls:
        model = call()
        assert _dropped(model, raw[-1]) == [], raw[-1]
    vm = client.virtual_machines.get("rg-000", "as0-vm1", expand="instanceView")
    assert vm.properties.instance_view.maintenance_redeploy_status.maintenance_window_end_time is not None
