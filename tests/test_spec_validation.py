"""Every validation message of the spec format: bad YAML in, exact place and message out."""

from __future__ import annotations

import textwrap

import pytest

from planner.errors import SpecError
from planner.load import parse_spec

BASE = """\
version: 1
name: shop
tiers:
  - name: db
    select: {availability_set: rg-db/as-db}
"""


def problems(text: str) -> list[str]:
    """The problems of a spec text as 'line:col: message' strings (the file name is dropped)."""
    with pytest.raises(SpecError) as info:
        parse_spec(textwrap.dedent(text), "spec.yaml")
    return [f"{p.line}:{p.col}: {p.message}" for p in info.value.problems]


def only(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_the_base_spec_is_valid() -> None:
    """The minimal spec the other cases mutate loads, with built-in defaults applied."""
    loaded = parse_spec(BASE, "spec.yaml")
    settings = loaded.spec.settings("db")
    assert (settings.recovery_gap, settings.expected_duration, settings.step_duration) == (2700, 900, 1320)
    assert loaded.inventory is None


CASES = [
    pytest.param(
        BASE + "recovery_gap: 45m\n", "6:1: unknown key 'recovery_gap'", id="top-level-key-with-no-near-match"
    ),
    pytest.param(
        BASE.replace("name: shop", "nmae: shop"),
        "2:1: unknown key 'nmae': did you mean 'name'?",
        id="did-you-mean",
    ),
    pytest.param(
        BASE.replace("    select", "    slect: {}\n    select"),
        "5:5: unknown key 'slect': did you mean 'select'?",
        id="tier-key",
    ),
    pytest.param(
        BASE + "defaults: {recovery_gap: 45}\n",
        "6:26: defaults.recovery_gap: a bare number (45) is not a duration: add a unit, e.g. 45m",
        id="bare-number-duration",
    ),
    pytest.param(
        BASE + "defaults: {expected_duration: 15 minutes}\n",
        "6:31: defaults.expected_duration: '15 minutes' is not a duration",
        id="malformed-duration",
    ),
    pytest.param(
        BASE + "defaults: {recovery_gap: 30m}\n",
        "6:26: defaults.recovery_gap: a recovery gap of 30m is not longer than 30m: Azure's own scheduled maintenance already pauses 30 minutes between update domains",
        id="gap-too-short",
    ),
    pytest.param(
        BASE + "    recovery_gap: PT20M\n",
        "6:19: tiers[0].recovery_gap: a recovery gap of 20m is not longer than 30m",
        id="tier-gap-iso",
    ),
    pytest.param(
        BASE + "window: {not_before: 2026-11-23T22:00:00}\n",
        "6:22: window.not_before: timestamp 2026-11-23T22:00:00 has no zone: add Z for UTC",
        id="timestamp-without-zone",
    ),
    pytest.param(
        BASE + "window: {not_after: 'next tuesday'}\n",
        "6:21: window.not_after: 'next tuesday' is not a timestamp",
        id="not-a-timestamp",
    ),
    pytest.param(
        BASE + "window: {timezone: Europe/Berlim}\n",
        "6:20: window.timezone: unknown time zone 'Europe/Berlim': did you mean Europe/Berlin?",
        id="unknown-timezone",
    ),
    pytest.param(
        BASE + "window: {hours: '22-06'}\n",
        "6:17: window.hours: '22-06' is not a range of hours: write \"HH:MM-HH:MM\"",
        id="malformed-hours",
    ),
    pytest.param(
        BASE + "window: {hours: '25:00-06:00'}\n",
        "6:17: window.hours: '25:00-06:00' has an impossible time of day",
        id="impossible-hours",
    ),
    pytest.param(
        BASE + "window: {hours: '22:00-22:00'}\n",
        "6:17: window.hours: '22:00-22:00' starts and ends at the same time",
        id="empty-hours",
    ),
    pytest.param(
        BASE + "window: {days: [mon, someday]}\n",
        "6:22: window.days[1]: 'someday' is not a day",
        id="unknown-day",
    ),
    pytest.param(
        BASE + "window: {blackout: [2026-12-26..2026-12-24]}\n",
        "6:21: window.blackout[0]: '2026-12-26..2026-12-24' ends before it starts",
        id="backwards-blackout",
    ),
    pytest.param(
        BASE + "window: {blackout: [christmas]}\n",
        "6:21: window.blackout[0]: 'christmas' is not a date",
        id="bad-blackout",
    ),
    pytest.param(
        BASE + "window: {not_before: 2026-12-02T00:00:00Z, not_after: 2026-12-01T00:00:00Z}\n",
        "6:9: window: window.not_after is not after not_before",
        id="window-backwards",
    ),
    pytest.param(
        BASE + "defaults: {max_unavailable: 0}\n",
        "6:29: defaults.max_unavailable: max_unavailable must be at least 1, got 0",
        id="zero-capacity",
    ),
    pytest.param(
        BASE + "defaults: {max_unavailable: 150%}\n",
        "6:29: defaults.max_unavailable: '150%' is not a percentage between 1% and 100%",
        id="capacity-over-100",
    ),
    pytest.param(
        BASE + "defaults: {max_unavailable: half}\n",
        "6:29: defaults.max_unavailable: 'half' is not a count or percentage",
        id="capacity-word",
    ),
    pytest.param(
        BASE + "limits: {max_parallel_steps: many}\n",
        "6:30: limits.max_parallel_steps: expected a whole number, got the string 'many'",
        id="wrong-type-int",
    ),
    pytest.param(
        BASE + "limits: {max_parallel_steps: 0}\n",
        "6:30: limits.max_parallel_steps: input should be greater than or equal to 1",
        id="limit-too-small",
    ),
    pytest.param(BASE + "tiers: 3\n", None, id="duplicate-top-key"),
    pytest.param(
        BASE.replace("version: 1", "version: 2"), "1:10: version: 2 is not allowed; use 1", id="version"
    ),
    pytest.param(
        BASE.replace("name: shop", "name: Shop_1"),
        "2:7: name: 'Shop_1' is not valid: use lowercase letters, digits and dashes",
        id="name-pattern",
    ),
    pytest.param(
        BASE.replace("rg-db/as-db", "as-db"),
        "5:32: tiers[0].select.availability_set: 'as-db' is not valid: write \"resource-group/availability-set-name\"",
        id="selector-without-rg",
    ),
    pytest.param(
        BASE.replace("{availability_set: rg-db/as-db}", "{}"),
        "5:13: tiers[0].select: empty selector selects nothing",
        id="empty-selector",
    ),
    pytest.param(
        BASE.replace("{availability_set: rg-db/as-db}", "[]"),
        "5:13: tiers[0].select: must not be empty",
        id="empty-selector-list",
    ),
    pytest.param(BASE + "    depends_on: [dv]\n", "6:18: unknown tier 'dv' in depends_on", id="unknown-tier"),
    pytest.param(BASE + "    depends_on: [db]\n", "6:18: tier 'db' depends on itself", id="self-dependency"),
    pytest.param(
        BASE + "  - name: db\n    select: {resource_group: x}\n",
        "6:11: tier 'db' is defined twice (first as tiers[0])",
        id="duplicate-tier",
    ),
    pytest.param(
        BASE + "    update_domain_order: [1, 1]\n",
        "4:5: tiers[0]: update_domain_order names an update domain twice",
        id="ud-order-repeat",
    ),
    pytest.param(
        BASE + "defaults:\n  health:\n    checks:\n      - {http: 'ftp://x'}\n",
        "9:9: defaults.health.checks[0]: http check 'ftp://x' must start with http:// or https://",
        id="http-scheme",
    ),
    pytest.param(
        BASE + "defaults:\n  health:\n    checks:\n      - {tcp: 'db:99999'}\n",
        "9:9: defaults.health.checks[0]: tcp check 'db:99999' must be \"host:port\"",
        id="tcp-port",
    ),
    pytest.param(
        BASE + "defaults:\n  health:\n    checks:\n      - {http: 'https://x', tcp: 'x:1'}\n",
        "9:9: defaults.health.checks[0]: a check needs exactly one of http, tcp or command",
        id="two-check-kinds",
    ),
    pytest.param(
        BASE + "defaults:\n  health:\n    checks:\n      - {http: 'https://x', body: '(['}\n",
        "9:35: defaults.health.checks[0].body: '([' is not a valid regular expression",
        id="bad-regex",
    ),
    pytest.param(
        BASE + "defaults:\n  hooks: {before_step: scripts/drain}\n",
        "7:24: defaults.hooks.before_step: a hook is an argv list, run without a shell",
        id="hook-string",
    ),
    pytest.param(
        BASE + "subscription: not-a-guid\n",
        "6:15: subscription: 'not-a-guid' is not valid: write the subscription id",
        id="subscription",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_each_problem_is_reported_at_its_place_with_a_fix(text: str, expected: str | None) -> None:
    """A single mistake gives exactly one problem, at the offending key or value, saying how to fix it."""
    if expected is None:  # duplicate keys are a YAML-level error found before validation
        assert only(text) == "6:1: duplicate key 'tiers': remove one of them"
        return
    assert only(text).startswith(expected)


def test_a_dependency_cycle_is_named() -> None:
    """A cycle among tiers is reported once, naming every tier on it in order."""
    text = (
        BASE
        + """\
    depends_on: [web]
  - name: app
    depends_on: [db]
    select: {scale_set: rg/app}
  - name: web
    depends_on: [app]
    select: {resource_group: rg-web}
"""
    )
    message = only(text)
    assert "dependency cycle" in message
    assert any(
        cycle in message
        for cycle in ("db -> app -> web -> db", "app -> web -> db -> app", "web -> db -> app -> web")
    )


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    """Problems in different parts of one file are all listed, in file order."""
    text = (
        BASE.replace("name: shop", "name: Shop")
        + "defaults: {recovery_gap: 10m, expected_duration: 5}\nwindow: {timezone: Mars/Base}\n"
    )
    found = problems(text)
    assert [f.split(":")[0] for f in found] == ["2", "6", "6", "7"]


def test_yaml_syntax_errors_point_at_their_line() -> None:
    """Broken YAML is a located problem, not a traceback."""
    assert only("version: 1\ntiers: [a,\n").startswith("3:1: YAML syntax error")


def test_a_document_that_is_not_a_mapping_says_what_a_spec_is() -> None:
    """A list or scalar document is rejected with what a spec looks like."""
    assert only("- 1\n- 2\n") == "1:1: a spec is a YAML mapping that starts with 'version: 1'"


def test_yaml_11_quirks_are_read_as_strings() -> None:
    """`no` and `12:30` stay strings (YAML 1.2), so a tag value of `no` is not a boolean."""
    loaded = parse_spec(BASE.replace("{availability_set: rg-db/as-db}", "{tags: {backup: no}}"), "spec.yaml")
    assert loaded.spec.tiers[0].select[0].tags == {"backup": "no"}


def test_durations_timestamps_and_ranges_parse_in_every_documented_form() -> None:
    """Durations with units or ISO, quoted or YAML timestamps, and blackout ranges all load."""
    text = BASE + textwrap.dedent("""\
        defaults: {recovery_gap: 1h30m, expected_duration: PT15M, health: {interval: 90s, wait: 2m}}
        window:
          not_before: "2026-11-23T23:00:00+01:00"
          not_after: 2026-12-18T06:00:00Z
          hours: "22:00-06:00"
          days: [sun, Monday]
          blackout: [2026-12-01, 2026-12-24..2026-12-26]
        """)
    spec = parse_spec(text, "spec.yaml").spec
    assert spec.settings("db").recovery_gap == 5400
    assert spec.settings("db").expected_duration == 900
    assert (
        spec.window.not_before is not None
        and spec.window.not_before.isoformat() == "2026-11-23T22:00:00+00:00"
    )
    assert spec.window.days == ("sun", "mon")
    assert [str(b) for b in spec.window.blackout] == ["2026-12-01", "2026-12-24..2026-12-26"]
    assert spec.window.hours is not None and spec.window.hours.wraps


def test_tier_keys_override_defaults_key_by_key() -> None:
    """A tier's health.wait overrides the default's while the default's checks still apply."""
    text = (
        BASE
        + "    health: {wait: 7m}\n    max_unavailable: 50%\ndefaults:\n  health: {checks: [{tcp: 'x:1'}], healthy_for: 1m}\n"
    )
    settings = parse_spec(text, "spec.yaml").spec.settings("db")
    assert settings.health.wait == 420
    assert settings.health.healthy_for == 60
    assert len(settings.health.checks) == 1
    assert settings.max_unavailable.of(5) == 2 and settings.max_unavailable.of(1) == 1


def test_a_vm_selected_by_two_tiers_is_an_error_when_the_inventory_shows_it() -> None:
    """Overlapping selectors are caught by validate when the spec carries its inventory."""
    text = BASE + textwrap.dedent("""\
          - name: all
            select: {resource_group: rg-db}
        inventory:
          - {name: db-0, resource_group: rg-db, availability_set: as-db, update_domain: 0}
        """)
    message = only(text)
    assert message.startswith("7:5: tiers 'db' and 'all' both select 1 VM (rg-db/db-0)")
