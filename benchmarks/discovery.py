"""Discovery against the emulator: requests per VM, throttling, time and peak memory.

Budget (issue 5): discovering N VMs costs at most N/100 requests plus one per resource group and
scale set, with no 429 under the emulator's default limits; 20,000 VMs stay under 1 GB of memory.

The emulator runs in its own process (`udroll emulator serve`), so the peak RSS printed is
discovery's alone. Run:

    /tmp/v/bin/python benchmarks/discovery.py            # 5,000 and 20,000 VMs
    /tmp/v/bin/python benchmarks/discovery.py 2000       # any sizes
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from executor.azure.connect import AzureOptions, connect
from executor.azure.discovery import snapshot
from planner.fleet import VM, Fleet, Maintenance, vm_id

SUB = "44444444-5555-6666-7777-888888888888"
EPOCH = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)
GROUPS = 10
UTC = dt.timezone.utc
PENDING = Maintenance(
    customer_initiated_allowed=True,
    self_service_window=(dt.datetime(2026, 11, 20, tzinfo=UTC), dt.datetime(2026, 12, 24, tzinfo=UTC)),
    scheduled_window=(dt.datetime(2026, 12, 28, tzinfo=UTC), dt.datetime(2027, 1, 10, tzinfo=UTC)),
)


def _vm(**fields: object) -> VM:
    fields.setdefault("location", "westeurope")
    fields.setdefault("maintenance", PENDING)
    if fields.get("orchestration") == "Uniform":
        fields.setdefault("name", f"{fields['scale_set']}_{fields['instance_id']}")
    draft = VM(id="x", **fields)  # type: ignore[arg-type]
    return draft.model_copy(update={"id": vm_id(SUB, draft)})


def fleet_of(total: int) -> tuple[Fleet, int]:
    """``total`` VMs in GROUPS resource groups: per group half in uniform scale sets of up to 100,
    a fifth in an availability set, a tenth in a flexible scale set, the rest standalone zonal VMs.
    Returns the fleet and its number of scale sets."""
    vms: list[VM] = []
    scale_sets = 0
    per_group = total // GROUPS
    for g in range(GROUPS):
        rg = f"rg-{g:02d}"
        uniform, in_set, flexible = per_group // 2, per_group // 5, per_group // 10
        standalone = per_group - uniform - in_set - flexible
        scale_sets += -(-uniform // 100) + (1 if flexible else 0)
        vms += [
            _vm(
                resource_group=rg,
                scale_set=f"vmss-{i // 100}",
                orchestration="Uniform",
                instance_id=str(i % 100),
                update_domain=i % 5,
                fault_domain=i % 3,
            )
            for i in range(uniform)
        ]
        vms += [
            _vm(
                name=f"db-{i}",
                resource_group=rg,
                availability_set="as-db",
                update_domain=i % 5,
                fault_domain=i % 3,
            )
            for i in range(in_set)
        ]
        vms += [
            _vm(
                name=f"flex-{i}",
                resource_group=rg,
                scale_set="flex",
                orchestration="Flexible",
                fault_domain=i % 3,
            )
            for i in range(flexible)
        ]
        vms += [
            _vm(name=f"web-{i}", resource_group=rg, zone=str(1 + i % 3), update_domain=0, fault_domain=0)
            for i in range(standalone)
        ]
    return Fleet(captured_at=EPOCH, vms=tuple(vms)), scale_sets


def run(total: int) -> None:
    fleet, scale_sets = fleet_of(total)
    with tempfile.TemporaryDirectory(prefix="udroll-bench-") as tmp:
        fleet_file, ready, log = Path(tmp, "fleet.json"), Path(tmp, "ready.json"), Path(tmp, "log.jsonl")
        fleet_file.write_text(fleet.to_json())
        del fleet
        udroll = Path(sys.executable).with_name("udroll")
        server = subprocess.Popen(
            [
                str(udroll),
                "emulator",
                "serve",
                "--fleet",
                str(fleet_file),
                "--ready-file",
                str(ready),
                "--log",
                str(log),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(600):
                if ready.exists():
                    break
                time.sleep(0.1)
            else:
                raise SystemExit("the emulator did not start")
            budget = total // 100 + GROUPS + scale_sets
            for label, groups in (
                ("named groups", [f"rg-{g:02d}" for g in range(GROUPS)]),
                ("whole subscription", None),
            ):
                before = _lines(log)
                backend = connect(AzureOptions(emulator=str(ready)))
                started = time.perf_counter()
                found = snapshot(backend.iter_vms(groups), backend.clock.now())
                seconds = time.perf_counter() - started
                entries = _entries(log)[before:]
                throttled = sum(1 for e in entries if e["status"] == 429)
                assert len(found.vms) == total, (len(found.vms), total)
                print(
                    f"{total:>6} VMs, {GROUPS} groups, {scale_sets} scale sets, {label:<18}: "
                    f"{len(entries):>4} requests (budget {budget}), {throttled} throttled, {seconds:6.2f} s"
                )
                backend.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(f"{total:>6} VMs: peak RSS of the discovering process {peak_mb:.0f} MB")


def _lines(path: Path) -> int:
    return len(_entries(path))


def _entries(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [5000, 20000]
    if len(sizes) > 1:  # one process per size, so each peak RSS is that size's own
        for size in sizes:
            subprocess.run([sys.executable, __file__, str(size)], check=True, env=os.environ)
    else:
        run(sizes[0])
