"""What each key of the spec means, and its real default, for the JSON Schema (`udroll schema`).

pydantic's schema knows a key's type and its model default; an editor also needs what the key does,
and for the keys that inherit (a tier's key, else `defaults:`, else udroll's built-in value) the value
that applies when nobody sets it: 45m for `recovery_gap`, not null. tests/test_spec_schema_docs.py
checks that every key has a description and that every default is what the loader applies.
"""

from __future__ import annotations

from typing import Any

from planner.spec import BUILTIN
from planner.values import format_duration

_SET = "(a tier's own value, else `defaults`, else this default)"

DESCRIPTIONS: dict[str, str] = {
    "Spec.version": "The spec format's version: 1.",
    "Spec.name": "The rollout's name ([a-z0-9-], at most 63): names the journal (.udroll/NAME) and reports.",
    "Spec.subscription": "Azure subscription id used when a selector or inventory VM names none.",
    "Spec.defaults": "Settings every tier inherits unless it sets them itself.",
    "Spec.window": "The operator's window, intersected with each VM's self-service window.",
    "Spec.limits": "Limits across the whole rollout.",
    "Spec.tiers": "Tiers of VMs, maintained one update domain (or fault domain, or zone) at a time.",
    "Spec.inventory": "Inline fleet facts (the `vms` items of a udroll/fleet@1 snapshot), for examples and "
    "offline planning; unset: the live fleet is read from Azure.",
    "Spec.maintenance_events": "Ask before (pre) and tell after (post) each step, through the notify sinks.",
    "Settings.recovery_gap": f"Wait after a step before the next step of its group or of dependent tiers; "
    f"more than 30m {_SET}.",
    "Settings.expected_duration": f"Planning estimate of one perform-maintenance {_SET}.",
    "Settings.max_unavailable": f"VMs of the tier under maintenance at once: a count or a percentage {_SET}.",
    "Settings.health": "Health gates run on each VM after its maintenance.",
    "Settings.hooks": "Commands run before and after each step, in the spec's directory.",
    "Tier.name": "The tier's name ([a-z0-9_-]): step ids start with it.",
    "Tier.depends_on": "Tiers that must be maintained (plus their recovery gap) before this one starts.",
    "Tier.update_domain_order": "Update domains in the order to walk them; unset: ascending.",
    "Health.wait": f"Time after the maintenance before the first probe {_SET}.",
    "Health.timeout": f"Time to become healthy, else the step fails {_SET}.",
    "Health.healthy_for": f"The checks must pass continuously this long {_SET}.",
    "Health.interval": f"Time between probes {_SET}.",
    "Health.checks": "Probes that must all pass (http, tcp, command); unset or empty: running is enough.",
    "HttpCheck.status": "HTTP status codes that pass.",
    "HttpCheck.ca_bundle": "PEM file of CAs to verify the server with; unset: the system's CAs.",
    "HttpCheck.probe_timeout": "How long one request may take.",
    "TcpCheck.probe_timeout": "How long one connection may take.",
    "CommandCheck.probe_timeout": "How long one run of the command may take (it is killed after).",
    "Hooks.before_step": "Command run before each step's first trigger; a non-zero exit fails the step.",
    "Hooks.after_step": "Command run after each step's VMs passed their gates; non-zero fails the step.",
    "Hooks.env": "Names of udroll's environment variables the hooks get (the rest are not passed on).",
    "Selector.resource_group": "Every VM of this resource group.",
    "Selector.tags": "VMs carrying all these tags with these values.",
    "Selector.vms": "VMs by name: rg/name, or rg/scale-set/instance-id for a scale set instance.",
    "Window.not_before": "No step starts before this instant (with a zone); unset: now.",
    "Window.not_after": "Every step must end by this instant (with a zone); unset: no end.",
    "Window.timezone": "IANA time zone of `hours`, `days` and `blackout`.",
    "Window.hours": 'Local hours steps may run in, "22:00-06:00" (may wrap midnight); unset: all day.',
    "Window.days": "Days whose nights are allowed (mon..sun; a night belongs to the day it starts); "
    "unset: every day.",
    "Window.blackout": "Dates (or [from, to] ranges) on which no night is allowed.",
    "Window.cutoff": "A step must be expected to end this long before a window closes.",
    "Limits.max_failed_steps": "Halt the run when more steps than this have failed.",
    "InventoryVM.id": "Full ARM resource id; unset: derived from the subscription, resource group and name.",
    "InventoryVM.name": "The VM's name (a scale set instance: its computer name or instance name).",
    "InventoryVM.resource_group": "The VM's resource group.",
    "InventoryVM.location": "The VM's Azure region.",
    "InventoryVM.availability_set": "The availability set it belongs to (name), if any.",
    "InventoryVM.scale_set": "The scale set it belongs to (name), if any.",
    "InventoryVM.instance_id": "Its instance id in a Uniform scale set.",
    "InventoryVM.orchestration": "The scale set's orchestration mode: Uniform or Flexible.",
    "InventoryVM.zone": "Its availability zone, if zonal.",
    "InventoryVM.update_domain": "Its platform update domain (from the instance view).",
    "InventoryVM.fault_domain": "Its platform fault domain (from the instance view).",
    "InventoryVM.tags": "Its tags.",
    "InventoryVM.power_state": "Its power state; a deallocated VM's pending maintenance is dropped by Azure.",
    "InventoryVM.ephemeral_os_disk": "Whether its OS disk is ephemeral (maintenance reimages it).",
    "InventoryVM.maintenance": "Its maintenanceRedeployStatus; unset: no maintenance pending.",
    "Maintenance.customer_initiated_allowed": "isCustomerInitiatedMaintenanceAllowed: may it be started now.",
    "Maintenance.self_service_window": "[start, end] of the window in which the customer may start it.",
    "Maintenance.scheduled_window": "[start, end] of the window in which Azure will do it itself.",
    "Maintenance.last_result": "lastOperationResultCode of the last maintenance operation.",
    "Maintenance.last_message": "lastOperationMessage of the last maintenance operation.",
    "MaintenanceEvents.pre": "Ask before each step (or tier) and wait for go or stop when required.",
    "PreEvent.callback": "Where udroll listens for answers to pre events.",
    "WebhookSink.schema": "The event envelope: CloudEvents 1.0 or Event Grid.",
}


def _settings_defaults() -> dict[str, Any]:
    """The built-in values behind the inheriting keys, written as a spec would write them."""
    health, capacity = BUILTIN.health, BUILTIN.max_unavailable
    return {
        "recovery_gap": format_duration(BUILTIN.recovery_gap),
        "expected_duration": format_duration(BUILTIN.expected_duration),
        "max_unavailable": capacity.count if capacity.count is not None else f"{capacity.percent:g}%",
        "wait": format_duration(health.wait),
        "timeout": format_duration(health.timeout),
        "healthy_for": format_duration(health.healthy_for),
        "interval": format_duration(health.interval),
        "checks": [],
    }


# model -> its keys whose default is udroll's built-in value rather than the model's null
INHERITED = {
    "Settings": ("recovery_gap", "expected_duration", "max_unavailable"),
    "Tier": ("recovery_gap", "expected_duration", "max_unavailable"),
    "Health": ("wait", "timeout", "healthy_for", "interval", "checks"),
}
# object-valued keys whose model default is "every key at its own default": written {} for editors
EMPTY_OBJECT_DEFAULTS = {
    "Spec.defaults",
    "Spec.window",
    "Spec.limits",
    "PreEvent.callback",
    "InventoryVM.tags",
}
# optional keys with no literal default (computed from other keys)
COMPUTED = {"InventoryVM.id"}


def _is_duration(prop: dict[str, Any]) -> bool:
    options = [prop, *prop.get("anyOf", [])]
    return any("examples" in o and "PT45M" in o["examples"] for o in options)


def document(models: dict[str, dict[str, Any]]) -> None:
    """Add descriptions and real defaults to the schema's models (``{"Spec": ..., ...}``), in place."""
    builtin = _settings_defaults()
    for model, node in models.items():
        for key, prop in node.get("properties", {}).items():
            name = f"{model}.{key}"
            own = DESCRIPTIONS.get(name) or DESCRIPTIONS.get(f"Settings.{key}" if model == "Tier" else "")
            if own:
                prop["description"] = own
            if key in INHERITED.get(model, ()):
                prop["default"] = builtin[key]
            elif name in EMPTY_OBJECT_DEFAULTS:
                prop["default"] = {}
            elif name in COMPUTED:
                prop.pop("default", None)
            elif isinstance(prop.get("default"), int) and _is_duration(prop):
                prop["default"] = format_duration(prop["default"])
            if _is_duration(prop):
                prop["description"] += " A duration with a unit: 90s, 45m, 1h30m, or ISO 8601 PT45M."
