"""Each VM's simulated application health endpoint: down while it reboots, warming up after, and its faults."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import urllib.error
import urllib.request

import pytest

from executor.emulator import Faults, VMFaults
from executor.run.clock import FakeClock

pytestmark = pytest.mark.e2e

T0 = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)


def probe(emu, vm: str) -> tuple[int, str]:
    """One health probe over HTTPS, verified with the emulator's CA."""
    context = ssl.create_default_context(cafile=emu.ca_bundle)
    try:
        with urllib.request.urlopen(emu.health_url(vm), context=context, timeout=5) as answer:
            return answer.status, json.loads(answer.read())["status"]
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())["status"]


def _trigger(emu, compute_client, rg: str, name: str) -> None:
    compute_client(emu).virtual_machines.begin_perform_maintenance(rg, name, polling=False)


def test_healthy_down_warming_up_healthy(make_emulator, compute_client) -> None:
    """200 before, 503 while rebooting and for the warm-up after, then 200 again."""
    clock = FakeClock(T0)
    emu = make_emulator(clock=clock, faults=Faults(maintenance_duration="10m", health_warmup="3m"))
    assert probe(emu, "rg-shop-db/db-0") == (200, "ok")
    _trigger(emu, compute_client, "rg-shop-db", "db-0")
    assert probe(emu, "rg-shop-db/db-0") == (503, "rebooting")
    clock.advance(10 * 60)
    assert probe(emu, "rg-shop-db/db-0") == (503, "warming up")
    clock.advance(3 * 60)
    assert probe(emu, "rg-shop-db/db-0") == (200, "ok")
    assert probe(emu, "rg-shop-db/db-1") == (200, "ok")  # other VMs never went down
    probes = [r for r in emu.requests() if r["kind"] == "health"]
    assert len(probes) == 5 and probes[0]["vm"].endswith("/virtualMachines/db-0")


def test_health_url_takes_an_id_or_a_ref(emulator) -> None:
    """health_url accepts a VM's ARM id (any case) or its ref, and names an https URL under base_url."""
    vm_id = next(v["id"] for v in emulator.state()["vms"] if v["ref"] == "rg-shop-app/vmss-app/2")
    assert (
        emulator.health_url(vm_id)
        == emulator.health_url(vm_id.upper())
        == emulator.health_url("rg-shop-app/vmss-app/2")
    )
    assert emulator.health_url(vm_id).startswith(f"{emulator.base_url}/_health/")
    with pytest.raises(KeyError):
        emulator.health_url("rg-shop-db/db-9")


def test_unknown_health_token_is_404(emulator) -> None:
    """A probe for a VM the emulator does not know answers 404."""
    context = ssl.create_default_context(cafile=emulator.ca_bundle)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{emulator.base_url}/_health/bm9wZQ", context=context)
    assert err.value.code == 404
    err.value.close()


def test_never_healthy(make_emulator) -> None:
    """health: never answers 503 whatever happens."""
    clock = FakeClock(T0)
    emu = make_emulator(clock=clock, faults=Faults(vms={"rg-shop-web/web-1": VMFaults(health="never")}))
    for _ in range(3):
        assert probe(emu, "rg-shop-web/web-1") == (503, "unhealthy")
        clock.advance(3600)


def test_flapping(make_emulator) -> None:
    """health: flapping is healthy and unhealthy in turns of flap_period."""
    clock = FakeClock(T0)
    emu = make_emulator(
        clock=clock, faults=Faults(vms={"rg-shop-web/web-1": VMFaults(health="flapping", flap_period="2m")})
    )
    seen = []
    for _ in range(4):
        seen.append(probe(emu, "rg-shop-web/web-1")[0])
        clock.advance(120)
    assert seen == [200, 503, 200, 503]


def test_slow_to_recover(make_emulator, compute_client) -> None:
    """health: slow keeps a VM unhealthy for 30 minutes after its reboot (or its own warmup)."""
    clock = FakeClock(T0)
    emu = make_emulator(
        clock=clock,
        faults=Faults(
            vms={"rg-shop-web/web-1": VMFaults(health="slow"), "rg-shop-web/web-2": VMFaults(warmup="5m")}
        ),
    )
    _trigger(emu, compute_client, "rg-shop-web", "web-1")
    _trigger(emu, compute_client, "rg-shop-web", "web-2")
    clock.advance(10 * 60 + 5 * 60)
    assert probe(emu, "rg-shop-web/web-1") == (503, "warming up")
    assert probe(emu, "rg-shop-web/web-2") == (200, "ok")
    clock.advance(25 * 60)
    assert probe(emu, "rg-shop-web/web-1") == (200, "ok")


def test_state_endpoint_reports_health(make_emulator, compute_client) -> None:
    """GET /_emulator/state and emu.state() report each VM's power, maintenance and health."""
    clock = FakeClock(T0)
    emu = make_emulator(clock=clock)
    _trigger(emu, compute_client, "rg-shop-db", "db-2")
    context = ssl.create_default_context(cafile=emu.ca_bundle)
    with urllib.request.urlopen(f"{emu.base_url}/_emulator/state", context=context) as answer:
        state = json.loads(answer.read())
    assert state == emu.state()
    db2 = next(v for v in state["vms"] if v["ref"] == "rg-shop-db/db-2")
    assert db2["power_state"] == "stopping" and db2["healthy"] is False and db2["health"] == "rebooting"
    assert db2["maintenance"]["last_result"] == "None" and db2["operation"]["outcome"] == "completed"
    assert state["operations"][0]["status"] == "InProgress" and state["now"] == "2026-11-23T22:00:00Z"


def test_clock_endpoint(make_emulator) -> None:
    """GET /_emulator/clock tells another process the simulated time cheaply."""
    emu = make_emulator(clock=FakeClock(T0 + dt.timedelta(minutes=5)))
    context = ssl.create_default_context(cafile=emu.ca_bundle)
    with urllib.request.urlopen(f"{emu.base_url}/_emulator/clock", context=context) as answer:
        assert json.loads(answer.read()) == {
            "now": "2026-11-23T22:05:00Z",
            "epoch": "2026-11-23T22:00:00Z",
            "speed": 600.0,
        }
