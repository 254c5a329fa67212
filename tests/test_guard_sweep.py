"""The live guard through a sweep (DESIGN §11 "Others act on Azure too", issue 18): when the other
domains to read outnumber the pages of one ``list_all(statusOnly=true)``, one sweep of the
subscription's run-time statuses is the guard's read, and it still keeps a run off a group that
someone else is maintaining — real SDK against the emulator, judged from its request log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from backend_support import EPOCH, make_vm
from backend_support import PENDING as PENDING_VIEW
from executor_support import PENDING, run_simulated

from executor.azure.connect import for_emulator
from executor.run.clock import FakeClock
from executor.run.events import RecordingReporter
from executor.simulation import Simulation
from planner.fleet import Fleet
from planner.load import parse_spec

pytestmark = pytest.mark.e2e

SPEC = """
version: 1
name: sweep
subscription: 11111111-2222-3333-4444-555555555555
defaults:
  recovery_gap: 31m
  expected_duration: 10m
  health: {wait: 1m, timeout: 20m, healthy_for: 2m, interval: 30s}
window: {not_before: 2026-11-23T21:00:00Z}
tiers:
  - {name: db, select: {tags: {role: db}}, max_unavailable: 34%}
inventory:
""" + "".join(
    f"  - {{name: db-{i}, resource_group: rg-a, availability_set: as-db, update_domain: {i % 3}, "
    f"fault_domain: {i % 2}, tags: {{role: db}}, maintenance: {PENDING}}}\n"
    for i in range(9)
)
SPEED = 300.0


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[dict[str, Any]], RecordingReporter]:
    """db-2 (update domain 2) is being maintained by someone else when the run starts."""
    loaded = parse_spec(SPEC, "sweep.yaml")
    reporter = RecordingReporter()

    def someone_else(sim: Simulation) -> None:
        assert loaded.inventory is not None
        other = next(vm.id for vm in loaded.inventory.vms if vm.name == "db-2")
        sim.backend.start_maintenance(other)  # someone else, through the same documented call

    plan, outcome, requests = run_simulated(
        loaded, tmp_path_factory.mktemp("sweep") / "j", SPEED, reporter, someone_else
    )
    assert outcome.state == "completed", outcome
    return plan, requests, reporter


def _posts(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in requests if r["method"] == "POST" and r["status"] == 202]


def test_a_sweep_is_the_guards_read_and_it_holds_the_run_while_someone_else_maintains(held: Any) -> None:
    """The first step (update domain 0) waits while db-2 is maintained by someone else and for a full
    recovery gap after: the guard saw it through sweeps, not an instance view of each other domain."""
    plan, requests, reporter = held
    someone, *ours = _posts(requests)
    assert someone["vm"].endswith("/db-2")
    first_ours = min(_at(r["sim"]) for r in ours)
    gap = dt.timedelta(seconds=plan.steps[0].gap_after_s)
    assert first_ours >= _at(someone["sim"]) + gap
    reasons = [e.message for e in reporter.events if e.kind == "step-held"]
    assert reasons and "under maintenance by someone else" in reasons[0], reasons
    before = [r for r in requests if _at(r["sim"]) < first_ours and r["method"] == "GET"]
    assert any("statusOnly=true" in r["path"] for r in before)
    views = [r for r in before if r["path"].split("?")[0].endswith("/instanceView")]
    others = [r for r in views if not any(r["vm"].endswith(f"/db-{i}") for i in (0, 3, 6))]
    assert not others, [r["vm"] for r in others]


def test_sweeps_stay_in_their_share_of_the_list_budget_and_nothing_is_throttled(held: Any) -> None:
    """No 429: sweeps take at most 80 list pages in any 3 minutes, half of HighCostGet's 160."""
    _, requests, _ = held
    assert not [r for r in requests if r["status"] == 429]
    sweeps = sorted(_at(r["sim"]) for r in requests if "statusOnly=true" in r["path"])
    window = dt.timedelta(minutes=3)
    assert max(sum(1 for t in sweeps if s <= t < s + window) for s in sweeps) <= 80


def test_a_sweep_costs_its_pages_and_sweeps_keep_to_half_the_list_budget(
    make_emulator: Callable[..., Any],
) -> None:
    """A sweep reads every VM resource's status (uniform instances are not VM resources) in pages of
    100; after one, it costs the pages it took, and sweeps stop at 80 pages in 3 minutes (half of
    HighCostGet's 160) until 3 minutes have passed."""
    vms = [
        make_vm(
            name=f"vm-{i}", resource_group="rg-a", update_domain=0, fault_domain=0, maintenance=PENDING_VIEW
        )
        for i in range(250)
    ]
    vms += [
        make_vm(resource_group="rg-a", scale_set="ss", orchestration="Uniform", instance_id=str(i))
        for i in range(3)
    ]
    emu = make_emulator(Fleet(captured_at=EPOCH, vms=tuple(vms)), epoch=EPOCH)
    clock = FakeClock(EPOCH)
    backend = for_emulator(emu, clock=clock)
    assert backend.sweep_cost(1) == 1  # the estimate, until a sweep counted its pages
    found = backend.sweep()
    assert sorted(found) == sorted(vm.id.lower() for vm in vms[:250])
    assert all(s.known and s.power_state == "running" and s.maintenance for s in found.values())
    sweeps = 1
    while backend.sweep_cost(1) == 3:
        backend.sweep()
        sweeps += 1
    assert sweeps == 80 // 3 and backend.sweep_cost(1) is None
    clock.advance(180)
    assert backend.sweep_cost(1) == 3
    pages = [r for r in emu.requests() if "statusOnly=true" in r["path"]]
    assert len(pages) == 3 * sweeps and not [r for r in pages if r["status"] != 200]


def test_no_sweep_while_azure_says_the_list_budget_is_nearly_spent(
    make_emulator: Callable[..., Any], compute_client: Callable[..., Any]
) -> None:
    """Another client spent the subscription's HighCostGet window: once an answer says less than twice
    a sweep's pages are left, no sweep is spent (the guard reads VM by VM meanwhile)."""
    vms = [make_vm(name=f"vm-{i}", resource_group="rg-a", update_domain=0, fault_domain=0) for i in range(5)]
    clock = FakeClock(EPOCH)  # no refill meanwhile, however slow the machine
    emu = make_emulator(Fleet(captured_at=EPOCH, vms=tuple(vms)), epoch=EPOCH, clock=clock)
    other = compute_client(emu)
    for _ in range(158):  # someone else's lists, in the same 3 minutes
        list(other.virtual_machines.list("rg-a"))
    backend = for_emulator(emu, clock=clock)
    assert backend.sweep_cost(1) == 1  # nothing learnt yet
    assert len(backend.sweep()) == 5  # its answer: one HighCostGet left
    assert backend.sweep_cost(1) is None


def test_a_vm_swept_without_its_maintenance_block_is_unknown_not_nothing_pending(
    make_emulator: Callable[..., Any],
) -> None:
    """statusOnly is documented as "run time status" only: a VM a sweep shows without
    maintenanceRedeployStatus comes back unknown (the runner reads it on its own), never as a VM with
    nothing pending; VMs shown with their block are known."""
    pending = [
        make_vm(
            name=f"p-{i}", resource_group="rg-a", update_domain=0, fault_domain=0, maintenance=PENDING_VIEW
        )
        for i in range(3)
    ]
    bare = [make_vm(name=f"b-{i}", resource_group="rg-a", update_domain=0, fault_domain=0) for i in range(2)]
    emu = make_emulator(Fleet(captured_at=EPOCH, vms=tuple(pending + bare)), epoch=EPOCH)
    found = for_emulator(emu, clock=FakeClock(EPOCH)).sweep()
    assert all(found[vm.id.lower()].known and found[vm.id.lower()].maintenance for vm in pending)
    assert all(not found[vm.id.lower()].known for vm in bare)
