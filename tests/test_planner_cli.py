"""`udroll plan` through click's CliRunner and the main() boundary: outputs and exit codes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from adversarial import CASES
from click.testing import CliRunner

from executor.cli.main import cli, main
from executor.run.clock import FakeClock
from planner.build import build_plan
from planner.fleet import VM, Fleet
from planner.load import load_spec

SHOP = str(Path(__file__).resolve().parent.parent / "plans" / "three-tier-shop.yaml")
SPEC = """version: 1
name: tiny
tiers:
  - {name: a, select: {resource_group: rg}}
  - {name: b, select: {tags: {role: b}}}
"""


def fleet_file(tmp_path: Path, *, deadline: str = "2026-12-24T00:00:00Z", tags: dict | None = None) -> str:
    vm = VM.model_validate(
        {
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-1",
            "name": "vm-1",
            "resource_group": "rg",
            "tags": tags or {},
            "maintenance": {
                "customer_initiated_allowed": True,
                "self_service_window": ["2026-11-20T00:00:00Z", deadline],
                "scheduled_window": ["2026-12-28T00:00:00Z", "2027-01-10T00:00:00Z"],
            },
        }
    )
    path = tmp_path / "fleet.json"
    path.write_text(Fleet(captured_at=dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc), vms=(vm,)).to_json())
    return str(path)


def run_main(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0)


def test_table_preview_of_the_shop_shows_steps_and_summary() -> None:
    """Exit 0; each step by id with its time in the window's zone, then makespan, bound, deadline, slack, counts."""
    result = CliRunner().invoke(cli, ["plan", SHOP])
    assert result.exit_code == 0, result.output
    out = result.output
    for text in (
        "db/as-db/ud2",
        "db-2",
        "vmss-app/0",
        "web-1, web-4",
        "Mon 11-23 22:00 CET",
        "1h",
        "45m",
        "makespan",
        "lower bound",
        "earliest deadline",
        "Thu 12-24 01:00 CET",
        "slack",
        "latest start",
        "skipped: 2 VMs",
        "unschedulable: 0 VMs",
        "warnings: 0",
    ):
        assert text in out, text


def test_json_output_is_plan_to_json(tmp_path: Path) -> None:
    """`-o json` prints exactly Plan.to_json() of the plan from window.not_before; --out writes it."""
    loaded = load_spec(SHOP)
    expected = build_plan(loaded.spec, loaded.inventory, loaded.spec.window.not_before).to_json()
    result = CliRunner().invoke(cli, ["plan", SHOP, "-o", "json"])
    assert result.exit_code == 0 and result.output == expected
    out = tmp_path / "plan.json"
    assert CliRunner().invoke(cli, ["plan", SHOP, "-o", "json", "--out", str(out)]).exit_code == 0
    assert out.read_text() == expected


def test_start_option_and_clock_default(tmp_path: Path) -> None:
    """--start takes a zoned timestamp; without it and without not_before, now rounded up to the minute."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    fleet = fleet_file(tmp_path)
    given = CliRunner().invoke(
        cli, ["plan", str(spec), "--fleet", fleet, "-o", "json", "--start", "2026-11-24T10:00:00+01:00"]
    )
    assert json.loads(given.output)["start"] == "2026-11-24T09:00:00Z"
    clock = FakeClock(dt.datetime(2026, 11, 24, 9, 0, 1, tzinfo=dt.timezone.utc))
    now = CliRunner().invoke(cli, ["plan", str(spec), "--fleet", fleet, "-o", "json"], obj={"clock": clock})
    assert json.loads(now.output)["start"] == "2026-11-24T09:01:00Z"


def test_exit_2_for_a_vm_in_two_tiers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A VM selected by tiers a and b: exit 2, and the error names the VM and both tiers."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    assert run_main(["plan", str(spec), "--fleet", fleet_file(tmp_path, tags={"role": "b"})]) == 2
    assert "tiers 'a' and 'b' both select 1 VM (rg/vm-1)" in capsys.readouterr().err


def test_exit_3_when_unschedulable_unless_allow_partial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A VM past its deadline: the preview is printed, then exit 3; --allow-partial exits 0."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    fleet = fleet_file(tmp_path, deadline="2026-11-21T00:00:00Z")
    args = ["plan", str(spec), "--fleet", fleet, "--start", "2026-11-23T00:00:00Z"]
    assert run_main(args) == 3
    captured = capsys.readouterr()
    assert "unschedulable: 1 VM\n" in captured.out and "--allow-partial" in captured.err
    assert run_main([*args, "--allow-partial"]) == 0


def test_exit_2_without_fleet_or_inventory_and_for_a_bad_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No inventory and no --fleet says what to pass; a --start without a zone is refused."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    assert run_main(["plan", str(spec)]) == 2
    assert "pass --fleet FILE" in capsys.readouterr().err
    assert run_main(["plan", SHOP, "--start", "2026-11-24T10:00:00"]) == 2
    assert "has no zone" in capsys.readouterr().err


def test_help_has_an_example() -> None:
    """`udroll plan --help` shows an example."""
    result = CliRunner().invoke(cli, ["plan", "--help"])
    assert "Example:" in result.output and "udroll plan plans/three-tier-shop.yaml" in result.output


def test_optimize_sets_the_solver_budget_and_the_plan_says_what_ran(tmp_path: Path) -> None:
    """--optimize 0 plans with the greedy only; a duration is the solver's budget, recorded in the
    plan with the proven status; a bad value is exit 2 naming the option."""
    case = CASES["capacity-mixed"]()
    spec, fleet = tmp_path / "spec.yaml", tmp_path / "fleet.json"
    spec.write_text(json.dumps(case.spec.model_dump(mode="json", exclude_none=True)))
    fleet.write_text(case.fleet.to_json())
    args = ["plan", str(spec), "--fleet", str(fleet), "--start", case.start.isoformat(), "-o", "json"]
    greedy = json.loads(CliRunner().invoke(cli, [*args, "--optimize", "0"]).output)
    best = json.loads(CliRunner().invoke(cli, [*args, "--optimize", "2s"]).output)
    assert greedy["optimality"]["method"] == "greedy" and greedy["optimality"]["status"] == "bounded"
    assert best["optimality"] == {
        "status": "optimal",
        "bound_basis": "solver",
        "method": "greedy + CP-SAT",
        "budget_s": 2.0,
    }
    assert best["makespan_s"] == best["lower_bound_s"] < greedy["makespan_s"]
    bad = CliRunner().invoke(cli, [*args, "--optimize", "fast"])
    assert bad.exit_code == 2 and "--optimize" in bad.output


def test_udroll_plan_starts_without_the_azure_sdk() -> None:
    """Looking up `udroll plan` imports neither the Azure SDK nor the other commands' modules (they
    cost most of a second of start-up); `udroll --help` still lists every command."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    script = (
        "import sys; from executor.cli.main import cli; cli.get_command(None, 'plan');"
        "print(sorted(m for m in sys.modules if m.startswith(('azure', 'executor.cli.run', 'executor.emulator'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env, cwd=root
    )
    assert loaded.stdout.strip() == "[]"
    listed = CliRunner().invoke(cli, ["--help"]).output
    assert all(
        f"  {name} " in listed for name in ("plan", "run", "discover", "emulator", "journal", "status")
    )
