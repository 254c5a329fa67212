"""ARM requests per VM and per step on the floor (issue 18), judged from the emulator's request log of a
small fleet run through the real SDK: one fresh read before a trigger and one after it (a VM's instance
view, or one list of a uniform scale set per step), one perform-maintenance per VM or per uniform scale
set step, no operation polls when the status settles it, and the live guard reading only the other
domains' VMs that this run has not triggered yet — through one sweep of the subscription's statuses
when that costs fewer requests than a read each."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

import pytest
from executor_support import PENDING, run_simulated

from planner.load import parse_spec

pytestmark = pytest.mark.e2e

SPEC = """
version: 1
name: floor
subscription: 11111111-2222-3333-4444-555555555555
defaults:
  recovery_gap: 31m
  expected_duration: 10m
  health: {wait: 1m, timeout: 20m, healthy_for: 2m, interval: 30s}
window: {not_before: 2026-11-23T21:00:00Z}
tiers:
  - {name: db, select: {tags: {role: db}}, max_unavailable: 50%}
  - {name: app, select: {tags: {role: app}}, max_unavailable: 34%}
  - {name: web, select: {tags: {role: web}}, max_unavailable: 34%}
inventory:
""" + "".join(
    [
        f"  - {{name: db-{i}, resource_group: rg-a, availability_set: as-db, update_domain: {i % 2}, "
        f"fault_domain: {i % 2}, tags: {{role: db}}, maintenance: {PENDING}}}\n"
        for i in range(4)
    ]
    + [
        f"  - {{name: app_{i}, resource_group: rg-a, scale_set: vmss-app, orchestration: Uniform, "
        f"instance_id: '{i}', update_domain: {i % 3}, fault_domain: {i % 3}, tags: {{role: app}}, "
        f"maintenance: {PENDING}}}\n"
        for i in range(6)
    ]
    + [
        f"  - {{name: web-{i}, resource_group: rg-a, zone: '{1 + i}', tags: {{role: web}}, "
        f"maintenance: {PENDING}}}\n"
        for i in range(3)
    ]
)
SPEED = 300.0


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[dict[str, Any]]]:
    loaded = parse_spec(SPEC, "floor.yaml")
    plan, outcome, requests = run_simulated(loaded, tmp_path_factory.mktemp("floor") / "j", SPEED)
    assert outcome.state == "completed", outcome
    return plan, requests


def _triggered_at(requests: list[dict[str, Any]]) -> dict[str, dt.datetime]:
    """When each VM was triggered (a scale set call triggers its instances)."""
    out: dict[str, dt.datetime] = {}
    for r in requests:
        if r["method"] == "POST" and "performMaintenance" in r["path"] and r["status"] == 202:
            for vm in r.get("vms") or [r["vm"]]:
                out.setdefault(vm.lower(), _at(r["sim"]))
    return out


def _views(requests: list[dict[str, Any]]) -> dict[str, list[dt.datetime]]:
    """Each standalone VM's instance-view reads, in time order."""
    out: dict[str, list[dt.datetime]] = defaultdict(list)
    for r in requests:
        if r["method"] == "GET" and r["path"].split("?")[0].endswith("/instanceView") and r["vm"]:
            out[r["vm"].lower()].append(_at(r["sim"]))
    return out


def test_one_trigger_per_vm_one_per_scale_set_step_and_no_operation_polls(run: Any) -> None:
    """Every VM triggered once; a uniform scale set step is one POST; no operation status is polled."""
    plan, requests = run
    posts = [r for r in requests if r["method"] == "POST"]
    scale_set_steps = [s for s in plan.steps if s.tier == "app"]
    assert len(posts) == 4 + 3 + len(scale_set_steps)
    assert sorted(Counter(vm for r in posts for vm in r.get("vms") or [r["vm"]]).values()) == [1] * 13
    assert not [r for r in requests if "/operations/" in r["path"].lower()]


def _sweeps(requests: list[dict[str, Any]]) -> list[dt.datetime]:
    """When the subscription's run-time statuses were listed (``list_all(statusOnly=true)``; one page
    in this fleet): each is a read of every standalone VM."""
    return [_at(r["sim"]) for r in requests if r["method"] == "GET" and "statusOnly=true" in r["path"]]


def test_a_standalone_vm_is_read_once_after_its_trigger(run: Any) -> None:
    """No early look: after its trigger a VM's status is read once, when the maintenance is due (its
    instance view, or a sweep of the subscription), and never on its own before then."""
    _, requests = run
    triggered, views, sweeps = _triggered_at(requests), _views(requests), _sweeps(requests)
    due = dt.timedelta(minutes=10)
    standalone = {
        vm: at for vm, at in triggered.items() if "/virtualmachines/" in vm and "scalesets" not in vm
    }
    assert len(standalone) == 7
    for vm, at in standalone.items():
        own = [t for t in views[vm] if t > at]
        assert len(own) <= 1 and all(t >= at + due for t in own), (vm, own)
        assert [t for t in own + sweeps if t >= at + due], vm


def test_the_guard_reads_only_what_this_run_has_not_triggered(run: Any) -> None:
    """A VM of a group's first domain has at most two instance views in the whole run (before and
    after its trigger): later steps' guards leave the run's own VMs alone. A later domain's VM has at
    most two more per earlier step of its group (at that step's start and right before its trigger)."""
    plan, requests = run
    views = _views(requests)
    for group in ("db", "web"):
        steps = sorted((s for s in plan.steps if s.tier == group), key=lambda s: s.start)
        for index, step in enumerate(steps):
            for vm in step.vms:
                assert len(views[vm.lower()]) <= 2 + 2 * index, (vm, views[vm.lower()])
        assert all(len(views[vm.lower()]) <= 2 for vm in steps[0].vms)


def test_steps_starting_together_share_one_sweep_for_their_reads_before_the_triggers(run: Any) -> None:
    """The guards of steps starting together and their VMs' reads before a trigger come from one sweep
    of the subscription's statuses when a read each would cost more: the instance views of standalone
    VMs before their own trigger plus the sweeps are fewer than the standalone VMs (a read each: 7,
    plus the guards' reads of the other domains)."""
    _, requests = run
    triggered, views, sweeps = _triggered_at(requests), _views(requests), _sweeps(requests)
    standalone = {
        vm: at for vm, at in triggered.items() if "/virtualmachines/" in vm and "scalesets" not in vm
    }
    before = sum(1 for vm, at in standalone.items() for t in views[vm] if t < at)
    assert sweeps and before + len(sweeps) < len(standalone), (before, len(sweeps))


def test_a_uniform_scale_set_step_lists_its_set_at_most_three_times(run: Any) -> None:
    """Per uniform scale set step: the guard's list at its start, one list that is both its fresh read and
    the guard's right before the trigger, and one after: never a list per instance or an early look."""
    plan, requests = run
    lists = [
        r
        for r in requests
        if r["method"] == "GET"
        and "/virtualMachineScaleSets/vmss-app/virtualMachines" in r["path"]
        and "instanceView" in r["path"]
        and r["path"].split("?")[0].endswith("/virtualMachines")
    ]
    steps = [s for s in plan.steps if s.tier == "app"]
    assert not [
        r
        for r in requests
        if r["path"].split("?")[0].lower().endswith("/instanceview") and "scalesets" in r["path"].lower()
    ]
    assert len(lists) <= 3 * len(steps), len(lists)
