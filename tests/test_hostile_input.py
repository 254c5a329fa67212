"""Hostile and broken input (issue 14): each reduced reproducer of a traceback, a hang or a wrong
accept is a located error with exit 2 (or, where the input is fine, a plan)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from executor.cli.main import main
from executor.emulator.faults import parse_faults
from planner.build import build_plan
from planner.errors import SpecError
from planner.fingerprint import fingerprint
from planner.fleet import VM, Fleet, parse_fleet
from planner.load import parse_spec
from planner.source import load_text

SUB = "11111111-2222-3333-4444-555555555555"
BASE = "version: 1\nname: shop\ntiers:\n  - name: db\n    select: {resource_group: rg}\n"
START = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)


def problem(text: str, parse=parse_spec, file: str = "s.yaml") -> str:  # type: ignore[no-untyped-def]
    """The one problem of ``text``, as ``line:col: message``."""
    with pytest.raises(SpecError) as info:
        parse(text, file)
    problems = info.value.problems
    assert len(problems) == 1, problems
    p = problems[0]
    return f"{p.line}:{p.col}: {p.message}"


def run_main(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0)


def vm_item(name: str, *, rg: str = "rg", end: str = "2026-12-24T00:00:00Z", **extra: object) -> dict:
    return {
        "id": f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}",
        "name": name,
        "resource_group": rg,
        "maintenance": {
            "customer_initiated_allowed": True,
            "self_service_window": ["2026-11-20T00:00:00Z", end],
        },
        **extra,
    }


def fleet_text(*items: dict, captured_at: str = "2026-11-20T00:00:00Z") -> str:
    vms = ",\n".join(json.dumps(item) for item in items)
    return f'{{"format": "udroll/fleet@1", "captured_at": "{captured_at}", "vms": [\n{vms}\n]}}\n'


# --- 1, 2: recursion and alias bombs in the YAML loader (specs, fleets and faults files) -----------


def test_a_recursive_alias_is_a_located_error() -> None:
    """#1: `rec: &r {a: *r}` (16 bytes) is refused where the anchor is, not a RecursionError."""
    assert problem("rec: &r {a: *r}\n", load_text) == (
        "1:6: an alias refers to a value that contains it: remove the recursion"
    )


def test_nesting_deeper_than_the_cap_is_a_located_error() -> None:
    """#1: a value nested 495 levels deep is refused at the first level past the cap."""
    text = "".join("  " * i + "k:\n" for i in range(495)) + "  " * 495 + "v: 1\n"
    assert problem(text, load_text).endswith("nested more than 64 levels deep: flatten the document")


def billion_laughs(levels: int) -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghij"[: levels - 1]:
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return text


@pytest.mark.parametrize("levels", [9, 10])
def test_an_alias_bomb_stops_at_the_expansion_cap(levels: int) -> None:
    """#2: the billion laughs (9 and 10 levels) stop after 50,000 values built through aliases."""
    assert "aliases expand to more than 50,000 values" in problem(billion_laughs(levels), load_text)


def test_a_faults_file_goes_through_the_same_caps() -> None:
    """#2: a faults file with an alias bomb or a recursive alias is refused like a spec."""
    assert "aliases expand" in problem("version: 1\n" + billion_laughs(10), parse_faults, "f.yaml")
    assert "contains it" in problem("version: 1\nvms: &r {a: *r}\n", parse_faults, "f.yaml")


def test_ordinary_aliases_still_work() -> None:
    """Anchors used the ordinary way (a check list shared by defaults and a tier) still load."""
    text = BASE.replace("tiers:", "defaults: {health: {checks: &c [{tcp: 'h:1'}]}}\ntiers:")
    loaded = parse_spec(text + "    health: {checks: *c}\n", "s.yaml")
    assert len(loaded.spec.settings("db").health.checks) == 1


# --- 3, 10: timestamps near year 1 or 9999 ---------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
)
def test_a_window_timestamp_near_the_ends_of_time_is_located(value: str) -> None:
    """#3, #10: window.not_before near datetime.min/max is a located error, not an OverflowError."""
    text = BASE + f"window: {{not_before: {value}, days: [mon]}}\n"
    assert (
        problem(text)
        == f"6:22: window.not_before: timestamp {value} is outside the years 1970-9000: check the date"
    )


def test_a_fleet_captured_at_near_year_one_is_located() -> None:
    """#3: a fleet's captured_at of year 1 is a located error."""
    text = fleet_text(vm_item("a"), captured_at="0001-01-01T00:00:00+01:00")
    assert "1:45: captured_at: timestamp 0001-01-01T00:00:00+01:00 is outside" in problem(
        text, parse_fleet, "f.json"
    )


def test_a_self_service_window_ending_in_9999_is_located() -> None:
    """#10: a self-service window ending 9999-12-31T23:59:59Z is refused at its place."""
    text = fleet_text(vm_item("a", end="9999-12-31T23:59:59Z"))
    assert "maintenance.self_service_window[1]: timestamp 9999-12-31T23:59:59Z is outside" in problem(
        text, parse_fleet, "f.json"
    )


def test_a_self_service_window_ending_in_8999_still_plans() -> None:
    """#10: a window far in the future (within range) plans: the horizon is clamped, not overflowed."""
    fleet = parse_fleet(fleet_text(vm_item("a", end="8999-12-31T23:59:59Z")), "f.json")
    spec = parse_spec(BASE + "window: {hours: '22:00-06:00', days: [mon]}\n", "s.yaml").spec
    assert len(build_plan(spec, fleet, START).steps) == 1


@pytest.mark.parametrize("output", ["markdown", "html", "mermaid"])
def test_plan_start_at_the_end_of_time_exits_2(
    tmp_path: Path, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """#3, #8: `plan --start 9999-12-31T23:59:59Z -o markdown|html|mermaid` is exit 2 with a message."""
    spec, fleet = tmp_path / "s.yaml", tmp_path / "f.json"
    spec.write_text(BASE)
    fleet.write_text(fleet_text(vm_item("a")))
    args = ["plan", str(spec), "--fleet", str(fleet), "--start", "9999-12-31T23:59:59Z", "-o", output]
    assert run_main(args) == 2
    assert "outside the years 1970-9000" in capsys.readouterr().err


# --- 4, 5, 6, 7, 9: other tracebacks -------------------------------------------------------------


def test_a_regex_nested_500_deep_is_located() -> None:
    """#4: a check's body with 500 nested groups is a located problem, not a RecursionError."""
    body = "(" * 500 + "x" + ")" * 500
    text = BASE + f"    health: {{checks: [{{http: 'https://h', body: '{body}'}}]}}\n"
    assert problem(text).startswith(
        "6:49: tiers[0].health.checks[0].body: the regular expression is nested too deeply"
    )


def test_a_300_character_timezone_is_located() -> None:
    """#5: a 300-character timezone is refused before any file lookup (no OSError)."""
    text = BASE + f"window: {{timezone: {'A' * 300}}}\n"
    assert "is not an IANA time zone name" in problem(text)


def test_a_lone_surrogate_in_a_fleet_is_located() -> None:
    """#6: a lone surrogate escape in a fleet string is refused at its place."""
    text = fleet_text(vm_item("a", tags={"x": "PLACEHOLDER"})).replace("PLACEHOLDER", "\\ud800")
    assert problem(text, parse_fleet, "f.json").endswith(
        "\\ud800 is half of a surrogate pair, not a character: remove it"
    )


def test_a_fingerprint_survives_a_lone_surrogate_in_a_model() -> None:
    """#6: the fingerprint of models holding a lone surrogate is a hash, not a UnicodeEncodeError."""
    vm = VM.model_validate(vm_item("a", tags={"x": "\ud800"}))
    spec = parse_spec(BASE, "s.yaml").spec
    assert fingerprint(spec, Fleet(captured_at=START, vms=(vm,))).startswith("sha256:")


def chain(n: int) -> str:
    """A spec of ``n`` tiers, each depending on the one before."""
    tiers = "".join(
        f"  - {{name: t{i}, select: {{resource_group: rg{i}}}"
        + (f", depends_on: [t{i - 1}]" if i else "")
        + "}\n"
        for i in range(n)
    )
    return f"version: 1\nname: chain\ntiers:\n{tiers}"


def test_400_chained_tiers_with_vms_plan() -> None:
    """#7: 400 tiers each depending on the one before, each with a VM, plan without a RecursionError."""
    spec = parse_spec(chain(400), "s.yaml").spec
    fleet = Fleet(
        captured_at=START, vms=tuple(VM.model_validate(vm_item(f"v{i}", rg=f"rg{i}")) for i in range(400))
    )
    plan = build_plan(spec, fleet, START)
    assert len(plan.steps) == 400 and not plan.unschedulable


def test_400_chained_tiers_with_nothing_to_do_plan() -> None:
    """#7: 400 chained tiers that select no VM give an empty plan, not a RecursionError."""
    spec = parse_spec(chain(400), "s.yaml").spec
    assert build_plan(spec, Fleet(captured_at=START, vms=()), START).steps == ()


def test_a_fleet_of_100000_nested_brackets_is_located() -> None:
    """#9: 100,000 nested `[` is a located error, not a RecursionError from json."""
    assert "maximum nesting depth" in problem("[" * 100_000, parse_fleet, "f.json")


# --- wrong accepts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("version: 1", "version: true"), "1:10: version: version must be the number 1, got True"),
        (("version: 1", "version: 1.0"), "1:10: version: version must be the number 1, got 1.0"),
        (
            ("tiers:", "limits: {max_parallel_steps: true}\ntiers:"),
            "3:30: limits.max_parallel_steps: expected a whole number, got the boolean true",
        ),
        (
            ("tiers:", "defaults: {max_unavailable: 0.5%}\ntiers:"),
            "3:29: defaults.max_unavailable: '0.5%' is not a percentage between 1% and 100%",
        ),
        (("tiers:", 'window: {blackout: ["2026-12-01.."]}\ntiers:'), "3:21: window.blackout[0]: "),
        (("tiers:", "window: {blackout: [..2026-12-01]}\ntiers:"), "3:21: window.blackout[0]: "),
        (("select:", "update_domain_order: [true]\n    select:"), "5:27: tiers[0].update_domain_order[0]"),
    ],
)
def test_booleans_fractions_and_half_open_ranges_are_refused(change: tuple[str, str], expected: str) -> None:
    """Booleans are never numbers, version is the integer 1, 0.5% is not 1-100%, ranges need two ends."""
    assert problem(BASE.replace(*change)).startswith(expected)


def test_update_domain_true_is_refused_in_a_fleet() -> None:
    """A fleet's update_domain: true is not update domain 1."""
    assert "update_domain: expected a whole number, got the boolean true" in problem(
        fleet_text(vm_item("a", update_domain=True)), parse_fleet, "f.json"
    )


def test_a_fleet_vm_id_that_is_not_an_arm_id_is_refused_at_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`"id": "db-2"` is refused by `plan` (exit 2, at the id), before any hook could run."""
    spec, fleet = tmp_path / "s.yaml", tmp_path / "f.json"
    spec.write_text(BASE)
    fleet.write_text(fleet_text({**vm_item("a"), "id": "db-2"}))
    assert run_main(["plan", str(spec), "--fleet", str(fleet)]) == 2
    assert "f.json:2:8: vms[0].id: 'db-2' is not an ARM id of a VM" in capsys.readouterr().err


def test_an_inventory_id_that_is_not_an_arm_id_is_refused() -> None:
    """An inline inventory's explicit id must be an ARM id too."""
    text = BASE + "inventory:\n  - {id: db-2, name: a, resource_group: rg}\n"
    assert problem(text).startswith("7:10: inventory[0]: 'db-2' is not an ARM id")
    derived = BASE + "inventory:\n  - {name: a b, resource_group: rg}\n"
    assert problem(derived).startswith("7:12: inventory[0]: '/subscriptions/")


def test_a_duplicate_vm_in_a_fleet_is_located_at_the_second_entry() -> None:
    """A VM listed twice in a fleet is reported at its second entry, not at 1:1."""
    assert problem(fleet_text(vm_item("a"), vm_item("a")), parse_fleet, "f.json").startswith(
        "3:8: VM /subscriptions/"
    )


def test_overlapping_tiers_are_one_message_per_pair_with_a_count() -> None:
    """50 VMs selected by two tiers: one message at the later tier's select, with the count."""
    inventory = "".join(f"  - {{name: v{i}, resource_group: rg}}\n" for i in range(50))
    text = BASE + "  - name: all\n    select: {resource_group: rg}\n" + f"inventory:\n{inventory}"
    message = problem(text)
    assert message.startswith(
        "7:5: tiers 'db' and 'all' both select 50 VMs (rg/v0, rg/v1, rg/v10 and 47 more)"
    )


def test_overlapping_tiers_found_by_the_planner_are_located_in_the_spec_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --fleet, `plan` reports the overlap once, at the later tier's select in the spec file."""
    spec, fleet = tmp_path / "s.yaml", tmp_path / "f.json"
    spec.write_text(BASE + "  - name: all\n    select: {resource_group: rg}\n")
    fleet.write_text(fleet_text(*(vm_item(f"v{i}") for i in range(30))))
    assert run_main(["plan", str(spec), "--fleet", str(fleet)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:7:5: tiers 'db' and 'all' both select 30 VMs" in err and err.count("both select") == 1


def test_a_control_character_is_located() -> None:
    """A control character is reported where it is, not at 1:1."""
    assert problem(BASE + "    # a\x01b\n", load_text) == (
        "6:8: character U+0001 is not allowed in YAML: remove it or write it as an escape"
    )


def test_a_yaml_syntax_error_names_where_its_context_started() -> None:
    """libyaml's "while parsing a flow mapping ... line N" is kept: the cause is often there."""
    text = BASE + "window: {timezone: UTC,\n  hours: '22:00-06:00'\nlimits: {}\n"
    message = problem(text, load_text)
    assert "while parsing a flow mapping that starts at line 6, column 9" in message


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("health: {checks: [{http: 'https://{nam}.x/'}]}", "unknown placeholder {nam}"),
        ("health: {checks: [{tcp: '{vms}:22'}]}", "unknown placeholder {vms}"),
        ("health: {checks: [{command: [c, '{vm_name}']}]}", "unknown placeholder {vm_name}"),
        ("hooks: {before_step: [drain, '{name}']}", "unknown placeholder {name}"),
    ],
)
def test_unknown_placeholders_are_located_validation_errors(item: str, expected: str) -> None:
    """Each place knows its placeholders; another name is an error at the value, with the known ones."""
    message = problem(BASE + f"    {item}\n")
    assert message.startswith("6:") and expected in message


def test_endpoint_over_http_is_refused_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    """`--endpoint http://...` is exit 2 before any request (not 300 s of silent retries)."""
    args = ["fleet", "--subscription", SUB, "--endpoint", "http://127.0.0.1:9", "-g", "rg"]
    assert run_main(args) == 2
    assert "is not an https:// URL" in capsys.readouterr().err


def test_a_number_with_thousands_of_digits_in_a_fleet_is_located() -> None:
    """A 5,000-digit number in a fleet is a located problem, not Python's int-conversion ValueError."""
    text = fleet_text(vm_item("a", update_domain="PLACEHOLDER")).replace('"PLACEHOLDER"', "9" * 5000)
    assert problem(text, parse_fleet, "f.json").startswith("2:")
