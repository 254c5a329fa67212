"""The runner over the scripted backend and a fake clock: timing, rules, and each failure mode."""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from executor_support import harness, rule_violations, shop, vm_id

from executor.run.events import Event
from executor.run.journal import Journal, JournalLocked
from executor.run.runner import RunConfig
from executor.run.scripted import ScriptedBackend, VMScript
from planner.load import parse_spec


def on(journal: Journal, kind: str, command: str) -> Callable[[Event], None]:
    """A callback that sends ``command`` through the journal when an event of ``kind`` happens."""

    def callback(event: Event) -> None:
        if event.kind == kind:
            journal.request(command, None, event.at)

    return callback


DB1 = "rg-shop-db/db-1"
APP3 = "rg-shop-app/vmss-app/3"
WEB2 = "rg-shop-web/web-2"


def test_a_healthy_rollout_ends_exactly_when_planned(tmp_path: Path) -> None:
    """When every VM behaves as planned, each step starts and ends at its planned time."""
    h = harness(tmp_path)
    outcome = h.run()
    assert outcome.state == "completed"
    for row in h.journal.steps():
        step = h.plan.step(row.id)
        assert (row.started_at, row.ended_at) == (step.start, step.end), row.id
    assert h.clock.now() == h.plan.start + dt.timedelta(seconds=h.plan.makespan_s)


def test_rules_hold_and_every_vm_is_triggered_once(tmp_path: Path) -> None:
    """R2-R8 hold in the actual trigger times, and no VM is triggered twice."""
    h = harness(tmp_path)
    h.run()
    triggers = h.backend.triggers()
    assert rule_violations(h.plan, h.spec, h.fleet, h.journal, triggers) == []
    assert {row.state for row in h.journal.vms()} == {"healthy"}  # each went through its gate too
    planned = {vm for s in h.plan.steps for vm in s.vms}
    assert sorted(vm for _, vm in triggers) == sorted(planned)
    assert all(n == 1 for vm, n in h.backend.completed().items() if vm in planned)


def _big_scale_set(instances: int = 24) -> str:
    window = '["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"]'
    lines = [
        f"  - {{name: vmss_{i}, resource_group: rg, scale_set: vmss, orchestration: Uniform, "
        f"instance_id: '{i}', update_domain: {i % 2}, maintenance: {{customer_initiated_allowed: true, "
        f"self_service_window: {window}}}}}"
        for i in range(instances)
    ]
    return (
        "version: 1\nname: big\nsubscription: 11111111-2222-3333-4444-555555555555\n"
        "window: {not_before: 2026-11-23T21:00:00Z}\n"
        "tiers:\n  - {name: app, select: {scale_set: rg/vmss}, max_unavailable: 50%}\n"
        "inventory:\n" + "\n".join(lines) + "\n"
    )


def test_request_budget_per_vm(tmp_path: Path) -> None:
    """With steps of several VMs (status read by one list), calls stay within 4 per maintained VM."""
    h = harness(tmp_path, parse_spec(_big_scale_set(), "big.yaml"))
    assert h.run().state == "completed"
    maintained = sum(h.backend.completed().values())
    assert maintained == 24
    assert len(h.backend.calls) <= 4 * maintained


def test_retry_later_is_retried_with_backoff(tmp_path: Path) -> None:
    """RetryLater twice: the VM is triggered again after a backoff and ends maintained."""
    h = harness(tmp_path, scripts={DB1: VMScript(retry_later=2)})
    outcome = h.run()
    assert outcome.state == "completed"
    db1 = vm_id(shop(), DB1)
    times = [at for at, _ in h.backend.triggers(db1)]
    assert len(times) == 3
    assert times[1] - times[0] >= dt.timedelta(seconds=120)
    assert h.journal.vm(db1).state == "healthy"
    assert [e.vm for e in h.reporter.of("vm-retry")] == [db1, db1]


def test_retry_later_forever_fails_within_the_step_timeout(tmp_path: Path) -> None:
    """A VM that keeps answering RetryLater fails its step once the step's timeout would pass."""
    h = harness(tmp_path, scripts={DB1: VMScript(retry_later=100)})
    outcome = h.run()
    assert outcome.state == "halted"
    assert outcome.failed_steps == ("db/as-db/ud1",)
    assert "RetryLater" in (h.journal.vm(vm_id(shop(), DB1)).message or "")


def test_maintenance_aborted_fails_the_step_and_names_the_vm(tmp_path: Path) -> None:
    """MaintenanceAborted fails the step, halts the run (no later trigger) and is reported for rescheduling."""
    h = harness(tmp_path, scripts={DB1: VMScript(abort=1)})
    outcome = h.run()
    db1 = vm_id(shop(), DB1)
    assert outcome.state == "halted"
    assert outcome.reschedule == (db1,)
    row = h.journal.vm(db1)
    assert row.state == "failed" and "Azure will reschedule this VM" in (row.message or "")
    failed_at = h.journal.step("db/as-db/ud1").ended_at
    assert failed_at is not None
    assert all(at <= failed_at for at, _ in h.backend.triggers())
    assert h.step_states()["app/vmss-app/ud0/1"] == "waiting"


def test_a_vm_never_healthy_fails_its_step_at_the_health_timeout(tmp_path: Path) -> None:
    """A VM that never becomes healthy fails the step once health.timeout has passed."""
    h = harness(tmp_path, scripts={APP3: VMScript(health="never")})
    outcome = h.run()
    assert outcome.state == "halted"
    row = h.journal.vm(vm_id(shop(), APP3))
    assert "never became healthy" in (row.message or "")
    assert row.running_at is not None and h.journal.step(row.step).ended_at is not None
    assert h.journal.step(row.step).ended_at - row.running_at == dt.timedelta(minutes=20)  # type: ignore[operator]


def test_a_flapping_vm_does_not_get_through(tmp_path: Path) -> None:
    """A VM healthy only in bursts shorter than healthy_for fails with the flaps counted."""
    h = harness(tmp_path, scripts={APP3: VMScript(health="flapping", flap_period=120)})
    assert h.run().state == "halted"
    assert "did not stay healthy" in (h.journal.vm(vm_id(shop(), APP3)).message or "")


def test_a_short_outage_is_ridden_out(tmp_path: Path) -> None:
    """Resource Manager down for 10 minutes mid-rollout: calls back off and the run completes."""
    loaded = shop()
    start = dt.datetime(2026, 11, 23, 22, 30, tzinfo=dt.timezone.utc)
    h = harness(tmp_path, loaded, outages=[(start, start + dt.timedelta(minutes=10))])
    assert h.run().state == "completed"
    assert h.reporter.of("azure-retry")
    assert all(n <= 1 for n in h.backend.completed().values())


def test_a_long_outage_pauses_the_run_at_the_steps_timeout(tmp_path: Path) -> None:
    """An outage longer than a step's timeout pauses the run (Azure unavailable), failing nothing:
    the step goes on from the journal when the run is resumed after the outage."""
    start = dt.datetime(2026, 11, 23, 21, 5, tzinfo=dt.timezone.utc)
    h = harness(tmp_path, outages=[(start, start + dt.timedelta(hours=5))])
    outcome = h.run()
    assert outcome.state == "paused" and outcome.azure_unavailable
    assert "Azure kept failing" in outcome.message
    assert h.journal.step("db/as-db/ud2").state == "running"
    h.clock.advance(5 * 3600)
    assert h.run().state == "completed"


def test_an_unhealthy_tier_is_not_made_worse(tmp_path: Path) -> None:
    """A tier already unhealthy before a step: the step waits, then fails without triggering."""
    h = harness(tmp_path, scripts={"rg-shop-db/db-0": VMScript(health="down")})
    outcome = h.run()
    assert outcome.state == "halted"
    assert h.backend.triggers() == []
    assert "already unhealthy" in (h.journal.step("db/as-db/ud2").error or "")


def test_hooks_see_the_step_and_their_output_is_journalled(tmp_path: Path) -> None:
    """before_step/after_step get the step's VMs in argv and environment; output is kept."""
    script = tmp_path / "hook.py"
    script.write_text(
        "import os, sys\nprint(os.environ['UDROLL_HOOK'], os.environ['UDROLL_STEP'], "
        "os.environ['UDROLL_VMS'], '|', *sys.argv[1:])\n"
    )
    argv = json.dumps([sys.executable, str(script), "{vms}"])
    loaded = shop(
        **{
            "  max_unavailable: 1\n": f"  max_unavailable: 1\n  hooks: {{before_step: {argv}, "
            f"after_step: {argv}}}\n"
        }
    )
    h = harness(tmp_path, loaded)
    assert h.run().state == "completed"
    hooks = h.journal.hooks("db/as-db/ud2")
    assert [x["which"] for x in hooks] == ["before_step", "after_step"]
    assert hooks[0]["output"].strip() == "before_step db/as-db/ud2 db-2 | db-2"


def test_a_failing_before_hook_fails_the_step_before_any_trigger(tmp_path: Path) -> None:
    """A before_step hook exiting non-zero fails the step and nothing is triggered."""
    argv = json.dumps([sys.executable, "-c", "import sys; print('drain failed'); sys.exit(3)"])
    loaded = shop(**{"  max_unavailable: 1\n": f"  max_unavailable: 1\n  hooks: {{before_step: {argv}}}\n"})
    h = harness(tmp_path, loaded)
    assert h.run().state == "halted"
    assert h.backend.triggers() == []
    assert "exited 3: drain failed" in (h.journal.step("db/as-db/ud2").error or "")


def test_max_failed_steps_lets_independent_work_continue(tmp_path: Path) -> None:
    """With max_failed_steps: 1 a failure is tolerated: an independent tier still runs; exit is 4."""
    text = _big_scale_set(4).replace(
        "max_unavailable: 50%}", "max_unavailable: 50%}\n  - {name: other, select: {scale_set: rg/other}}"
    )
    text = text.replace("tiers:", "limits: {max_failed_steps: 1}\ntiers:")
    text += (
        text.split("inventory:\n")[1]
        .replace("vmss_", "other_")
        .replace("scale_set: vmss", "scale_set: other")
    )
    loaded = parse_spec(text, "two.yaml")
    h = harness(tmp_path, loaded, scripts={"rg/vmss/0": VMScript(abort=1)})
    outcome = h.run()
    assert outcome.state == "halted"
    states = h.step_states()
    assert [s for s, st in states.items() if st == "failed"] == ["app/vmss/ud0"]
    assert all(st == "done" for s, st in states.items() if s.startswith("other/"))


def test_pause_from_another_terminal_lets_in_flight_steps_finish(tmp_path: Path) -> None:
    """A pause request stops new steps; the running step finishes; resume completes the run."""
    h = harness(tmp_path)
    other = Journal.open(h.directory)
    h.reporter.on_event = on(other, "step-started", "pause")
    outcome = h.run()
    h.reporter.on_event = None
    assert outcome.state == "paused"
    assert h.step_states()["db/as-db/ud2"] == "done"
    assert h.step_states()["db/as-db/ud0"] == "waiting"
    assert h.run().state == "completed"
    assert all(n <= 1 for n in h.backend.completed().values())


def test_abort_halts_for_good(tmp_path: Path) -> None:
    """An abort request halts the run after in-flight VMs finish; a resume does not restart it."""
    h = harness(tmp_path)
    other = Journal.open(h.directory)
    h.reporter.on_event = on(other, "vm-triggered", "abort")
    assert h.run().state == "aborted"
    assert h.journal.run_state == "aborted"
    assert h.run().state == "aborted"
    assert len(h.backend.triggers()) == 1


def test_skip_and_retry_failed_continue_a_halted_run(tmp_path: Path) -> None:
    """After a halt, --retry-failed retries the failed step; a skipped step is left alone."""
    h = harness(tmp_path, scripts={DB1: VMScript(abort=1)})
    assert h.run().state == "halted"
    outcome = h.run(RunConfig(retry_failed=True, control_interval=300))
    assert outcome.state == "completed", outcome
    assert h.journal.vm(vm_id(shop(), DB1)).state == "healthy"

    h2 = harness(tmp_path / "second", scripts={APP3: VMScript(health="never")})
    assert h2.run().state == "halted"
    failed = next(s for s, st in h2.step_states().items() if st == "failed")
    Journal.open(h2.directory).request("skip", failed, h2.clock.now())
    assert h2.run().state == "completed"
    assert h2.step_states()[failed] == "skipped"


def test_a_second_runner_is_refused_by_the_lock(tmp_path: Path) -> None:
    """While one runner holds the journal, another gets JournalLocked (exit 2) naming the holder."""
    h = harness(tmp_path)
    with pytest.raises(JournalLocked, match="another udroll runner") as info:
        Journal.open(h.directory).lock()
    assert info.value.exit_code == 2


def test_gap_timers_count_the_time_the_runner_was_down(tmp_path: Path) -> None:
    """A runner down for longer than a gap resumes and starts the next step at once."""
    h = harness(tmp_path)
    other = Journal.open(h.directory)
    h.reporter.on_event = on(other, "step-started", "pause")
    h.run()
    h.reporter.on_event = None
    ended = h.journal.step("db/as-db/ud2").ended_at
    assert ended is not None
    h.clock.advance(3 * 3600)  # longer than the 60m gap
    resumed = h.clock.now()
    h.reopen()
    h.run()
    assert h.journal.step("db/as-db/ud0").started_at == resumed


class Crash(BaseException):
    """What kill -9 does to a runner, as far as the runner can tell: it stops mid-sentence."""


class CrashingBackend:
    """Delegates to the scripted backend and crashes after ``countdown`` calls; a crashing trigger is
    accepted by Azure first (the answer is lost), the worst moment: an intent with no handle."""

    def __init__(self, inner: ScriptedBackend, countdown: int):
        self.inner, self.countdown = inner, countdown
        self.prober = inner.prober

    def _tick(self) -> None:
        self.countdown -= 1
        if self.countdown == 0:
            raise Crash()

    def list_vms(self, resource_groups: list[str] | None = None) -> Any:
        self._tick()
        return self.inner.list_vms(resource_groups)

    def status(self, vm: str) -> Any:
        self._tick()
        return self.inner.status(vm)

    def start_maintenance(self, vm: str) -> Any:
        operation = self.inner.start_maintenance(vm)
        self._tick()
        return operation

    def poll(self, operation: Any) -> Any:
        self._tick()
        return self.inner.poll(operation)


@pytest.mark.parametrize("seed", range(8))
def test_crashes_at_random_calls_and_writes_never_trigger_twice(tmp_path: Path, seed: int) -> None:
    """Crash at random backend calls or journal writes, resume after random downtime, 15 times:
    every VM is maintained exactly once and R2-R8 hold."""
    rng = random.Random(seed)
    h = harness(tmp_path, scripts={DB1: VMScript(retry_later=1)})
    inner = h.backend
    for _ in range(15):
        writes = {"left": rng.randint(1, 60)}
        original = h.journal._tx

        def crashing_tx(original: Any = original, writes: dict[str, int] = writes) -> Any:
            writes["left"] -= 1
            if writes["left"] == 0:
                raise Crash()
            return original()

        h.journal._tx = crashing_tx  # type: ignore[method-assign]
        h.backend = CrashingBackend(inner, rng.randint(1, 12))  # type: ignore[assignment]
        try:
            outcome = h.run()
        except Crash:
            h.clock.advance(rng.choice([0.0, rng.uniform(0, 300), rng.uniform(0, 3600)]))
            h.journal._tx = original  # type: ignore[method-assign]
            h.reopen()
            continue
        assert outcome.state == "completed"
        break
    h.backend = inner
    h.reopen()  # a fresh journal handle, without the crashing writes
    outcome = h.run()
    assert outcome.state == "completed", outcome
    planned = {vm for s in h.plan.steps for vm in s.vms}
    assert all(inner.completed()[vm] == 1 for vm in planned)
    triggers = inner.triggers()
    per_vm = {vm: sum(1 for _, v in triggers if v == vm) for vm in planned}
    assert per_vm[vm_id(shop(), DB1)] == 2  # one RetryLater, one that worked
    assert all(n == 1 for vm, n in per_vm.items() if vm != vm_id(shop(), DB1))
    assert rule_violations(h.plan, h.spec, h.fleet, h.journal, triggers) == []
    assert {row.state for row in h.journal.vms()} == {"healthy"}  # each went through its gate too
