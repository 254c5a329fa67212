"""Every plans/*.yaml is planned and compared byte for byte with tests/golden/<name>.plan.json.

A new file in plans/ is picked up by itself. Regenerate the goldens after an intended change with
    UDROLL_REGEN_GOLDEN=1 /tmp/v/bin/pytest tests/test_planner_golden.py
and review the diff. The plan starts at the spec's window.not_before, else at a fixed instant.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from plan_rules import violations

from planner.build import build_plan
from planner.fleet import Fleet, load_fleet
from planner.load import LoadedSpec, load_spec

ROOT = Path(__file__).resolve().parent.parent
PLANS = sorted((ROOT / "plans").glob("*.yaml"))
GOLDEN = Path(__file__).resolve().parent / "golden"
DEFAULT_START = dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.timezone.utc)


def fleet_of(loaded: LoadedSpec, path: Path) -> Fleet | None:
    """The spec's inventory, else a snapshot next to it named <name>.fleet.json."""
    if loaded.inventory is not None:
        return loaded.inventory
    snapshot = path.with_name(f"{path.stem}.fleet.json")
    return load_fleet(snapshot) if snapshot.exists() else None


@pytest.mark.parametrize("path", PLANS, ids=[p.stem for p in PLANS])
def test_bundled_plan_matches_its_golden_and_obeys_the_rules(path: Path) -> None:
    """The plan of each bundled example is exactly the reviewed one, and obeys R1-R8."""
    loaded = load_spec(path)
    fleet = fleet_of(loaded, path)
    if fleet is None:
        pytest.skip(f"{path.name} has no inventory and no {path.stem}.fleet.json")
    plan = build_plan(loaded.spec, fleet, loaded.spec.window.not_before or DEFAULT_START)
    assert violations(plan, loaded.spec, fleet) == []
    golden = GOLDEN / f"{path.stem}.plan.json"
    text = plan.to_json()
    if os.environ.get("UDROLL_REGEN_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    if not golden.exists():
        pytest.skip(f"no golden yet for {path.name}: run UDROLL_REGEN_GOLDEN=1 pytest {Path(__file__).name}")
    assert text == golden.read_text(encoding="utf-8"), f"{golden.name} differs: regenerate if intended"
