"""The faults file is validated like a spec, and each global fault shows through the real SDK."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from executor.emulator import Faults, load_faults
from executor.emulator.faults import parse_faults
from executor.emulator.server import Emulator
from executor.run.clock import FakeClock
from planner.errors import SpecError
from planner.load import load_spec

T0 = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)
SHOP = "plans/three-tier-shop.yaml"


def test_the_documented_example_loads() -> None:
    """The example in executor.emulator.faults' docstring is a valid faults file."""
    import executor.emulator.faults as module

    doc = module.__doc__ or ""
    example = textwrap.dedent(
        doc[doc.index("version: 1") : doc.index("Simulated durations")].replace("    ", "", 0)
    )
    faults = parse_faults(textwrap.dedent("    " + example), "example.yaml")
    assert faults.seed == 7 and faults.errors.rate == 0.02 and len(faults.outages) == 2
    assert faults.outages[0].start == dt.timedelta(hours=2)
    assert faults.outages[1].start == dt.datetime(2026, 11, 24, 1, tzinfo=dt.timezone.utc)
    assert faults.for_vm("rg-shop-db/db-1").retry_later == 2
    assert faults.for_vm("rg-shop-web/web-3").warmup == 40 * 60


def test_every_problem_is_reported_with_its_place(tmp_path) -> None:
    """Bad values and unknown keys are all reported at once as file:line:col with a hint."""
    path = tmp_path / "faults.yaml"
    path.write_text(
        textwrap.dedent("""\
        version: 1
        maintenance_duraton: 10m
        health_warmup: 5
        errors: {rate: 1.5}
        outages:
          - {start: soon, duration: 5m, mode: refused}
        vms:
          db-0: {retry_later: -1}
    """)
    )
    with pytest.raises(SpecError) as err:
        load_faults(path)
    lines = str(err.value).splitlines()[1:]
    text = "\n".join(lines)
    assert f"{path}:2:1: unknown key 'maintenance_duraton': did you mean 'maintenance_duration'?" in text
    assert f"{path}:3:16: health_warmup: a bare number (5) is not a duration" in text
    assert f"{path}:4:16: errors.rate:" in text
    assert f"{path}:6:13: outages[0].start: 'soon' is not an outage start" in text
    assert f"{path}:6:39: outages[0].mode: 'refused' is not allowed; use 'refuse' or 'unavailable'" in text
    assert f"{path}:8:23: vms.db-0.retry_later: input should be greater than or equal to 0" in text
    assert len(lines) == 6


def test_a_fault_for_a_vm_not_in_the_fleet_is_an_error(tmp_path) -> None:
    """A per-VM entry must name a VM of the fleet, with a did-you-mean hint at its line."""
    path = tmp_path / "faults.yaml"
    path.write_text("version: 1\nvms:\n  rg-shop-db/db-9: {abort: 1}\n  rg-shop-db/db-1: {abort: 1}\n")
    fleet = load_spec(SHOP).inventory
    with pytest.raises(SpecError) as err:
        Emulator(fleet, faults=path)
    assert f"{path}:3:3: vms: unknown VM 'rg-shop-db/db-9': did you mean 'rg-shop-db/db-" in str(err.value)
    assert len(err.value.problems) == 1


def test_an_empty_or_odd_file(tmp_path) -> None:
    """An empty file is a fault-free Azure; a list or a missing file is a located problem."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_faults(empty).model_dump() == Faults().model_dump()
    odd = tmp_path / "odd.yaml"
    odd.write_text("- 1\n")
    with pytest.raises(SpecError, match=r"odd\.yaml:1:1: a faults file is a YAML mapping"):
        load_faults(odd)
    with pytest.raises(SpecError, match=r"missing\.yaml: faults file not found: check the path"):
        load_faults(tmp_path / "missing.yaml")


def _outcomes(emu, client, count: int) -> list[int]:
    codes = []
    for _ in range(count):
        try:
            client.virtual_machines.get("rg-shop-db", "db-0")
            codes.append(200)
        except HttpResponseError as err:
            codes.append(err.status_code or 0)
    return codes


@pytest.mark.e2e
def test_server_error_rate_is_seeded(make_emulator, compute_client) -> None:
    """errors.rate fails a share of requests with 500/503, the same ones for the same seed."""
    faults = Faults(seed=3, errors={"rate": 0.5})
    runs = []
    for _ in range(2):
        emu = make_emulator(faults=faults)
        runs.append(_outcomes(emu, compute_client(emu, retry_total=0), 30))
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 500, 503}
    assert 5 < runs[0].count(200) < 25


@pytest.mark.e2e
def test_server_errors_are_retried_by_the_sdk(make_emulator, compute_client) -> None:
    """With its default retries the SDK rides over a 30% error rate on reads."""
    emu = make_emulator(faults=Faults(seed=1, errors={"rate": 0.3}, latency_ms=1))
    client = compute_client(emu)
    assert len(list(client.virtual_machines.list_all())) == 10
    for name in ("db-0", "db-1", "db-2"):
        assert client.virtual_machines.get("rg-shop-db", name).name == name
    assert any(r["status"] >= 500 for r in emu.requests())


@pytest.mark.e2e
def test_unavailable_outage(make_emulator, compute_client) -> None:
    """During an 'unavailable' outage ARM answers 503; before and after it answers normally."""
    clock = FakeClock(T0)
    emu = make_emulator(clock=clock, faults=Faults(outages=[{"start": "10m", "duration": "5m"}]))
    client = compute_client(emu, retry_total=0)
    assert _outcomes(emu, client, 1) == [200]
    clock.advance(600)
    assert _outcomes(emu, client, 2) == [503, 503]
    assert emu.requests()[-1]["error"] == "ServiceUnavailable"
    clock.advance(300)
    assert _outcomes(emu, client, 1) == [200]


@pytest.mark.e2e
def test_refusing_outage_drops_connections(make_emulator, compute_client) -> None:
    """During a 'refuse' outage the connection is closed without an answer; the health endpoint still works."""
    clock = FakeClock(T0)
    start = T0 + dt.timedelta(hours=1)
    emu = make_emulator(
        clock=clock, faults=Faults(outages=[{"start": start.isoformat(), "duration": "1h", "mode": "refuse"}])
    )
    client = compute_client(emu, retry_total=0)
    clock.advance(3600)
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        client.virtual_machines.get("rg-shop-db", "db-0")
    assert emu.requests()[-1]["status"] == 0
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=emu.ca_bundle)
    with urllib.request.urlopen(emu.health_url("rg-shop-db/db-0"), context=context) as answer:
        assert answer.status == 200
    clock.advance(3600)
    assert client.virtual_machines.get("rg-shop-db", "db-0").name == "db-0"


@pytest.mark.e2e
def test_lost_answers_start_maintenance_the_client_never_hears_of(make_emulator, compute_client) -> None:
    """lost_answers: the 202 is dropped after the start; the VM's status shows the maintenance happened."""
    clock = FakeClock(T0)
    emu = make_emulator(clock=clock, faults=Faults(errors={"lost_answers": 1.0}))
    client = compute_client(emu, retry_total=0)
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        client.virtual_machines.begin_perform_maintenance("rg-shop-db", "db-0")
    lost = emu.requests()[-1]
    assert (
        lost["method"] == "POST"
        and lost["status"] == 0
        and lost["error"] == "AnswerLost"
        and lost["operation"]
    )
    clock.advance(600)
    status = client.virtual_machines.instance_view("rg-shop-db", "db-0").maintenance_redeploy_status
    assert status.last_operation_result_code == "MaintenanceCompleted"
