"""Lint warnings (DESIGN §6), from the advice in Azure's maintenance documents.

Each warning names its VMs. Warnings come in a fixed order: by code in the order of ``CODES``, then
by tier in the spec's order; VM ids are sorted.

One function per rule (named after its code), called by :func:`lint` in the order of ``CODES``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from planner.fleet import VM
from planner.grouping import placement
from planner.plan import Warning
from planner.spec import Spec
from planner.timefmt import plural
from planner.values import format_duration, format_timestamp

CODES = (
    "single-domain",
    "scheduled-window-started",
    "deallocated",
    "not-allowed",
    "temp-disk",
    "azure-walk-equivalent",
)


def lint(spec: Spec, pending: Mapping[str, Sequence[VM]], start: dt.datetime) -> list[Warning]:
    """Warnings about the tiers' VMs with maintenance pending (``pending``: tier -> VMs)."""
    every = [vm for tier in spec.tiers for vm in pending.get(tier.name, ())]
    warnings: list[Warning] = []
    for tier in spec.tiers:
        warnings += _single_domain(tier.name, pending.get(tier.name, ()))
    warnings += _scheduled_window_started(every, start)
    warnings += _deallocated(every)
    warnings += _not_allowed(every, start)
    warnings += _temp_disk(every)
    warnings += _azure_walk_equivalent(spec, pending)
    return warnings


def _single_domain(tier: str, vms: Sequence[VM]) -> list[Warning]:
    if len(vms) < 2:
        return []
    group, domain = placement(tier, vms[0])
    if domain is None:  # unknown: the VM is unschedulable with that reason, not a shared domain
        return []
    if any(placement(tier, vm) != (group, domain) for vm in vms[1:]):  # stops at the first other one
        return []
    if group.endswith(f"/{vms[0].name.lower()}"):  # a lone regional VM has no domain to share
        return []
    where = f"zone {domain}" if isinstance(domain, str) else f"domain {domain}"
    return [
        _warning(
            "single-domain",
            vms,
            f"all {len(vms)} VMs of tier {tier!r} share {where} of {group}: when Azure maintains that "
            "domain the tier goes fully down; spread them over update domains or zones",
        )
    ]


def _scheduled_window_started(every: Sequence[VM], start: dt.datetime) -> list[Warning]:
    started: list[VM] = []
    last: object = started  # no model yet
    hit = False
    for vm in every:
        m = vm.maintenance
        if m is not last:  # runs of VMs share one model (a snapshot shares them): checked once a run
            last = m
            hit = bool(m and m.scheduled_window and m.scheduled_window[0] <= start)
        if hit:
            started.append(vm)
    if not started:
        return []
    first = min(
        vm.maintenance.scheduled_window[0]
        for vm in started
        if vm.maintenance and vm.maintenance.scheduled_window
    )
    return [
        _warning(
            "scheduled-window-started",
            started,
            f"Azure's scheduled maintenance window of {_vms(started)} already started "
            f"(from {format_timestamp(first)}) before the plan starts: Azure may maintain them "
            "itself at any time, in its own order",
        )
    ]


def _deallocated(every: Sequence[VM]) -> list[Warning]:
    deallocated = [vm for vm in every if vm.power_state in ("deallocated", "deallocating")]
    return _if_any(
        "deallocated",
        deallocated,
        f"{_vms(deallocated)} {_are(deallocated)} deallocated: deallocating a VM reverts its "
        "maintenance status (started again, it lands on an updated host): start them before the "
        "rollout or leave them out",
    )


def _not_allowed(every: Sequence[VM], start: dt.datetime) -> list[Warning]:
    # not for want of an open window: such a VM is planned from its window's start (issue 12)
    refused = [
        vm
        for vm in every
        if (m := vm.maintenance) and not m.customer_initiated_allowed and not m.opens_later(start)
    ]
    return _if_any(
        "not-allowed",
        refused,
        f"Azure does not allow customer-initiated maintenance on {_vms(refused)}: "
        "Azure will maintain them in its scheduled window",
    )


def _temp_disk(every: Sequence[VM]) -> list[Warning]:
    ephemeral = [vm for vm in every if vm.ephemeral_os_disk]
    return _if_any(
        "temp-disk",
        ephemeral,
        f"{_vms(ephemeral)} {_are(ephemeral, 'has', 'have')} an ephemeral OS disk: maintenance "
        "redeploys the VM to another host, and data on the temporary or ephemeral disk is lost",
    )


def _azure_walk_equivalent(spec: Spec, pending: Mapping[str, Sequence[VM]]) -> list[Warning]:
    """Tiers where udroll would do what Azure's own walk does: worth knowing before adopting it."""
    dependents = {dep for tier in spec.tiers for dep in tier.depends_on}
    warnings = []
    for tier in spec.tiers:
        vms = pending.get(tier.name, ())
        if (
            vms
            and all(vm.availability_set for vm in vms)
            and not tier.depends_on
            and tier.name not in dependents
            and tier.update_domain_order is None
        ):
            gap = format_duration(spec.settings(tier).recovery_gap)
            warnings.append(
                _warning(
                    "azure-walk-equivalent",
                    vms,
                    f"tier {tier.name!r} is availability sets walked in ascending update-domain order, "
                    f"and no tier depends on it or it on another: Azure's own walk does the same, one "
                    f"update domain at a time 30m apart; udroll adds only the {gap} gap and health gates",
                )
            )
    return warnings


def _if_any(code: str, vms: Sequence[VM], message: str) -> list[Warning]:
    """The rule's one warning if any VM breaks it, else none."""
    return [_warning(code, vms, message)] if vms else []


def _warning(code: str, vms: Sequence[VM], message: str) -> Warning:
    return Warning(code, message, tuple(sorted(vm.id for vm in vms)))


def _vms(vms: Sequence[VM]) -> str:
    return plural(len(vms), "VM")


def _are(vms: Sequence[VM], one: str = "is", many: str = "are") -> str:
    return one if len(vms) == 1 else many
