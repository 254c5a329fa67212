"""The HTTPS server: loopback only, keep-alive, TCP_NODELAY, concurrent clients, and the request log file."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor

import pytest

from executor.emulator import Emulator
from executor.run.clock import ScaledClock
from planner.errors import InputError
from planner.load import load_spec

pytestmark = pytest.mark.e2e

SUB = "11111111-2222-3333-4444-555555555555"
VM_PATH = f"/subscriptions/{SUB}/resourceGroups/rg-shop-db/providers/Microsoft.Compute/virtualMachines/db-0"


def _connection(emu) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=emu.ca_bundle)
    return http.client.HTTPSConnection(
        emu.base_url.removeprefix("https://").split(":")[0], emu.port, context=context, timeout=5
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_only_loopback_hosts_are_accepted(host: str) -> None:
    """Binding to anything but loopback is refused before a socket is opened."""
    fleet = load_spec("plans/three-tier-shop.yaml").inventory
    with pytest.raises(InputError, match="loopback only"):
        Emulator(fleet, host=host)


def test_keep_alive_and_nodelay(emulator) -> None:
    """Several requests share one TLS connection (HTTP/1.1 keep-alive), with Nagle's algorithm off."""
    conn = _connection(emulator)
    headers = {"Authorization": "Bearer x", "x-ms-client-request-id": "abc"}
    sockets = set()
    for _ in range(3):
        conn.request("GET", VM_PATH + "?api-version=2026-04-01", headers=headers)
        answer = conn.getresponse()
        assert answer.status == 200 and json.loads(answer.read())["name"] == "db-0"
        assert answer.version == 11 and answer.getheader("Connection") is None
        sockets.add(id(conn.sock))
    assert len(sockets) == 1
    server_side = next(iter(emulator._server.connections))
    assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    conn.close()
    assert [r["client_request_id"] for r in emulator.requests()] == ["abc"] * 3


def test_method_not_allowed_and_unknown_route(emulator) -> None:
    """A known path with another method is 405; an unknown path is 404; both with CloudError bodies."""
    conn = _connection(emulator)
    headers = {"Authorization": "Bearer x"}
    conn.request("DELETE", VM_PATH + "?api-version=2026-04-01", headers=headers)
    answer = conn.getresponse()
    assert answer.status == 405 and json.loads(answer.read())["error"]["code"] == "MethodNotAllowed"
    conn.request("GET", "/nothing/here", headers=headers)
    answer = conn.getresponse()
    assert (
        answer.status == 404
        and "No route for GET /nothing/here" in json.loads(answer.read())["error"]["message"]
    )
    conn.close()


def test_concurrent_clients(emulator, compute_client) -> None:
    """Eight clients at once each get every answer right."""

    def work(i: int) -> list[str]:
        client = compute_client(emulator)
        return [client.virtual_machines.get("rg-shop-db", f"db-{j % 3}").name for j in range(20)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    assert all(r == [f"db-{j % 3}" for j in range(20)] for r in results)
    assert len(emulator.requests()) == 160


def test_request_log_file(make_emulator, compute_client, tmp_path) -> None:
    """log_path receives one JSON object per request with wall and simulated time and the call's ids."""
    path = tmp_path / "requests.jsonl"
    emu = make_emulator(log_path=path)
    client = compute_client(emu)
    client.virtual_machines.begin_perform_maintenance("rg-shop-db", "db-0").result()
    client.virtual_machines.instance_view("rg-shop-db", "db-0")
    emu.stop()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == emu.requests()
    first = lines[0]
    assert set(first) >= {"wall", "sim", "method", "path", "status", "vm", "operation", "client_request_id"}
    assert first["method"] == "POST" and first["vm"].endswith("/virtualMachines/db-0") and first["operation"]
    assert dt.datetime.fromisoformat(first["sim"].replace("Z", "+00:00")) >= dt.datetime(
        2026, 11, 23, 22, tzinfo=dt.timezone.utc
    )


def test_injected_clock_and_ready_info(make_emulator, tmp_path) -> None:
    """An injected clock is used as is; the ready file carries what a client needs to connect."""
    clock = ScaledClock(dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc), speed=120.0)
    emu = make_emulator(clock=clock)
    assert emu.clock is clock and emu.speed == 120.0
    path = tmp_path / "ready.json"
    emu.write_ready_file(path)
    ready = json.loads(path.read_text())
    assert ready == {
        "base_url": emu.base_url,
        "ca_bundle": emu.ca_bundle,
        "subscription": SUB,
        "speed": 120.0,
        "epoch": "2026-11-23T22:00:00Z",
    }


def test_stop_closes_idle_keep_alive_connections(make_emulator) -> None:
    """Stopping the emulator does not wait for clients that keep connections open."""
    emu = make_emulator()
    conn = _connection(emu)
    conn.request("GET", "/_emulator/state")
    conn.getresponse().read()
    emu.stop()
    with pytest.raises((OSError, http.client.HTTPException)):
        conn.request("GET", "/_emulator/state")
        conn.getresponse()
    conn.close()
