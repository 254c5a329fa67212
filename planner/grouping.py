"""Groups and domains (DESIGN §2): how a tier's VMs are cut into steps.

- availability set, uniform scale set: walked by update domain (``update_domain_order`` first, then
  the rest ascending);
- flexible scale set: by zone when its members are zonal, else by fault domain;
- standalone zonal VMs: one group per tier across all its resource groups (group ``*/zonal:<tier>``),
  walked by zone: zone 1 of rg-a and zone 1 of rg-b are one domain, never down with zone 2 of either;
- a standalone regional VM: a group of its own.

Domains are never guessed (DESIGN §11): a set member without an update domain, a flexible member
without its zone (in a zonal set) or fault domain (in a regional one) is unschedulable with the
reason ``undomained`` gives, before grouping.

A domain with more VMs than the tier's ``max_unavailable`` is cut into consecutive parts of at most
that many VMs (in the natural order of their names: web-2 before web-10), walked one after the other
like domains.

Step ids: ``<tier>/<group label>/<domain label>[/<part>]`` where the group label is the availability
or scale set's name, ``zonal`` for a tier's standalone zonal VMs (all resource groups), or the VM's
name for a regional standalone VM (which has no domain label: ``web/web-9``); the domain label is
``ud<n>``, ``fd<n>`` or ``zone<z>``; ``/<part>`` (1, 2, ...) appears only when a domain is split. When
two groups of one tier would share a label (same name in two resource groups), the label becomes
``<name>@<rg>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from planner.fleet import VM

Domain = int | str
_SPLIT = re.compile(r"(\d+)").split
_FIX = "rediscover, or give it in the inventory"


@dataclass(eq=False, slots=True)  # slots: a plan of 100,000 VMs has tens of thousands of drafts
class Draft:
    """A step before it has a time: mutable while the scheduler drops VMs that cannot fit."""

    id: str
    tier: str
    group: str
    domain: Domain
    vms: list[VM]
    duration: int
    gap: int
    next: Draft | None = None  # the group's next step (no link back: no cycles for the collector)
    seq: int = 0
    start: int | None = None
    lo: int = 0  # earliest start its VMs' self-service windows allow (set by the scheduler)
    hi: int = 0  # latest end they allow, cutoff included
    truncated: bool = False  # a VM of this step was dropped: the group's walk stops after it
    after: tuple[str, ...] = field(default=())

    @property
    def end(self) -> int:
        assert self.start is not None
        return self.start + self.duration


@dataclass
class _Group:
    key: str  # Step.group
    label: str
    kind: str  # "set" (update domains), "flexible", "zonal", "standalone"
    rg: str
    vms: list[VM]  # in no particular order: group_tier sorts what it walks
    first: str  # the least id of its VMs


def undomained(vms: Sequence[VM]) -> dict[str, str]:
    """The VMs (of one tier) whose domain is unknown, by id, with the reason; they must not be
    walked: guessing a domain could take two domains of a group down at once."""
    zonal_flex = {
        (vm.resource_group.lower(), (vm.scale_set or "").lower()) for vm in vms if vm.scale_set and vm.zone
    }
    out = {}
    for vm in vms:
        if vm.update_domain is not None and not vm.scale_set:
            continue  # known: an availability set member with its domain, or a standalone VM
        kind = _kind(vm)
        if kind == "set" and vm.update_domain is None:
            out[vm.id] = f"update domain unknown: {_FIX}"
        elif kind == "flexible" and not vm.zone:
            if (vm.resource_group.lower(), (vm.scale_set or "").lower()) in zonal_flex:
                out[vm.id] = f"zone unknown (its scale set's other members are zonal): {_FIX}"
            elif vm.fault_domain is None:
                out[vm.id] = f"fault domain unknown: {_FIX}"
    return out


def group_tier(
    tier: str,
    vms: Sequence[VM],
    capacity: int,
    duration: int,
    gap: int,
    update_domain_order: Sequence[int] | None,
) -> list[list[Draft]]:
    """The tier's groups as chains of drafts, each chain in walking order (groups sorted by key).
    ``vms`` must have known domains (see ``undomained``)."""
    groups = _groups(tier, vms)
    chains: list[list[Draft]] = []
    for group in groups:
        by_domain: dict[Domain, list[VM]] = {}
        kind = group.kind
        for vm in group.vms:
            domain = vm.update_domain if kind == "set" else _domain(kind, vm)  # the common case inline
            if domain is None:
                raise ValueError(f"{vm.id}: domain unknown; planner.grouping.undomained keeps such VMs out")
            found = by_domain.get(domain)
            if found is None:
                by_domain[domain] = [vm]
            else:
                found.append(vm)
        order = _walk(list(by_domain), group.kind, update_domain_order)
        chain: list[Draft] = []
        prefix = f"{tier}/{group.label}"
        for domain in order:
            members = by_domain[domain]
            size = len(members)
            if size > 1:
                members.sort(key=natural_name)
            base = prefix if kind == "standalone" else f"{prefix}/{_label(kind, domain)}"
            if size <= capacity:  # the common case: the domain is one step
                chain.append(Draft(base, tier, group.key, domain, members, duration, gap))
                continue
            for n, i in enumerate(range(0, size, capacity), 1):
                part = members[i : i + capacity]
                chain.append(Draft(f"{base}/{n}", tier, group.key, domain, part, duration, gap))
        for before, after in pairwise(chain):
            before.next = after
        chains.append(chain)
    return chains


def _groups(tier: str, vms: Sequence[VM]) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for vm in vms:  # not sorted by id (a tenth of grouping's time): only the group's name needs that
        kind, key, label = _group_of(tier, vm)
        lower = key.lower()
        found = groups.get(lower)
        if found is None:
            groups[lower] = _Group(key, label, kind, vm.resource_group, [vm], vm.id)
        else:
            found.vms.append(vm)
            if vm.id < found.first:  # a group is named as its VM with the least id names it
                found.key, found.label, found.kind, found.rg, found.first = (
                    key,
                    label,
                    kind,
                    vm.resource_group,
                    vm.id,
                )
    ordered = [groups[k] for k in sorted(groups)]  # by key, lower-case (the dict's own keys)
    counts: dict[str, int] = {}
    for g in ordered:
        counts[g.label.lower()] = counts.get(g.label.lower(), 0) + 1
    taken: set[str] = set()
    for g in ordered:
        if counts[g.label.lower()] > 1:
            g.label = f"{g.label}@{g.rg}"
        label, n = g.label, 1
        while label.lower() in taken:  # e.g. a set and a VM of one name in one resource group
            n += 1
            label = f"{g.label}~{n}"
        g.label = label
        taken.add(label.lower())
    return ordered


def natural_name(vm: VM) -> tuple[tuple[str | int, ...], str]:
    """Sort key of a VM by name with numbers compared as numbers: web-2 before web-10 (the id
    breaks ties such as vm-01 and vm-1, so the order never depends on the fleet's order)."""
    name = vm.instance_id if vm.orchestration == "Uniform" and vm.instance_id else vm.name
    parts: list[str | int] = _SPLIT(name.lower())  # type: ignore[assignment]  # text, digits, ...
    parts[1::2] = map(int, parts[1::2])  # type: ignore[arg-type]
    return tuple(parts), vm.id


def placement(tier: str, vm: VM) -> tuple[str, Domain | None]:
    """The group key (lower-case) and domain ``vm`` falls into within ``tier`` (None: unknown)."""
    kind, key, _ = _group_of(tier, vm)
    return key.lower(), _domain(kind, vm)


def group_and_domain(tier: str, vm: VM) -> tuple[str, str] | None:
    """The group key (as in a step's ``group``) and domain label (``ud0``, ``fd1``, ``zone2``) of
    ``vm`` in ``tier``; None when its domain is unknown."""
    kind, key, _ = _group_of(tier, vm)
    domain = _domain(kind, vm)
    return None if domain is None else (key, _label(kind, domain) if kind != "standalone" else "vm")


def _group_of(tier: str, vm: VM) -> tuple[str, str, str]:
    """(kind, key, label) of the group of ``vm`` in ``tier``."""
    rg = vm.resource_group
    if vm.availability_set:
        return "set", f"{rg}/{vm.availability_set}", vm.availability_set
    if vm.scale_set:
        kind = "set" if vm.orchestration == "Uniform" else "flexible"
        return kind, f"{rg}/{vm.scale_set}", vm.scale_set
    if vm.zone:  # across resource groups: a zone of the tier is one domain wherever its VMs live
        return "zonal", f"*/zonal:{tier}", "zonal"
    return "standalone", f"{rg}/{vm.name}", vm.name


def _kind(vm: VM) -> str:
    """The kind of the group of ``vm`` (as ``_group_of`` gives it, without building its key)."""
    if vm.availability_set:
        return "set"
    if vm.scale_set:
        return "set" if vm.orchestration == "Uniform" else "flexible"
    return "zonal" if vm.zone else "standalone"


def _domain(kind: str, vm: VM) -> Domain | None:
    """The VM's domain in its group; None when unknown (``undomained`` keeps those out of groups)."""
    if kind == "set":
        return vm.update_domain
    if kind in ("zonal", "flexible") and vm.zone:
        return vm.zone
    if kind == "flexible":
        return vm.fault_domain
    return 0  # a regional standalone VM is a group of its own: its domain is never shared


def _label(kind: str, domain: Domain) -> str:
    if isinstance(domain, str):
        return f"zone{domain}"
    return f"ud{domain}" if kind == "set" else f"fd{domain}"


def domain_sort_key(domain: Domain) -> tuple[int, int, str]:
    """Ascending: numbers first by value, zones by number when numeric, else by name."""
    if isinstance(domain, int):
        return (0, domain, "")
    return (1, int(domain), "") if domain.isdigit() else (2, 0, domain)


def _walk(domains: list[Domain], kind: str, order: Sequence[int] | None) -> list[Domain]:
    if len(domains) < 2:
        rest = domains
    elif all(type(d) is int for d in domains):  # update or fault domains: domain_sort_key's order
        rest = sorted(domains)
    else:
        rest = sorted(domains, key=domain_sort_key)
    if kind != "set" or not order:
        return rest
    first = [d for d in order if d in domains]
    return first + [d for d in rest if d not in first]
