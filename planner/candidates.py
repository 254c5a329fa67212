"""Tier selection for large fleets: planner.select's answer, with fewer VMs tested.

Each selector only tests the VMs of its resource groups or carrying one of its tags (indexes built
once); the test itself is planner.select.matches, so the answer is the same as
planner.select.selection's, in fleet order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from planner.fleet import VM
from planner.select import matches
from planner.spec import Selector, Spec


def selection(spec: Spec, vms: Iterable[VM]) -> dict[str, list[VM]]:
    """Each tier's VMs in fleet order; a VM claimed by two tiers appears under both."""
    pool = tuple(vms)
    by_rg: dict[str, list[int]] = {}
    by_tag: dict[tuple[str, str], list[int]] = {}
    for i, vm in enumerate(pool):
        by_rg.setdefault(vm.resource_group.lower(), []).append(i)
        for tag in vm.tags.items():
            by_tag.setdefault(tag, []).append(i)
    chosen: dict[str, list[VM]] = {}
    for tier in spec.tiers:
        picked: set[int] = set()
        for selector in tier.select:
            for i in _candidates(selector, by_rg, by_tag, len(pool)):
                if i not in picked and matches(selector, pool[i]):
                    picked.add(i)
        chosen[tier.name] = [pool[i] for i in sorted(picked)]
    return chosen


def _candidates(
    selector: Selector, by_rg: dict[str, list[int]], by_tag: dict[tuple[str, str], list[int]], size: int
) -> Sequence[int]:
    """The smallest index list that surely holds every VM ``selector`` matches."""
    lists: list[Sequence[int]] = []
    groups = selector.resource_groups
    if groups:
        lists.append([i for rg in {g.lower() for g in groups} for i in by_rg.get(rg, ())])
    for tag in (selector.tags or {}).items():
        lists.append(by_tag.get(tag, []))
    return min(lists, key=len) if lists else range(size)
