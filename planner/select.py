"""Which VMs a tier's selectors pick (DESIGN §4 Selection)."""

from __future__ import annotations

from collections.abc import Iterable

from planner.fleet import VM
from planner.spec import Selector, Spec


def matches(selector: Selector, vm: VM) -> bool:
    """All keys of one selector must match (names compare case-insensitively, as ARM does)."""
    rg = vm.resource_group.lower()
    if selector.availability_set is not None:
        want_rg, want = selector.availability_set.lower().split("/")
        if rg != want_rg or (vm.availability_set or "").lower() != want:
            return False
    if selector.scale_set is not None:
        want_rg, want = selector.scale_set.lower().split("/")
        if rg != want_rg or (vm.scale_set or "").lower() != want:
            return False
    if selector.resource_group is not None and rg != selector.resource_group.lower():
        return False
    if selector.tags is not None and any(vm.tags.get(k) != v for k, v in selector.tags.items()):
        return False
    return not (selector.vms is not None and vm.ref.lower() not in {r.lower() for r in selector.vms})


def select(selectors: Iterable[Selector], vms: Iterable[VM]) -> list[VM]:
    """The VMs any of ``selectors`` matches, in fleet order."""
    chosen = tuple(selectors)
    return [vm for vm in vms if any(matches(s, vm) for s in chosen)]


def selection(spec: Spec, vms: Iterable[VM]) -> dict[str, list[VM]]:
    """Each tier's VMs. A VM claimed by two tiers appears under both: callers report it."""
    pool = tuple(vms)
    return {tier.name: select(tier.select, pool) for tier in spec.tiers}


def claimed_twice(by_tier: dict[str, list[VM]]) -> dict[str, list[str]]:
    """VM id -> the tiers that selected it, for VMs selected by more than one tier."""
    owners: dict[str, list[str]] = {}
    for tier, vms in by_tier.items():
        for vm in vms:
            owners.setdefault(vm.id, []).append(tier)
    return {vm: tiers for vm, tiers in owners.items() if len(tiers) > 1}


def overlaps(spec: Spec, by_tier: dict[str, list[VM]]) -> list[tuple[int, str]]:
    """One message per pair of tiers that select the same VMs, with the index of the later tier
    (where the message belongs: its ``select`` is usually the one to narrow)."""
    twice = claimed_twice(by_tier)
    if not twice:
        return []
    refs = {vm.id: vm.ref for vms in by_tier.values() for vm in vms}
    index = {tier.name: i for i, tier in enumerate(spec.tiers)}
    pairs: dict[tuple[str, str], list[str]] = {}
    for vm, tiers in twice.items():
        for i, first in enumerate(tiers):
            for second in tiers[i + 1 :]:
                pair = (first, second) if index[first] < index[second] else (second, first)
                pairs.setdefault(pair, []).append(refs[vm])
    out = []
    for (first, second), vms in sorted(pairs.items(), key=lambda kv: (index[kv[0][1]], index[kv[0][0]])):
        shown = ", ".join(sorted(vms)[:3]) + (f" and {len(vms) - 3} more" if len(vms) > 3 else "")
        count = f"{len(vms)} VM{'s' if len(vms) != 1 else ''}"
        out.append(
            (
                index[second],
                f"tiers {first!r} and {second!r} both select {count} ({shown}): a VM belongs to one "
                "tier; narrow one of the selectors",
            )
        )
    return out
