"""`udroll schema` teaches the format: every key says what it does and carries the default the loader
really applies (issue 15: `recovery_gap` showed `default: null` where it is 45m)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from planner import fleet, notify_spec, spec
from planner.load import parse_spec
from planner.schema import spec_schema
from planner.schema_docs import COMPUTED, INHERITED

SCHEMA = spec_schema()
MODELS: dict[str, dict[str, Any]] = {"Spec": SCHEMA, **SCHEMA["$defs"]}

# the least each model needs to validate, to compare "key left out" with "key set to its default"
_TIER = {"name": "web", "select": {"resource_group": "rg"}}
MINIMAL: dict[str, dict[str, Any]] = {
    "Spec": {"version": 1, "name": "shop", "tiers": [_TIER]},
    "Tier": _TIER,
    "Selector": {"resource_group": "rg"},
    "HttpCheck": {"http": "https://{name}/healthz"},
    "TcpCheck": {"tcp": "{name}:443"},
    "CommandCheck": {"command": ["true"]},
    "InventoryVM": {"name": "vm1", "resource_group": "rg"},
    "Maintenance": {"customer_initiated_allowed": True},
    "WebhookSink": {"webhook": "https://example.com/hook"},
    "TeamsSink": {"teams": "https://example.com/hook"},
    "SlackSink": {"slack": "https://example.com/hook"},
    "QueueSink": {"queue": "https://acct.queue.core.windows.net/q"},
    "CommandSink": {"command": ["true"]},
}


def _model(name: str) -> Any:
    for module in (spec, notify_spec, fleet):
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(f"no model class for $defs/{name}")


def _properties() -> Iterator[tuple[str, str, dict[str, Any], bool]]:
    for model, node in MODELS.items():
        for key, prop in node.get("properties", {}).items():
            yield model, key, prop, key in node.get("required", [])


def test_every_key_has_a_description() -> None:
    """Each key of every model in the schema says what it does."""
    missing = [f"{model}.{key}" for model, key, prop, _ in _properties() if not prop.get("description")]
    assert missing == []


def test_every_optional_key_has_a_default() -> None:
    """An optional key shows the value it takes when left out (only computed keys have none)."""
    missing = [
        f"{model}.{key}"
        for model, key, prop, required in _properties()
        if not required and "default" not in prop and f"{model}.{key}" not in COMPUTED
    ]
    assert missing == []


@pytest.mark.parametrize(
    "model,key",
    [
        (m, k)
        for m, k, p, _ in _properties()
        if "default" in p and k not in INHERITED.get(m, ()) and f"{m}.{k}" != "Spec.inventory"
    ],
)
def test_a_default_written_out_changes_nothing(model: str, key: str) -> None:
    """Writing a key's schema default gives the same model as leaving the key out."""
    cls = _model(model)
    default = MODELS[model]["properties"][key]["default"]
    base = MINIMAL.get(model, {})
    if key in base:  # a selector needs some key: keep another one
        base = {"tags": {"role": "web"}}
    alias = "schema" if (model, key) == ("WebhookSink", "schema") else key
    left_out = cls.model_validate(base)
    written = cls.model_validate({**base, alias: default})
    attribute = "schema_" if alias == "schema" else key
    assert getattr(written, attribute) == getattr(left_out, attribute)


def test_inherited_defaults_are_what_a_tier_gets() -> None:
    """The defaults shown for recovery_gap, expected_duration, max_unavailable and the health keys are
    the values a tier that sets none of them is planned with."""
    settings = {k: MODELS["Settings"]["properties"][k]["default"] for k in INHERITED["Settings"]}
    health = {k: MODELS["Health"]["properties"][k]["default"] for k in INHERITED["Health"]}
    bare = {"version": 1, "name": "shop", "tiers": [_TIER]}
    written = {**bare, "defaults": {**settings, "health": health}}
    left_out = parse_spec(yaml.safe_dump(bare), "bare.yaml").spec
    spelled = parse_spec(yaml.safe_dump(written), "written.yaml").spec
    assert spelled.settings("web") == left_out.settings("web")
    assert MODELS["Settings"]["properties"]["recovery_gap"]["default"] == "45m"
    for key in INHERITED["Tier"]:
        assert MODELS["Tier"]["properties"][key]["default"] == settings[key]
