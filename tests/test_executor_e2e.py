"""The runner end to end: the real azure-mgmt-compute SDK against the emulator over HTTPS, in compressed
time, checked against the emulator's request log (the ground truth)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from executor_support import E2E_SPEC as SPEC
from executor_support import invoke, rule_violations

from executor.rollout import plan_journal
from executor.run.events import RecordingReporter
from executor.run.journal import Journal
from executor.run.runner import RunConfig, Runner, RunOutcome
from executor.simulation import control_interval, simulation
from planner.build import build_plan
from planner.load import parse_spec

pytestmark = pytest.mark.e2e

SPEED = 3000.0


@dataclass
class Result:
    outcome: RunOutcome
    journal: Journal
    requests: list[dict[str, Any]]
    state: dict[str, Any]
    violations: list[str]
    reporter: RecordingReporter

    def triggers(self) -> Counter[str]:
        return Counter(vm for r in self.requests if _is_trigger(r) for vm in _started(r))

    def maintained(self) -> dict[str, int]:
        """Completed maintenance runs per VM, as the emulator saw them."""
        return {vm["ref"]: vm["attempts"] for vm in self.state["vms"]}

    def vm(self, name: str) -> Any:
        return next(r for r in self.journal.vms() if r.vm.endswith("/" + name))


def _started(entry: dict[str, Any]) -> list[str]:
    """The VMs a perform-maintenance started: the one it names, or a scale set call's instances."""
    return list(entry.get("vms") or [entry["vm"]])


def _is_trigger(entry: dict[str, Any]) -> bool:
    return entry["method"] == "POST" and "performMaintenance" in entry["path"] and entry["status"] == 202


def simulate(
    tmp_path: Path, faults: str = "", competing: bool = False, spec: str = SPEC, speed: float = SPEED
) -> Result:
    loaded = parse_spec(spec, "e2e.yaml")
    assert loaded.inventory is not None
    fleet = loaded.inventory
    plan = build_plan(loaded.spec, fleet, loaded.spec.window.not_before or fleet.captured_at)
    faults_path = None
    if faults:
        faults_path = tmp_path / "faults.yaml"
        faults_path.write_text("version: 1\n" + faults)
    with simulation(fleet, plan, speed, faults_path) as sim:
        journal = plan_journal(tmp_path / "j", plan)
        reporter = RecordingReporter()
        runner = Runner(
            journal,
            plan,
            loaded.spec,
            fleet,
            sim.backend,
            sim.clock,
            reporter,
            checks_for=sim.checks_for,
            config=RunConfig(control_interval=control_interval(speed)),
        )
        stop = threading.Event()
        storm = threading.Thread(target=_storm, args=(sim.emulator, stop), daemon=True) if competing else None
        if storm:
            storm.start()
        try:
            outcome = runner.run()
        finally:
            stop.set()
            if storm:
                storm.join()
        emu: Any = sim.emulator
        requests, state = emu.requests(), emu.state()
    triggers = [
        (dt.datetime.fromisoformat(r["sim"].replace("Z", "+00:00")), vm)
        for r in requests
        if _is_trigger(r)
        for vm in _started(r)
    ]
    violations = rule_violations(plan, loaded.spec, fleet, journal, triggers)
    return Result(outcome, journal, requests, state, violations, reporter)


def _storm(emu: Any, stop: threading.Event) -> None:
    """Another client, with no manners, reading db-0's instance view as fast as it can for 3 real
    seconds: a 429 storm on that VM's bucket."""
    from azure.mgmt.compute import ComputeManagementClient

    client = ComputeManagementClient(
        emu.credential,
        emu.subscription,
        base_url=emu.base_url,
        connection_verify=emu.ca_bundle,
        retry_total=0,
    )
    until = time.monotonic() + 3
    while not stop.is_set() and time.monotonic() < until:
        with contextlib.suppress(Exception):  # throttled, as intended
            client.virtual_machines.instance_view("rg-db", "db-0")


def arm(result: Result) -> list[dict[str, Any]]:
    return [r for r in result.requests if r["kind"] == "arm"]


def test_a_rollout_through_the_sdk_keeps_every_rule_and_the_request_budget(tmp_path: Path) -> None:
    """Every VM triggered once, R2-R8 hold in Azure's trigger times, at most 4 ARM requests per VM, no 429."""
    result = simulate(tmp_path)
    assert result.outcome.state == "completed", result.outcome
    assert result.violations == []
    assert set(result.triggers().values()) == {1} and len(result.triggers()) == 4
    requests = arm(result)
    assert all(r["status"] != 429 for r in requests)
    # the budget, plus the one list per step that a small step pays, plus the live guard's read of
    # the other domain of its group before each step (one VM each here)
    assert len(requests) <= 4 * 4 + 4 + 4


def test_retry_later_is_retried_until_it_completes(tmp_path: Path) -> None:
    """RetryLater twice: three triggers of that VM in the log, the run completes (the first RetryLater
    is seen at the read when the maintenance was due, the second soon after its trigger; at 600x the
    runner's real-time latency takes little of the step's timeout)."""
    result = simulate(tmp_path, "vms: {rg-db/db-1: {retry_later: 2}}\n", speed=600.0)
    assert result.outcome.state == "completed", (result.outcome, result.vm("db-1"))
    assert result.triggers()[result.vm("db-1").vm] == 3
    assert result.violations == []


def test_maintenance_aborted_halts_and_names_the_vm(tmp_path: Path) -> None:
    """MaintenanceAborted: the step fails, nothing more is triggered, the VM is reported for rescheduling."""
    result = simulate(tmp_path, "vms: {rg-db/db-0: {abort: 1}}\n")
    assert result.outcome.state == "halted"
    db0 = result.vm("db-0")
    assert result.outcome.reschedule == (db0.vm,)
    assert set(result.triggers()) == {db0.vm}


def test_a_vm_that_never_recovers_fails_at_the_health_timeout(tmp_path: Path) -> None:
    """A VM whose application stays down after maintenance (slow, 40m warm-up) fails its step."""
    result = simulate(tmp_path, "vms: {rg-db/db-0: {health: slow, warmup: 40m}}\n")
    assert result.outcome.state == "halted"
    assert "never became healthy" in (result.vm("db-0").message or "")


def test_a_vm_never_healthy_is_not_made_worse(tmp_path: Path) -> None:
    """A VM unhealthy before anything happens: its tier's step waits, then fails; nothing is triggered."""
    result = simulate(tmp_path, "vms: {rg-db/db-1: {health: never}}\n")
    assert result.outcome.state == "halted"
    assert result.triggers() == Counter()
    assert "already unhealthy" in (result.journal.steps()[0].error or "")


def test_a_flapping_vm_fails_its_gate(tmp_path: Path) -> None:
    """A VM that flaps every minute never holds healthy for 2 minutes: its step fails."""
    result = simulate(tmp_path, "vms: {rg-web/web-1: {health: flapping, flap_period: 1m}}\n")
    assert result.outcome.state == "halted"
    message = result.vm("web-1").message or ""
    assert "healthy" in message


def test_server_error_bursts_are_retried(tmp_path: Path) -> None:
    """A quarter of ARM requests answer 500/503: the run still completes, each VM triggered once."""
    result = simulate(tmp_path, "seed: 3\nerrors: {rate: 0.25, status: [500, 503]}\n")
    assert result.outcome.state == "completed", result.outcome
    assert any(r["status"] >= 500 for r in arm(result))
    assert set(result.triggers().values()) == {1}
    assert result.violations == []


def test_an_outage_is_ridden_out(tmp_path: Path) -> None:
    """Resource Manager refuses connections for 20 minutes mid-rollout: the run waits and completes."""
    result = simulate(tmp_path, "outages: [{start: 30m, duration: 20m, mode: refuse}]\n")
    assert result.outcome.state == "completed", result.outcome
    assert set(result.triggers().values()) == {1}
    assert result.violations == []


def test_a_429_storm_from_another_client_is_survived(tmp_path: Path) -> None:
    """Another client drains the buckets (429s in the log): our reads back off and the run completes."""
    one_vm = SPEC.split("  - {name: web,")[0] + SPEC[SPEC.index("inventory:") :].split("  - {name: db-1")[0]
    result = simulate(tmp_path, competing=True, spec=one_vm, speed=100)
    assert result.outcome.state == "completed", result.outcome
    ours = [r for r in arm(result) if "instanceView" in r["path"]]
    assert any(r["status"] == 429 for r in result.requests)
    assert set(result.triggers().values()) == {1}
    assert ours[-1]["status"] == 200


def test_udroll_run_simulate_runs_the_bundled_example(tmp_path: Path) -> None:
    """The README's first command, faster: `udroll run --simulate --yes` runs the bundled example to the end."""
    journal = tmp_path / "sim"
    code, out = invoke(
        ["run", "--simulate", "--yes", "--speed", "20000", "--journal", str(journal)],
        {"tty": False, "live": False},
    )
    assert code == 0, out[-2000:]
    assert "Rollout complete" in out
    code, report = invoke(["report", "--journal", str(journal)])
    assert code == 0 and "state: **completed**" in report
    code, status = invoke(["status", "--journal", str(journal)])
    assert "(simulated time)" in status
    code, out = invoke(["resume", "--journal", str(journal), "--yes"], {"tty": False})
    assert code == 0 and "already completed" in out


def test_udroll_run_simulate_with_faults_halts_and_reports(tmp_path: Path) -> None:
    """--simulate --faults: an aborted maintenance halts the run (exit 4) and the report names the VM."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    faults = tmp_path / "faults.yaml"
    faults.write_text("version: 1\nvms: {rg-db/db-0: {abort: 1}}\n")
    journal = tmp_path / "j"
    args = ["run", str(spec), "--simulate", "--faults", str(faults), "--yes", "--journal", str(journal)]
    code, out = invoke(args, {"tty": False, "live": False})
    assert code == 4, out[-2000:]
    code, report = invoke(["report", "--journal", str(journal), "-o", "json"])
    assert [vm.rsplit("/", 1)[-1] for vm in json.loads(report)["reschedule"]] == ["db-0"]


def scale_set_spec(count: int, *, update_domains: int, max_unavailable: str) -> str:
    """SPEC with one tier: a uniform scale set rg-app/vmss of ``count`` pending instances."""
    window = '["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"]'
    instances = "\n".join(
        f"  - {{name: app_{i}, resource_group: rg-app, scale_set: vmss, orchestration: Uniform, "
        f"instance_id: '{i}', update_domain: {i % update_domains}, maintenance: "
        f"{{customer_initiated_allowed: true, self_service_window: {window}}}}}"
        for i in range(count)
    )
    tier = f"  - {{name: app, select: {{scale_set: rg-app/vmss}}, max_unavailable: {max_unavailable}}}"
    return SPEC[: SPEC.index("tiers:")] + f"tiers:\n{tier}\ninventory:\n{instances}\n"


def test_scale_set_instances_of_a_step_are_started_with_one_request(tmp_path: Path) -> None:
    """A step of several uniform scale set instances is one perform-maintenance on the scale set; each
    instance is still followed, maintained once, and the rules hold."""
    result = simulate(tmp_path, spec=scale_set_spec(4, update_domains=2, max_unavailable="50%"))
    assert result.outcome.state == "completed", result.outcome
    posts = [r for r in result.requests if r["method"] == "POST" and "performMaintenance" in r["path"]]
    assert len(posts) == 2 and all("/virtualMachines/" not in r["path"] for r in posts)
    assert {vm["ref"]: vm["attempts"] for vm in result.state["vms"]} == {
        f"rg-app/vmss/{i}": 1 for i in range(4)
    }
    assert {row.state for row in result.journal.vms()} == {"healthy"}
    assert result.violations == []
