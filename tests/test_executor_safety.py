"""The safety promise outside the happy path (DESIGN §11): a skipped step keeps its gap, and the live
guard keeps a run off a group that someone else is walking."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import hypothesis.strategies as st
from executor_support import harness, shop, vm_id
from hypothesis import given, settings

from executor.run.backend import VMStatus
from executor.run.guard import GroupGuard
from executor.run.journal import Journal
from executor.run.scheduling import Schedule
from executor.run.scripted import VMScript
from planner.build import build_plan
from planner.fleet import Maintenance
from planner.select import selection

NOW = dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.timezone.utc)


def _db_steps(h: object) -> list[str]:
    plan = h.plan  # type: ignore[attr-defined]
    return [s.id for s in plan.steps if s.tier == "db"]


def test_a_skipped_step_whose_vms_rebooted_keeps_its_recovery_gap(tmp_path: Path) -> None:
    """A db step fails after its VM was maintained (never healthy), is skipped, and the run resumes:
    the next update domain starts no earlier than the skipped step's real end plus the db gap."""
    first = shop().spec.tiers[0]  # db: update_domain_order [2, 0, 1]
    assert first.name == "db"
    h = harness(tmp_path, scripts={"rg-shop-db/db-2": VMScript(warmup=1800)})  # healthy too late
    assert h.run().state == "halted"
    failed = _db_steps(h)[0]
    ended = h.journal.step(failed).ended_at
    assert h.step_states()[failed] == "failed" and ended is not None
    Journal.open(h.directory).request("skip", failed, h.clock.now())
    h.reopen()
    assert h.run().state == "completed"
    nxt = h.plan.steps[[s.id for s in h.plan.steps].index(_db_steps(h)[1])]
    (trigger_at, _), *_ = h.backend.triggers(nxt.vms[0])
    assert trigger_at >= ended + dt.timedelta(seconds=nxt.gap_after_s)
    skipped = [e for e in h.reporter.of("step-skipped") if e.step == failed]
    assert "recovery gap still holds" in skipped[0].message


def test_a_skipped_step_that_touched_no_vm_imposes_no_gap(tmp_path: Path) -> None:
    """A step that never touched a VM (skipped while waiting) is ignored: its successor need not wait."""
    h = harness(tmp_path)
    first = _db_steps(h)[0]
    Journal.open(h.directory).request("skip", first, h.clock.now())
    assert h.run().state == "completed"
    nxt = next(s for s in h.plan.steps if s.id == _db_steps(h)[1])
    (trigger_at, _), *_ = h.backend.triggers(nxt.vms[0])
    assert trigger_at < h.plan.start + dt.timedelta(minutes=5)


def _schedule() -> Schedule:
    loaded = shop()
    assert loaded.inventory is not None
    plan = build_plan(loaded.spec, loaded.inventory, NOW)
    settings_ = {t.name: loaded.spec.settings(t) for t in loaded.spec.tiers}
    fleet = {vm.id: vm for vm in loaded.inventory.vms}
    capacity = dict.fromkeys(settings_, 100)
    far = (plan.start - dt.timedelta(days=1), plan.start + dt.timedelta(days=60))
    return Schedule(plan, loaded.spec, settings_, fleet, capacity, [far])


@settings(max_examples=60, deadline=None)
@given(
    state=st.sampled_from(["done", "skipped", "failed-then-skipped", "skipped-untouched"]),
    elapsed=st.integers(min_value=0, max_value=3 * 3600),
)
def test_the_next_domain_waits_the_gap_of_every_predecessor_that_ended(state: str, elapsed: int) -> None:
    """Property: whatever became of the previous step of a group (done, or skipped after it ended), the
    next step does not start until its gap has passed; a step skipped untouched imposes nothing."""
    schedule = _schedule()
    steps = [s for s in schedule.order if s.group == schedule.order[0].group]
    first, second = steps[0], steps[1]
    ended_at = NOW
    now = ended_at + dt.timedelta(seconds=elapsed)
    states = {s.id: "waiting" for s in schedule.order}
    states[first.id] = "skipped" if "skipped" in state else "done"
    ended = {} if state == "skipped-untouched" else {first.id: ended_at}
    decision = schedule.decide(states, ended, now)
    started = {s.id for s in decision.start}
    gap_over = elapsed >= first.gap_after_s
    if state == "skipped-untouched":
        assert second.id in started
    else:
        assert (second.id in started) == gap_over
        if not gap_over:
            assert decision.waiting[second.id].until == ended_at + dt.timedelta(seconds=first.gap_after_s)


def _guard() -> tuple[GroupGuard, list[str], object]:
    loaded = shop()
    assert loaded.inventory is not None
    plan = build_plan(loaded.spec, loaded.inventory, NOW)
    fleet = {vm.id: vm for vm in loaded.inventory.vms}
    guard = GroupGuard(selection(loaded.spec, loaded.inventory.vms), fleet, NOW, recheck_s=30)
    db = [s for s in plan.steps if s.tier == "db"]
    return guard, [vm for s in db for vm in s.vms], db


def _status(vm: str, power: str = "running", allowed: bool = True, result: str = "None") -> VMStatus:
    window = (NOW - dt.timedelta(days=3), NOW + dt.timedelta(days=30))
    m = Maintenance(customer_initiated_allowed=allowed, self_service_window=window, last_result=result)
    return VMStatus(vm, power, m)


def test_the_guard_holds_a_step_while_another_domain_is_under_maintenance() -> None:
    """Someone else's maintenance on ud0 holds the ud2 step; once done, it holds a full gap from the
    first read that showed it done; then it lets go."""
    guard, _, db = _guard()
    step, other = db[0], db[1]  # ud2 first, then ud0
    vm = other.vms[0]
    guard.observe(_status(vm, "stopping", allowed=False), NOW)
    hold = guard.hold(step, set(), {}, NOW)
    assert hold is not None and "under maintenance by someone else" in hold.reason
    assert "ud0" in hold.reason
    done = NOW + dt.timedelta(minutes=12)
    guard.observe(_status(vm, allowed=False, result="MaintenanceCompleted"), done)
    hold = guard.hold(step, set(), {}, done + dt.timedelta(minutes=1))
    assert hold is not None and hold.until == done + dt.timedelta(seconds=step.gap_after_s)
    assert guard.hold(step, set(), {}, done + dt.timedelta(seconds=step.gap_after_s)) is None


def test_the_guard_ignores_our_own_vms_and_vms_not_yet_allowed() -> None:
    """VMs this run touched are the scheduler's business; a VM whose window has not opened (never
    allowed, running) is not someone else's maintenance."""
    guard, _, db = _guard()
    step, other = db[0], db[1]
    vm = other.vms[0]
    guard.observe(_status(vm, "starting", allowed=False), NOW)
    assert guard.hold(step, {vm}, {}, NOW) is None
    guard2, _, db2 = _guard()
    guard2.planned[db2[1].vms[0].lower()] = Maintenance(customer_initiated_allowed=False)
    guard2.observe(_status(db2[1].vms[0], allowed=False), NOW)
    assert guard2.hold(db2[0], set(), {}, NOW) is None


def test_a_run_waits_while_someone_else_maintains_another_domain(tmp_path: Path) -> None:
    """Scripted: db-0 (ud0) is being maintained by someone else when the run starts; the ud2 step
    waits with the reason recorded, and ud2 is triggered only a full gap after db-0 came back."""
    h = harness(tmp_path)
    db0 = vm_id(shop(), "rg-shop-db/db-0")
    h.backend.start_maintenance(db0)  # someone else, a moment before the run
    h.backend.calls.clear()
    outcome = h.run()
    assert outcome.state in ("completed", "halted")
    held = [e for e in h.reporter.of("step-held")]
    assert held and "under maintenance by someone else" in held[0].message
    db2 = vm_id(shop(), "rg-shop-db/db-2")
    (trigger_at, _), *_ = h.backend.triggers(db2)
    came_back = h.plan.start + dt.timedelta(seconds=h.backend.duration)
    gap = next(s for s in h.plan.steps if db2 in s.vms).gap_after_s
    assert trigger_at >= came_back + dt.timedelta(seconds=gap)
    assert [vm for _, kind, vm in h.backend.calls if kind == "trigger"].count(db0) == 0


def test_a_second_run_that_would_walk_a_held_group_is_refused(tmp_path: Path) -> None:
    """The fleet lock: while one run holds the shop's groups, `udroll run` on another journal is
    refused at start (exit 2) with the holder named, before anything is triggered."""
    from executor_support import SHOP, fakes, invoke

    from executor.run.locks import lock_plan_groups

    loaded = shop()
    assert loaded.inventory is not None
    plan = build_plan(loaded.spec, loaded.inventory, NOW)
    held = lock_plan_groups(plan, tmp_path / "first-run")
    try:
        deps = fakes()
        code, out = invoke(["run", str(SHOP), "--journal", str(tmp_path / "second"), "--yes"], deps)
        assert code == 2
        assert "first-run" in out and "pid" in out
        assert deps["backend"].triggers() == []
    finally:
        held.release()
    code, _ = invoke(["run", str(SHOP), "--journal", str(tmp_path / "third"), "--yes"], fakes())
    assert code == 0


def test_a_trigger_found_only_by_reconciliation_is_in_the_audit(tmp_path: Path) -> None:
    """A crash between Azure accepting a trigger and the handle being journalled: the resumed run
    follows the VM from its status, never triggers it again, and the triggers table has its row."""
    h = harness(tmp_path)
    first = h.plan.steps[0]
    vm = first.vms[0]
    h.journal.record_intent(vm, h.clock.now())
    h.backend.start_maintenance(vm)  # the call reached Azure; its answer was lost with the process
    assert h.run().state == "completed"
    assert [v for v, _step, _at in h.journal.triggers()].count(vm) == 1
    assert len(h.backend.triggers(vm)) == 1
    assert h.journal.vm(vm).state == "healthy"
    assert len(h.journal.triggers()) == len({v for s in h.plan.steps for v in s.vms})


def test_a_long_azure_outage_pauses_the_run_with_exit_5_and_fails_nothing(tmp_path: Path) -> None:
    """Azure answers 503 for three hours from just after the first trigger: nothing is triggered
    during it, no VM or step is failed for it, the run pauses at the step's timeout, and the CLI exits
    5 saying Azure is unavailable and which VMs were not started."""
    from executor_support import SHOP, SHOP_START, invoke

    from executor.run.clock import FakeClock
    from executor.run.scripted import ScriptedBackend

    loaded = shop()
    assert loaded.inventory is not None
    clock = FakeClock(SHOP_START)
    down = SHOP_START + dt.timedelta(minutes=2)
    outage = [(down, down + dt.timedelta(hours=3))]
    backend = ScriptedBackend(loaded.inventory, clock, outages=outage)
    deps = {"clock": clock, "backend": backend, "tty": False, "live": False, "prober": backend.prober}
    journal, fleet = tmp_path / "j", tmp_path / "fleet.json"
    fleet.write_text(loaded.inventory.to_json())  # planned from a snapshot: the outage meets the runner
    code, out = invoke(["run", str(SHOP), "--fleet", str(fleet), "--journal", str(journal), "--yes"], deps)
    assert code == 5, out
    assert "Azure unavailable" in out and "nothing was triggered blind" in out and "not started" in out
    assert backend.triggers() and all(at < down for at, _ in backend.triggers())
    done = Journal.open(journal)
    assert done.run_state == "paused"
    assert [r.vm for r in done.vms() if r.state == "failed"] == []
    assert [s.id for s in done.steps() if s.state == "failed"] == []


def test_abort_with_no_runner_records_the_vms_in_flight_through_resume(tmp_path: Path) -> None:
    """kill -9 with a VM in flight, then `udroll abort`: the abort is recorded, `resume` follows the
    VM to its outcome (healthy), triggers nothing new, and the run ends aborted."""
    from executor_support import invoke

    h = harness(tmp_path)
    first = h.plan.steps[0]
    vm = first.vms[0]

    def die(event: object) -> None:
        if getattr(event, "kind", "") == "vm-triggered":
            raise KeyboardInterrupt  # the runner stops right after the trigger, the VM in flight

    h.reporter.on_event = die
    h.run()
    h.reporter.on_event = None
    h.journal.close()
    code, out = invoke(["abort", "--journal", str(h.directory)], {"clock": h.clock})
    assert code == 0 and "in flight" in out
    h.journal = Journal.open(h.directory)
    h.journal.lock()
    outcome = h.run()
    assert outcome.state == "aborted"
    assert h.journal.vm(vm).state == "healthy"
    assert [v for _, v in h.backend.triggers()] == [vm]
