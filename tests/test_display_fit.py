"""Tables fit the terminal (80, 100, 200 columns) without cutting an id, a time or a duration; --wide
shows every column; --tz picks the zone every time is labelled with."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from backend_support import EPOCH, mixed_fleet
from click.testing import CliRunner
from executor_support import SHOP as SHOP_PATH
from executor_support import fakes, invoke

from executor.azure.connect import for_emulator
from executor.cli.main import cli
from executor.run.clock import FakeClock
from executor.run.scripted import VMScript

PLANS = Path(__file__).resolve().parent.parent / "plans"
SHOP = str(PLANS / "three-tier-shop.yaml")
FARM = str(PLANS / "render-farm.yaml")
SHOP_IDS = ("db/as-db/ud2", "app/vmss-app/ud0/1", "web/zonal/zone3")
FARM_IDS = ("cache/vmss-cache/fd0/1", "workers/vmss-workers-c/ud2")


def plan_text(spec: str, width: int, *extra: str) -> str:
    result = CliRunner().invoke(cli, ["plan", spec, *extra], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.output


def step_row(text: str, step_id: str) -> list[str]:
    """The cells of a step's first line (two or more spaces apart)."""
    line = next(line for line in text.splitlines() if line.startswith(step_id + " "))
    return re.split(r"\s{2,}", line.strip())


@pytest.mark.parametrize("width", [80, 100, 200])
@pytest.mark.parametrize(("spec", "ids"), [(SHOP, SHOP_IDS), (FARM, FARM_IDS)])
def test_plan_table_fits_the_width_and_keeps_ids_times_and_gaps_whole(
    spec: str, ids: tuple[str, ...], width: int
) -> None:
    """Every line fits; each step row starts with its whole id, a zoned start and ends with its gap."""
    text = plan_text(spec, width)
    assert max(len(line) for line in text.splitlines()) <= width
    for step_id in ids:
        cells = step_row(text, step_id)
        assert cells[0] == step_id
        assert re.fullmatch(r"[A-Z][a-z]{2} \d\d-\d\d \d\d:\d\d [A-Z]{3,4}", cells[1]), cells
        assert re.fullmatch(r"(\d+[dhms])+", cells[-1]), cells


def test_plan_table_at_100_columns_shows_45m_and_1h_gaps_and_the_tier() -> None:
    """The issue's 100x40 terminal: gaps 45m and 1h whole, the tier not cut to `a…`."""
    text = plan_text(SHOP, 100)
    assert step_row(text, "db/as-db/ud2")[-1] == "1h"
    app = step_row(text, "app/vmss-app/ud0/1")
    assert app[-1] == "45m" and "app" in app and "vmss-app/0" in app
    assert "…" not in text


def test_plan_table_drops_low_value_columns_first_and_wide_shows_all() -> None:
    """At 80 columns the end, group and domain give way; at 200 and with --wide the domain shows as
    ud0/1, fd0, zone1 (as in the Markdown preview) and the group in full."""
    narrow = plan_text(SHOP, 80)
    assert "rg-shop-db/as-db" not in narrow and "domain" not in narrow.splitlines()[1]
    for text in (plan_text(SHOP, 200), plan_text(SHOP, 60, "--wide")):
        assert step_row(text, "app/vmss-app/ud0/1")[4:6] == ["rg-shop-app/vmss-app", "ud0/1"]
        assert step_row(text, "web/zonal/zone1")[5] == "zone1"
    farm = plan_text(FARM, 60, "--wide")
    assert step_row(farm, "cache/vmss-cache/fd0/1")[5] == "fd0/1"


def test_plan_tz_option_labels_every_time_with_the_zone() -> None:
    """--tz UTC shows the same instants in UTC; the default is the spec's window zone (CET)."""
    default = plan_text(SHOP, 100)
    utc = plan_text(SHOP, 100, "--tz", "UTC")
    assert step_row(default, "db/as-db/ud2")[1] == "Mon 11-23 22:00 CET"
    assert step_row(utc, "db/as-db/ud2")[1:3] == ["Mon 11-23 21:00 UTC", "Mon 11-23 21:22 UTC"]
    assert "latest start: Thu 12-17 01:24 UTC (the latest start that still fits)" in utc


def test_plan_summary_has_plurals_and_no_doubled_brackets() -> None:
    """`1 VM` not `1 VMs`; "latest start" has one parenthesis, not two."""
    text = plan_text(SHOP, 100)
    assert "steps: 10 steps, 12 VMs planned" in text
    assert ")  (" not in text and ") (" not in text.split("latest start:")[1].splitlines()[0]


def test_plan_refuses_an_unknown_tz_with_a_hint() -> None:
    """A misspelt zone: exit 2 and the nearest name."""
    result = CliRunner().invoke(cli, ["plan", SHOP, "--tz", "Europe/Berln"])
    assert result.exit_code == 2 and "did you mean Europe/Berlin" in result.output


@pytest.fixture
def fleet_obj(make_emulator: Callable[..., Any]) -> dict[str, Any]:
    """`udroll fleet`'s dependencies: the mixed fleet in the emulator, through the real SDK."""
    return {"clock": FakeClock(EPOCH), "backend": for_emulator(make_emulator(mixed_fleet(), epoch=EPOCH))}


def fleet_text(obj: dict[str, Any], width: int, *extra: str) -> str:
    result = CliRunner().invoke(cli, ["fleet", *extra], obj=obj, env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.e2e
@pytest.mark.parametrize("width", [80, 100, 200])
def test_fleet_table_fits_the_width_and_keeps_names_and_deadlines_whole(
    fleet_obj: dict[str, Any], width: int
) -> None:
    """Every line fits; every VM's name and its deadline countdown appear whole."""
    text = fleet_text(fleet_obj, width)
    assert max(len(line) for line in text.splitlines()) <= width
    for vm in ("rg-data/vmss-app/0", "rg-web/batch-1"):
        assert re.search(rf"^{re.escape(vm)}\s", text, re.MULTILINE), vm
    assert re.search(r"\s(\d+d)?\d+h(\d+m)? left\b", text)
    assert "SELF-SERVICE MAINTENANCE" in text and "…" not in text


@pytest.mark.e2e
def test_fleet_wide_shows_both_windows_in_the_tz_given(fleet_obj: dict[str, Any]) -> None:
    """--wide keeps the windows and the message; --tz labels them (and the status time) with the zone."""
    narrow = fleet_text(fleet_obj, 80)
    assert "SCHEDULED WINDOW" not in narrow
    wide = fleet_text(fleet_obj, 80, "--wide", "--tz", "Europe/Berlin")
    assert "SCHEDULED WINDOW" in wide and "MESSAGE" in wide
    assert re.search(r"Maintenance status at \w{3} \d\d-\d\d \d\d:\d\d CET", wide)
    assert re.search(r"\w{3} \d\d-\d\d \d\d:\d\d CET \.\. \w{3} \d\d-\d\d \d\d:\d\d CET", wide)


RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
HUMAN = r"[A-Z][a-z]{2} \d\d-\d\d \d\d:\d\d(:\d\d)? [A-Z]{3,4}"


@pytest.fixture
def halted_run(tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """A shop run halted by db-1's aborted maintenance (scripted backend, fake clock)."""
    obj = fakes({"rg-shop-db/db-1": VMScript(abort=1)})
    journal = str(tmp_path / "j")
    code, out = invoke(["run", str(SHOP_PATH), "--yes", "--journal", journal], obj)
    assert code == 4, out
    return journal, obj


@pytest.mark.parametrize("width", [80, 100, 200])
def test_status_fits_the_width_with_whole_ids_and_zoned_times(
    halted_run: tuple[str, dict[str, Any]], width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every step line fits; ids whole; `ended` times in the spec's zone (CET), never cut."""
    journal, obj = halted_run
    monkeypatch.setenv("COLUMNS", str(width))
    code, out = invoke(["status", "--journal", journal], obj)
    assert code == 0, out
    table = out.split("\n\n")[1]
    assert max(len(line) for line in table.splitlines()) <= width, table
    assert re.search(rf"^db/as-db/ud2\s+done\s+ended {HUMAN}", table, re.MULTILINE), table
    assert re.search(r"^db/as-db/ud1\s+failed\s", table, re.MULTILINE), table
    assert re.search(rf"^as of {HUMAN}$", out, re.MULTILINE) and " CET" in out


def test_status_tz_and_json_times(halted_run: tuple[str, dict[str, Any]]) -> None:
    """--tz UTC labels times UTC; -o json writes RFC 3339 with Z and no fraction, and the spec's zone."""
    journal, obj = halted_run
    code, out = invoke(["status", "--journal", journal, "--tz", "UTC", "--wide"], obj)
    assert code == 0 and re.search(r"ended Mon 11-23 21:22 UTC", out), out
    code, shown = invoke(["status", "--journal", journal, "-o", "json"], obj)
    data = json.loads(shown)
    assert data["timezone"] == "Europe/Berlin" and RFC3339.fullmatch(data["as_of"])
    stamps = [s[k] for s in data["steps"] for k in ("started_at", "ended_at", "waiting_until") if s[k]]
    assert stamps and all(RFC3339.fullmatch(t) for t in stamps), stamps


def test_events_and_report_json_carry_rfc3339_and_the_markdown_report_zoned_times(
    halted_run: tuple[str, dict[str, Any]],
) -> None:
    """events.jsonl data times, the report's JSON times are RFC 3339 Z; its Markdown shows CET times."""
    journal, obj = halted_run
    events = [json.loads(line) for line in (Path(journal) / "events.jsonl").read_text().splitlines()]
    stamped = [
        v
        for e in events
        for k, v in e.get("data", {}).items()
        if k in ("until", "planned_start", "planned_end") and v
    ]
    assert stamped and all(RFC3339.fullmatch(v) for v in stamped), stamped[:5]
    code, out = invoke(["report", "--journal", journal, "-o", "json"], obj)
    report = json.loads(out)
    times = [report["planned_start"]] + [
        g["at"] for s in report["steps"] for g in s["gates"]["last_failures"]
    ]
    times += [s[k] for s in report["steps"] for k in ("planned_start", "actual_start", "actual_end") if s[k]]
    assert all(RFC3339.fullmatch(t) for t in times), times
    code, md = invoke(["report", "--journal", journal], obj)
    assert "| db/as-db/ud2 | done | Mon 11-23 22:00 CET | Mon 11-23 22:00 CET | +0s |" in md, md
    assert "| app/vmss-app/ud0/1 | vmss-app/0 | pending |" in md  # an instance by its scale set
    code, md = invoke(["report", "--journal", journal, "--tz", "UTC"], obj)
    assert code == 0 and "- planned start Mon 11-23 21:00 UTC" in md


def test_run_preview_and_messages_use_the_zone(tmp_path: Path) -> None:
    """`run --tz UTC` previews in UTC; plain log lines are RFC 3339; messages say `1 VM`, not `1 VMs`."""
    obj = fakes()
    code, out = invoke(["run", str(SHOP_PATH), "--yes", "--journal", str(tmp_path / "j"), "--tz", "UTC"], obj)
    assert code == 0, out
    assert re.search(r"^db/as-db/ud2\s+Mon 11-23 21:00 UTC", out, re.MULTILINE), out
    assert re.search(r"^2026-11-23T21:00:\d\dZ step-started db/as-db/ud2: 1 VM$", out, re.MULTILINE), out
    assert "1 VMs" not in out
