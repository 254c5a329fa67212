"""`udroll plan` from live discovery (no --fleet, no inventory) against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from backend_support import EPOCH, arm_requests
from click.testing import CliRunner

from executor.cli.main import cli
from executor.run.clock import FakeClock
from planner.load import load_spec

pytestmark = pytest.mark.e2e

SHOP = Path(__file__).resolve().parent.parent / "plans" / "three-tier-shop.yaml"


def _without_inventory(tmp_path: Path) -> Path:
    text = SHOP.read_text(encoding="utf-8")
    spec = tmp_path / "shop.yaml"
    spec.write_text(text[: text.index("\ninventory:")] + "\n", encoding="utf-8")
    return spec


def test_plan_from_live_discovery_equals_plan_from_snapshot(
    make_emulator: Callable[..., Any], tmp_path: Path
) -> None:
    """`plan SPEC --emulator READY` discovers the selectors' resource groups and plans exactly what
    `plan SPEC --fleet SNAPSHOT` plans from `discover`'s snapshot."""
    emu = make_emulator(load_spec(SHOP).inventory, epoch=EPOCH)
    ready, snapshot = tmp_path / "emu.json", tmp_path / "fleet.json"
    emu.write_ready_file(ready)
    spec = _without_inventory(tmp_path)
    runner = CliRunner()
    made = runner.invoke(
        cli, ["discover", "--emulator", str(ready), "-o", str(snapshot)], obj={"clock": FakeClock(EPOCH)}
    )
    assert made.exit_code == 0, made.output
    offline = runner.invoke(
        cli, ["plan", str(spec), "--fleet", str(snapshot), "-o", "json"], obj={"clock": FakeClock(EPOCH)}
    )
    before = len(arm_requests(emu))
    live = runner.invoke(
        cli, ["plan", str(spec), "--emulator", str(ready), "-o", "json"], obj={"clock": FakeClock(EPOCH)}
    )
    assert live.exit_code == offline.exit_code, live.output
    assert live.stdout == offline.stdout
    listed = {r["path"].split("/resourceGroups/")[1].split("/")[0] for r in arm_requests(emu)[before:]}
    assert listed == {"rg-shop-db", "rg-shop-app", "rg-shop-web"}  # the groups the selectors name


def test_plan_without_fleet_inventory_or_subscription_says_what_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --fleet, no inventory and no subscription to discover in: exit 2 naming --fleet and --subscription."""
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    spec = _without_inventory(tmp_path)
    spec.write_text(spec.read_text().replace("subscription: 11111111-2222-3333-4444-555555555555\n", ""))
    result = CliRunner().invoke(cli, ["plan", str(spec)])
    assert result.exit_code != 0
    message = str(result.exception)
    assert "--fleet" in message and "--subscription" in message
    assert getattr(result.exception, "exit_code", None) == 2
