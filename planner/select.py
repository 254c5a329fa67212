"""Which VMs a tier's selectors pick (DESIGN §4 Selection), in one pass over the fleet.

``selection`` indexes the fleet once by what selectors name (availability set, scale set, VM ref,
resource group, tag), each key compared as ``matches`` compares it; a selector's VMs are then those
in the index entries of all its keys, so the work is linear in the fleet plus the selectors, not
their product (100,000 VMs and thousands of selectors). The answer is the same as testing every VM
against every selector with ``matches``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from planner.fleet import VM
from planner.spec import Selector, Spec
from planner.timefmt import plural


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
    """Each tier's VMs in fleet order. A VM claimed by two tiers appears under both: callers report it."""
    pool = tuple(vms)
    index = _Index(pool, {key for tier in spec.tiers for s in tier.select for key in _kinds(s)})
    chosen: dict[str, list[VM]] = {}
    for tier in spec.tiers:
        picked: set[int] = set()
        for selector in tier.select:
            picked.update(index.matching(selector))
        chosen[tier.name] = [pool[i] for i in sorted(picked)]
    return chosen


def claimed_twice(by_tier: dict[str, list[VM]]) -> dict[str, list[str]]:
    """VM id -> the tiers that selected it, for VMs selected by more than one tier."""
    owners: dict[str, list[str]] = {}
    for tier, vms in by_tier.items():
        for vm in vms:
            owners.setdefault(vm.id, []).append(tier)
    return {vm: tiers for vm, tiers in owners.items() if len(tiers) > 1}


class _Index:
    """Fleet positions by each key a selector can name (all keys lower-case); only the kinds of key
    the spec's selectors use are indexed."""

    def __init__(self, pool: Sequence[VM], kinds: set[str]):
        self.size = len(pool)
        self.by: dict[tuple[str, ...], list[int]] = {}
        for kind in kinds:  # one loop per kind: most specs select by one or two kinds of key
            if kind == "tag":
                self._tags(pool)
                continue
            for i, vm in enumerate(pool):
                for key in _keys(kind, vm):
                    found = self.by.get(key)
                    if found is None:
                        self.by[key] = [i]
                    else:
                        found.append(i)

    def _tags(self, pool: Sequence[VM]) -> None:
        """The tag keys, as _keys gives them, without its call and list per VM (the common kind)."""
        by = self.by
        for i, vm in enumerate(pool):
            for k, v in vm.tags.items():
                found = by.get(("tag", k, v))
                if found is None:
                    by["tag", k, v] = [i]
                else:
                    found.append(i)

    def matching(self, selector: Selector) -> Iterable[int]:
        """The positions of the VMs ``selector`` matches: those under every key it names."""
        get = self.by.get
        lists: list[Sequence[int]] = []
        if selector.availability_set:
            lists.append(get(("as", *selector.availability_set.lower().split("/")), []))
        if selector.scale_set:
            lists.append(get(("ss", *selector.scale_set.lower().split("/")), []))
        if selector.resource_group:
            lists.append(get(("rg", selector.resource_group.lower()), []))
        if selector.vms is not None:
            lists.append([i for r in {r.lower() for r in selector.vms} for i in get(("ref", r), ())])
        lists += [get(("tag", k, v), []) for k, v in (selector.tags or {}).items()]
        if not lists:
            return range(self.size)
        lists.sort(key=len)
        if len(lists) == 1:
            return lists[0]
        found = set(lists[0])
        for other in lists[1:]:
            found.intersection_update(other)
        return found


def _keys(kind: str, vm: VM) -> list[tuple[str, ...]]:
    """The index keys of one kind but tags under which ``vm`` is found (lower-case where ARM ignores
    case)."""
    if kind == "rg":
        return [("rg", vm.resource_group.lower())]
    if kind == "ref":
        return [("ref", vm.ref.lower())]
    if kind == "as":
        return [("as", vm.resource_group.lower(), vm.availability_set.lower())] if vm.availability_set else []
    assert kind == "ss", kind  # tags: _Index._tags
    return [("ss", vm.resource_group.lower(), vm.scale_set.lower())] if vm.scale_set else []


def _kinds(selector: Selector) -> list[str]:
    """The kinds of index key ``selector`` looks up."""
    named = {
        "as": selector.availability_set,
        "ss": selector.scale_set,
        "rg": selector.resource_group,
        "ref": selector.vms,
        "tag": selector.tags,
    }
    return [kind for kind, value in named.items() if value is not None]


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
        count = plural(len(vms), "VM")
        out.append(
            (
                index[second],
                f"tiers {first!r} and {second!r} both select {count} ({shown}): a VM belongs to one "
                "tier; narrow one of the selectors",
            )
        )
    return out
