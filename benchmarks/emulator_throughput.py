"""Emulator budgets: >= 500 requests/s with keep-alive from one client; a 10,000-VM fleet loads in < 2 s.

Run: /tmp/v/bin/python benchmarks/emulator_throughput.py [--requests N] [--vms N]
Prints figures; asserts nothing (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.mgmt.compute import ComputeManagementClient

from executor.emulator import Emulator
from executor.emulator.fleets import synthetic_fleet
from planner.fleet import load_fleet


def fleet_load(vms: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.json"
        path.write_text(synthetic_fleet(vms).to_json())
        started = time.perf_counter()
        fleet = load_fleet(path)
        loaded = time.perf_counter()
        emu = Emulator(fleet).start()
        serving = time.perf_counter()
        emu.stop()
    print(
        f"fleet of {vms} VMs: load_fleet {loaded - started:.3f} s, emulator up {serving - loaded:.3f} s, "
        f"total {serving - started:.3f} s (budget 2 s)"
    )


def raw_keep_alive(ca_bundle: str, port: int, vm: str, requests: int) -> float:
    """One client, one TLS connection, sequential GETs of a VM."""
    context = ssl.create_default_context(cafile=ca_bundle)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context)
    headers = {"Authorization": "Bearer x"}
    started = time.perf_counter()
    for _ in range(requests):
        conn.request("GET", f"{vm}?api-version=2026-04-01", headers=headers)
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200, answer.status
    elapsed = time.perf_counter() - started
    conn.close()
    return requests / elapsed


def sdk(ready: dict, vm_id: str, requests: int, clients: int = 1) -> float:
    """azure-mgmt-compute virtual_machines.get, ``clients`` clients in parallel."""
    from executor.emulator import EmulatorCredential

    vm = vm_id.split("/")

    def work(_: int) -> None:
        with ComputeManagementClient(
            EmulatorCredential(),
            ready["subscription"],
            base_url=ready["base_url"],
            connection_verify=ready["ca_bundle"],
        ) as client:
            for _ in range(requests // clients):
                client.virtual_machines.get(vm[4], vm[8])

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, range(clients)))
    return (requests // clients * clients) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--vms", type=int, default=10_000)
    args = parser.parse_args()
    fleet_load(args.vms)
    fleet = synthetic_fleet(1000)
    vm = fleet.vms[0].id
    with Emulator(fleet) as emu:
        raw_keep_alive(emu.ca_bundle, emu.port, vm, 50)  # warm up
        rate = raw_keep_alive(emu.ca_bundle, emu.port, vm, args.requests)
        print(f"in-process emulator, raw HTTPS keep-alive, 1 client: {rate:.0f} requests/s (budget 500)")
        rate = sdk(emu.ready_info(), vm, 300)
        print(f"in-process emulator, azure-mgmt-compute get, 1 client: {rate:.0f} requests/s")
    with tempfile.TemporaryDirectory() as tmp:
        fleet_path, ready_path = Path(tmp) / "fleet.json", Path(tmp) / "ready.json"
        fleet_path.write_text(fleet.to_json())
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from executor.cli.main import main; main()",
                "emulator",
                "serve",
                "--fleet",
                str(fleet_path),
                "--ready-file",
                str(ready_path),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            while not ready_path.exists():
                time.sleep(0.05)
            ready = json.loads(ready_path.read_text())
            port = int(ready["base_url"].rsplit(":", 1)[1])
            raw_keep_alive(ready["ca_bundle"], port, vm, 50)
            rate = raw_keep_alive(ready["ca_bundle"], port, vm, args.requests)
            print(
                f"udroll emulator serve, raw HTTPS keep-alive, 1 client: {rate:.0f} requests/s (budget 500)"
            )
            rate = sdk(ready, vm, 300)
            print(f"udroll emulator serve, azure-mgmt-compute get, 1 client: {rate:.0f} requests/s")
            rate = sdk(ready, vm, 600, 4)
            print(f"udroll emulator serve, azure-mgmt-compute get, 4 clients: {rate:.0f} requests/s")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait()


if __name__ == "__main__":
    main()
