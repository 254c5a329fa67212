"""`udroll run/resume/status/pause/abort/skip/report` through click, with fakes from the context object."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from executor_support import SHOP, SHOP_START, fakes, invoke, shop, vm_id

from executor.run.clock import FakeClock
from executor.run.journal import Journal
from executor.run.scripted import VMScript
from planner.build import build_plan

START = SHOP_START


def test_run_completes_and_status_and_report_tell_the_story(tmp_path: Path) -> None:
    """`udroll run --yes` executes the spec; status and report read the journal afterwards."""
    obj = fakes()
    journal = str(tmp_path / "j")
    code, out = invoke(["run", str(SHOP), "--yes", "--journal", journal], obj)
    assert code == 0, out
    assert "Rollout complete" in out
    assert "step-started db/as-db/ud2" in out
    code, out = invoke(["status", "--journal", journal], obj)
    assert code == 0 and "three-tier-shop: completed" in out and "tier web: 3 done" in out
    code, out = invoke(["report", "--journal", journal], obj)
    assert code == 0 and "| db/as-db/ud2 | done |" in out and "## VMs Azure will reschedule" in out
    code, out = invoke(["report", "--journal", journal, "-o", "json"], obj)
    data = json.loads(out)
    assert data["state"] == "completed" and len(data["steps"]) == 10
    assert (tmp_path / "j" / "events.jsonl").read_text().count("\n") > 50


def test_a_run_that_needs_a_prompt_refuses_to_start_without_a_terminal(tmp_path: Path) -> None:
    """Without a TTY, a run that would ask for confirmation exits 2 and says what to pass."""
    obj = fakes()
    code, out = invoke(["run", str(SHOP), "--journal", str(tmp_path / "j")], obj)
    assert code == 2
    assert "--yes" in out and "--confirm never" in out
    assert obj["backend"].calls == []
    code, out = invoke(["run", str(SHOP), "--confirm", "never", "--journal", str(tmp_path / "j")], obj)
    assert code == 0, out


def test_confirm_step_asks_before_each_step_and_no_pauses(tmp_path: Path) -> None:
    """--confirm step asks before every step; answering no pauses the run (exit 130)."""
    obj = fakes()
    answers = iter([True, True, False])  # the rollout, the first step, not the second
    obj["tty"] = True
    obj["confirm"] = lambda question: next(answers)
    journal = str(tmp_path / "j")
    code, out = invoke(["run", str(SHOP), "--confirm", "step", "--journal", journal], obj)
    assert code == 130, out
    steps = {s.id: s.state for s in Journal.open(journal).steps()}
    assert steps["db/as-db/ud2"] == "done" and steps["db/as-db/ud0"] == "waiting"
    code, out = invoke(["resume", "--journal", journal, "--yes"], obj)
    assert code == 0, out


def test_a_failed_step_halts_with_exit_4_and_retry_failed_continues(tmp_path: Path) -> None:
    """MaintenanceAborted halts the run (exit 4, VM named for rescheduling); resume --retry-failed finishes."""
    obj = fakes({"rg-shop-db/db-1": VMScript(abort=1)})
    journal = str(tmp_path / "j")
    code, out = invoke(["run", str(SHOP), "--yes", "--journal", journal], obj)
    assert code == 4, out
    assert "Azure will reschedule 1 VM whose" in out and "db-1" in out
    code, out = invoke(["status", "--journal", journal], obj)
    assert "failed: db-1 in db/as-db/ud1: MaintenanceAborted: Azure will reschedule this VM" in out
    code, out = invoke(["resume", "--journal", journal, "--yes"], obj)
    assert code == 4, out
    code, out = invoke(["resume", "--journal", journal, "--yes", "--retry-failed"], obj)
    assert code == 0, out


def test_skip_abort_and_pause_without_a_runner(tmp_path: Path) -> None:
    """skip marks a waiting step skipped; pause without a runner says so; abort ends the run."""
    obj = fakes({"rg-shop-db/db-1": VMScript(abort=1)})
    journal = str(tmp_path / "j")
    assert invoke(["run", str(SHOP), "--yes", "--journal", journal], obj)[0] == 4
    code, out = invoke(["skip", "nope", "--journal", journal], obj)
    assert code == 2 and "no step 'nope'" in out
    code, out = invoke(["skip", "db/as-db/ud1", "--journal", journal], obj)
    assert code == 0 and "Skipped db/as-db/ud1" in out
    code, out = invoke(["pause", "--journal", journal], obj)
    assert code == 0 and "No runner" in out
    assert invoke(["abort", "--journal", journal], obj) == (0, "Run aborted.\n")
    code, out = invoke(["resume", "--journal", journal, "--yes"], obj)
    assert code == 4 and "aborted" in out


def test_a_second_runner_is_refused(tmp_path: Path) -> None:
    """resume on a journal another runner holds exits 2 and names the way to operate it."""
    obj = fakes()
    journal = tmp_path / "j"
    invoke(["run", str(SHOP), "--yes", "--journal", str(journal)], obj)
    holder = Journal.open(journal)
    holder.lock()
    code, out = invoke(["resume", "--journal", str(journal), "--yes"], obj)
    holder.close()
    assert code == 2 and "another udroll runner" in out and "udroll status" in out


def test_a_plan_that_no_longer_matches_the_fleet_is_refused(tmp_path: Path) -> None:
    """run PLAN checks the fingerprint against the live fleet and says what changed."""
    obj = fakes()
    loaded = shop()
    assert loaded.inventory is not None
    plan = build_plan(loaded.spec, loaded.inventory, START)
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    backend = obj["backend"]
    db0 = vm_id(loaded, "rg-shop-db/db-0")
    backend.vms[db0].maintenance = None  # someone maintained db-0 meanwhile
    code, out = invoke(
        ["run", str(path), "--spec", str(SHOP), "--yes", "--journal", str(tmp_path / "j")], obj
    )
    assert code == 2 and "rg-shop-db/db-0 has nothing pending any more" in out
    code, out = invoke(["run", str(path), "--yes"], obj)
    assert code == 2 and "--spec" in out


def test_run_needs_a_spec_unless_simulating() -> None:
    """`udroll run` without SPEC is a usage error (exit 2) unless --simulate picks the bundled example."""
    code, out = invoke(["run", "--yes"], {"tty": False})
    assert code == 2 and "--simulate" in out


def test_the_live_view_draws_steps_countdowns_and_progress() -> None:
    """The rich view (what a terminal shows) lists each step's state, what it waits for, and progress."""
    import io

    from rich.console import Console

    from executor.cli.console import LiveConsole, PlainConsole
    from executor.run.events import Event

    loaded = shop()
    assert loaded.inventory is not None
    plan = build_plan(loaded.spec, loaded.inventory, START)
    clock = FakeClock(START)
    screen = Console(file=io.StringIO(), width=240, color_system=None)
    view = LiveConsole(plan, clock, console=screen)
    first, second = plan.steps[0].id, plan.steps[1].id
    view.emit(Event("step-started", START, first))
    view.emit(Event("step-ended", START, first))
    until = START + dt.timedelta(minutes=60)
    view.emit(
        Event(
            "step-waiting",
            START,
            second,
            message="waiting for recovery gap",
            data={"until": until.isoformat()},
        )
    )
    screen.print(view._render())
    text = screen.file.getvalue()  # type: ignore[attr-defined]
    assert first in text and "done" in text and "recovery gap" in text and "(1h)" in text
    assert "1/10 steps done" in text
    lines: list[str] = []
    PlainConsole(lines.append).emit(Event("step-failed", START, first, message="boom"))
    assert lines == ["2026-11-23T21:00:00Z step-failed db/as-db/ud2: boom"]


def test_run_plans_with_the_optimize_budget_and_seed_it_is_given(tmp_path: Path) -> None:
    """`udroll run --optimize 0` previews the greedy plan, `--optimize 2s --seed 1` the solver's
    proven optimum (as `udroll plan` does); a bad budget is exit 2 naming the option."""
    import yaml
    from adversarial import CASES

    case = CASES["capacity-mixed"]()
    spec, fleet = tmp_path / "spec.yaml", tmp_path / "fleet.json"
    spec.write_text(yaml.safe_dump(case.spec.model_dump(mode="json", exclude_none=True)))
    fleet.write_text(case.fleet.to_json())
    args = ["run", str(spec), "--simulate", "--fleet", str(fleet), "--journal", str(tmp_path / "j")]
    obj = {"tty": True, "confirm": lambda question: False}  # preview, then decline: nothing runs
    code, greedy = invoke([*args, "--optimize", "0"], obj)
    assert code == 130 and "(greedy)" in greedy and "CP-SAT" not in greedy
    code, best = invoke([*args, "--optimize", "2s", "--seed", "1"], obj)
    assert code == 130 and "optimal (greedy + CP-SAT)" in " ".join(best.split())
    code, out = invoke([*args, "--optimize", "fast"], obj)
    assert code == 2 and "--optimize" in out
