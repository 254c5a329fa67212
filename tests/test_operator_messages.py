"""Messages that tell the operator the truth (issue 15): resumed rows, waiting reasons, skipped VMs,
a runner that died, resume hints only where resume works, a calm pause, what changed in a plan."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from executor_support import SHOP, Harness, fakes, harness, invoke, shop, vm_id
from rich.console import Console

from executor import rollout
from executor.cli.console import LiveConsole
from executor.cli.status import render_status
from executor.emulator.faults import parse_faults
from executor.run.events import Event
from executor.run.gates import HealthGate, Probe
from executor.run.journal import Journal
from executor.run.scripted import VMScript
from planner.build import build_plan
from planner.errors import InputError
from planner.spec import HealthSettings

DB1 = "rg-shop-db/db-1"


def _screen(console: LiveConsole) -> str:
    """The live view's frame as text, 100 columns wide."""
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(console._render())
    return out.getvalue()


def _pause_after_first_step(h: Harness) -> None:
    def on_event(event: Event) -> None:
        if event.kind == "step-ended" and not h.journal.pending_controls():
            h.journal.request("pause", None, event.at)

    h.reporter.on_event = on_event


def test_a_resumed_live_view_starts_from_the_journal(tmp_path: Path) -> None:
    """After a pause, the live view of `resume` shows the steps already done as done with their VMs,
    and a waiting step with its reason, not every step as "waiting 0/1"."""
    h = harness(tmp_path)
    _pause_after_first_step(h)
    assert h.run().state == "paused"
    done = [row.id for row in h.journal.steps() if row.state == "done"]
    assert done
    console = LiveConsole(h.plan, h.clock, Console(file=io.StringIO(), width=100))
    console.restore(h.journal.steps(), h.journal.vms())
    screen = _screen(console)
    for step_id in done:
        line = next(line for line in screen.splitlines() if step_id in line)
        vms = len(h.plan.step(step_id).vms)
        assert "done" in line and f"{vms}/{vms}" in line, line
    assert f"{len(done)}/{len(h.plan.steps)} steps done" in screen


def test_waiting_events_carry_their_reason_as_the_message(tmp_path: Path) -> None:
    """step-waiting events have the reason in `message` (events.jsonl and the live view's "now"
    column), and no event puts anything but a VM's id into `vm`."""
    h = harness(tmp_path)
    h.run()
    waiting = h.reporter.of("step-waiting")
    assert waiting and all(e.vm is None and e.message.startswith("waiting for ") for e in waiting)
    assert all(e.vm is None or e.vm.startswith("/subscriptions/") for e in h.reporter.events)
    assert waiting[0].to_dict()["message"].startswith("waiting for ")
    console = LiveConsole(h.plan, h.clock, Console(file=io.StringIO(), width=100))
    console.emit(waiting[0])
    assert waiting[0].message[:30] in _screen(console).replace("\n", " ")


def test_a_skipped_vm_is_not_counted_as_done(tmp_path: Path) -> None:
    """A VM with nothing pending is skipped: the step ends "0 VMs maintained, 1 skipped", the live
    view shows 0/1 (1 skipped), and status says it was not maintained."""
    h = harness(tmp_path)
    db1 = vm_id(shop(), DB1)
    h.backend.vms[db1].maintenance = None
    h.run()
    step = next(s for s in h.plan.steps if db1 in s.vms)
    ended = next(e for e in h.reporter.of("step-ended") if e.step == step.id)
    assert ended.message == "done: 0 VMs maintained, 1 skipped"
    console = LiveConsole(h.plan, h.clock, Console(file=io.StringIO(), width=100))
    console.restore(h.journal.steps(), h.journal.vms())
    line = next(line for line in _screen(console).splitlines() if step.id in line)
    assert "0/1 (1 skipped)" in line, line
    data = rollout.status(h.journal, h.clock)
    row = next(s for s in data["steps"] if s["id"] == step.id)
    assert (row["vms_done"], row["vms_skipped"]) == (0, 1)
    assert "(1 VM skipped, not maintained)" in render_status(h.journal, h.clock)


def test_health_verdicts_never_contradict_the_probe_count() -> None:
    """A gate whose probes all passed never says "no probe passed"; one whose probes all failed
    gives the count; one that made no probe says so."""
    settings = HealthSettings(wait=0, timeout=60, healthy_for=600, interval=10, checks=())
    t0 = dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.timezone.utc)
    ok, bad = Probe("http", "url", True, "200"), Probe("http", "url", False, "503")
    passing, failing = HealthGate(settings, t0), HealthGate(settings, t0)
    for n in range(7):
        passing.observe(t0 + dt.timedelta(seconds=10 * n), [ok])
        failing.observe(t0 + dt.timedelta(seconds=10 * n), [bad])
    assert passing.why_failed() == "did not stay healthy for 10m within 1m: 7/7 probes passed"
    assert failing.why_failed() == "never became healthy within 1m: 0/7 probes passed (last: url: 503)"
    assert HealthGate(settings, t0).why_failed() == "no health probe was made within 1m"


def test_retry_later_until_the_timeout_is_not_called_a_reschedule(tmp_path: Path) -> None:
    """RetryLater until the step's timeout: not maintained, retry while the window is open; Azure does
    not reschedule it (that is MaintenanceAborted's meaning), so it is not listed for rescheduling."""
    h = harness(tmp_path, scripts={DB1: VMScript(retry_later=100)})
    outcome = h.run()
    row = h.journal.vm(vm_id(shop(), DB1))
    assert row.message and "not maintained; `--retry-failed` tries again" in row.message
    assert "reschedule" not in row.message and not row.reschedule and outcome.reschedule == ()


def test_status_of_a_run_whose_runner_died_says_so(tmp_path: Path) -> None:
    """A journal left "running" with no runner: status says no runner is active and how to resume,
    with no next step "(now)"."""
    h = harness(tmp_path)
    h.journal.set_run_state("running", h.clock.now())
    h.journal.close()
    journal = Journal.open(h.directory)
    text = render_status(journal, h.clock)
    data = rollout.status(journal, h.clock)
    journal.close()
    assert text.splitlines()[0].startswith("three-tier-shop: running, but no runner is active")
    assert (
        f"no runner is active (it stopped without recording why) — `udroll resume --journal {h.directory}`"
        in text
    )
    assert "next step" not in text and "(now)" not in text
    assert data["stopped"] and data["next_step_eta"] is None


def test_skip_on_an_aborted_run_is_refused_without_a_resume_hint(tmp_path: Path) -> None:
    """`udroll skip` on an aborted run exits 2 saying it never goes on; no "continue with resume"."""
    h = harness(tmp_path)
    h.journal.set_run_state("aborted", h.clock.now(), "aborted with `udroll abort`")
    h.journal.close()
    step = h.plan.steps[-1].id
    code, out = invoke(["skip", step, "--journal", str(h.directory)])
    assert code == 2 and "was aborted: it never goes on, so there is nothing to skip" in out
    assert "udroll resume" not in out


def test_a_requested_pause_is_no_error(tmp_path: Path) -> None:
    """`udroll pause` ends the runner with exit 130 and a calm line naming the resume command; no "Error:"."""
    obj = fakes()
    directory = tmp_path / "j"
    asked: list[str] = []

    def decline_second(question: str) -> bool:  # the first confirmation yes, then no: a paused run
        asked.append(question)
        return len(asked) == 1

    obj.update(confirm=decline_second, tty=True)
    code, out = invoke(["run", str(SHOP), "--journal", str(directory)], obj)
    assert code == 130 and "Error:" not in out, out
    declined = out.strip().splitlines()[-1]
    assert declined.startswith("The operator declined step ") and declined.endswith(
        f". Continue: udroll resume --journal {directory}"
    )
    journal = Journal.open(directory)
    journal.request("pause", None, obj["clock"].now())
    journal.close()
    code, out = invoke(["resume", "--journal", str(directory), "--yes"], fakes())
    assert code == 130, out
    last = out.strip().splitlines()[-1]
    assert last == (
        f"Paused from another terminal (`udroll pause`). Continue: udroll resume --journal {directory}"
    )


def test_a_stale_plan_names_what_changed_and_not_a_live_fleet(tmp_path: Path) -> None:
    """A plan run against a changed spec and inventory names the VM that moved and the key that
    changed; a simulation speaks of the spec's inventory, never of a live fleet."""
    old = shop()
    assert old.inventory is not None
    plan = build_plan(old.spec, old.inventory, old.spec.window.not_before or old.inventory.captured_at)
    new = shop(
        **{
            "update_domain: 1, fault_domain: 1, tags: {role: db}": "update_domain: 0, fault_domain: 1, tags: {role: db}",
            "recovery_gap: 60m ": "recovery_gap: 90m ",
        }
    )
    assert new.inventory is not None
    with pytest.raises(InputError) as refused:
        rollout.check_plan_matches(plan, new, new.inventory, "its inventory")
    text = str(refused.value)
    assert text.startswith("the plan no longer matches the spec and its inventory: ")
    assert "rg-shop-db/db-1: update domain 1 → 0" in text
    assert "tier db: recovery_gap 1h → 1h30m" in text
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.to_json())
    spec_file = tmp_path / "shop.yaml"
    spec_file.write_text(SHOP.read_text().replace("recovery_gap: 60m ", "recovery_gap: 90m "))
    code, out = invoke(
        [
            "run",
            str(plan_file),
            "--spec",
            str(spec_file),
            "--simulate",
            "--yes",
            "--journal",
            str(tmp_path / "j"),
        ],
        {"tty": False, "live": False},
    )
    assert code == 2 and "tier db: recovery_gap 1h → 1h30m" in out and "live" not in out, out


def test_a_faults_file_may_throttle() -> None:
    """`errors: {status: [429]}` is accepted: throttling can be rehearsed."""
    faults = parse_faults("version: 1\nerrors: {rate: 0.5, status: [429]}\n", "faults.yaml")
    assert faults.errors.status == (429,)


@pytest.mark.e2e
def test_throttling_faults_answer_429_with_retry_after(make_emulator, compute_client) -> None:
    """A 429 from the faults file carries Retry-After in ARM's shape; the SDK waits and goes on."""
    from azure.core.exceptions import HttpResponseError

    from executor.emulator import Faults

    emu = make_emulator(faults=Faults(seed=2, errors={"rate": 0.3, "status": [429]}))
    bare = compute_client(emu, retry_total=0)
    refusals = []
    for _ in range(20):
        try:
            bare.virtual_machines.get("rg-shop-db", "db-0")
        except HttpResponseError as err:
            refusals.append(err)
    assert refusals and all(e.status_code == 429 for e in refusals)
    assert refusals[0].response.headers["Retry-After"] == "1"
    assert refusals[0].error is not None and refusals[0].error.code == "SubscriptionRequestsThrottled"
    assert compute_client(emu).virtual_machines.get("rg-shop-db", "db-1").name == "db-1"


def test_ctrl_c_while_aborting_keeps_the_abort(tmp_path: Path) -> None:
    """Ctrl-C while an abort waits for VMs in flight: the run is paused with the abort still asked
    for, so `resume` only follows those VMs and ends the run aborted; the hint says so."""
    h = harness(tmp_path)

    def on_event(event: Event) -> None:
        if (
            event.kind == "vm-triggered"
            and h.journal.run_state == "running"
            and not h.journal.pending_controls()
        ):
            h.journal.request("abort", None, event.at)
        elif event.kind == "control" and event.data.get("command") == "abort":
            raise KeyboardInterrupt

    h.reporter.on_event = on_event
    outcome = h.run()
    assert outcome.state == "paused"
    assert outcome.message.endswith("`udroll resume` only follows the VMs in flight and ends the run aborted")
    triggered = len(h.backend.triggers())
    h.reporter.on_event = None
    h.reopen()
    assert h.run().state == "aborted"
    assert len(h.backend.triggers()) == triggered  # nothing new was started after the abort


def test_abort_of_a_dead_simulation_with_vms_in_flight_points_at_no_resume(tmp_path: Path) -> None:
    """A simulation cannot be resumed: `abort` with VMs left in flight aborts it at once instead of
    telling the operator to `udroll resume` them (a real run gets that hint)."""
    for simulated, expected in ((True, "Run aborted."), (False, "udroll resume --journal")):
        h = harness(tmp_path / str(simulated))
        h.journal.set_meta("simulated", "1" if simulated else "0")
        h.journal.set_run_state("running", h.clock.now())
        h.journal.update_vm(h.plan.steps[0].vms[0], state="triggered")
        h.journal.close()
        code, out = invoke(["abort", "--journal", str(h.directory)])
        assert code == 0 and expected in out, out
        assert simulated == ("udroll resume" not in out)
