"""What changed since a plan was made: the VMs and the spec keys that make it no longer match.

A plan keeps only its inputs' fingerprint, not the inputs, so the changes are read off the plan the
spec and fleet at hand give now (greedy, from the same start) compared with the plan as it was:
which VMs are gone, new, need nothing any more or moved to another domain, and which tier settings
(recovery gap, step length, dependencies) the steps say are different. Pure: no I/O, no clock.
"""

from __future__ import annotations

from planner.build import build_plan
from planner.errors import InputError
from planner.fleet import Fleet
from planner.plan import Plan, Step
from planner.select import selection
from planner.spec import Spec
from planner.values import format_duration, format_timestamp

SHOWN = 10  # changes named; the rest are counted
_DOMAIN_WORDS = (("ud", "update domain "), ("fd", "fault domain "), ("zone", "zone "))


def what_changed(plan: Plan, spec: Spec, fleet: Fleet, source: str = "<spec>") -> str:
    """``vm-3: update domain 1 → 2; tier web: recovery_gap 45m → 1h`` (the first ten, then a count)."""
    changes = _vms(plan, spec, fleet)
    try:
        fresh = build_plan(spec, fleet, plan.start, source=source, optimize_s=0)
    except InputError:  # a spec the planner refuses says so itself when it is planned
        fresh = None
    if fresh is not None:
        changes += _moved(plan, fresh, fleet) + _tiers(plan, fresh)
        if not changes:
            changes = _retimed(plan, fresh)
    shown = "; ".join(changes[:SHOWN])
    if len(changes) > SHOWN:
        shown += f"; and {len(changes) - SHOWN} more"
    return shown or "the spec or some VM's facts (tags, power state, windows) differ, though no step moved"


def _vms(plan: Plan, spec: Spec, fleet: Fleet) -> list[str]:
    """Planned VMs that are gone or need nothing any more; selected VMs the plan never saw."""
    live = {vm.id.lower(): vm for vm in fleet.vms}
    changes: list[str] = []
    planned = {vm.lower() for s in plan.steps for vm in s.vms}
    for vm in sorted(planned):
        facts = live.get(vm)
        if facts is None:
            changes.append(f"{vm.rsplit('/', 1)[-1]} is gone")
        elif facts.maintenance is None or facts.maintenance.last_result == "MaintenanceCompleted":
            changes.append(f"{facts.ref} has nothing pending any more")
    known = planned | {s.vm.lower() for s in plan.skipped} | {u.vm.lower() for u in plan.unschedulable}
    selected = {vm.id.lower(): vm for vms in selection(spec, fleet.vms).values() for vm in vms}
    changes += [f"{vm.ref} is new" for key, vm in sorted(selected.items()) if key not in known]
    return changes


def domain_words(step: Step) -> str:
    """``update domain 1``, ``fault domain 0``, ``zone 2``: a step's domain as its id labels it."""
    label = step.id.split("/")[2] if step.id.count("/") >= 2 else str(step.domain)
    for prefix, words in _DOMAIN_WORDS:
        if label.startswith(prefix) and label[len(prefix) :].isdigit():
            return words + label[len(prefix) :]
    return label


def _moved(plan: Plan, fresh: Plan, fleet: Fleet) -> list[str]:
    """VMs in both plans whose tier, group or domain differ; planned VMs that now cannot be."""
    before = {vm.lower(): s for s in plan.steps for vm in s.vms}
    after = {vm.lower(): s for s in fresh.steps for vm in s.vms}
    refs = {vm.id.lower(): vm.ref for vm in fleet.vms}
    changes: list[str] = []
    for key, old in sorted(before.items()):
        new, ref = after.get(key), refs.get(key, key.rsplit("/", 1)[-1])
        if new is None:
            why = next((u.reason for u in fresh.unschedulable if u.vm.lower() == key), None)
            changes += [f"{ref}: cannot be scheduled any more ({why})"] if why else []
        elif old.tier != new.tier:
            changes.append(f"{ref}: tier {old.tier} → {new.tier}")
        elif old.group != new.group:
            changes.append(f"{ref}: group {old.group} → {new.group}")
        elif old.domain != new.domain:
            was, now = domain_words(old), domain_words(new)
            kind = was.rsplit(" ", 1)[0]
            same = now.startswith(kind + " ")
            changes.append(f"{ref}: {was} → {now.rsplit(' ', 1)[-1] if same else now}")
    return changes


def _tiers(plan: Plan, fresh: Plan) -> list[str]:
    """Tier settings the steps show changed: recovery gap, step length, the tiers it waits for."""
    changes: list[str] = []
    old, new = _by_tier(plan), _by_tier(fresh)
    for tier in sorted(set(old) - set(new)):
        changes.append(f"tier {tier} has no step any more")
    for tier in sorted(set(new) - set(old)):
        changes.append(f"tier {tier} is new")
    for tier in sorted(set(old) & set(new)):
        for key, read in (
            ("recovery_gap", lambda steps: max(s.gap_after_s for s in steps)),
            ("step length", lambda steps: max(s.duration_s for s in steps)),
        ):
            was, now = read(old[tier]), read(new[tier])
            if was != now:
                changes.append(f"tier {tier}: {key} {format_duration(was)} → {format_duration(now)}")
        was_deps, now_deps = _depends(plan, tier), _depends(fresh, tier)
        if was_deps != now_deps:
            was, now = (", ".join(deps) or "nothing" for deps in (was_deps, now_deps))
            changes.append(f"tier {tier}: depends_on {was} → {now}")
    return changes


def _by_tier(plan: Plan) -> dict[str, list[Step]]:
    tiers: dict[str, list[Step]] = {}
    for step in plan.steps:
        tiers.setdefault(step.tier, []).append(step)
    return tiers


def _depends(plan: Plan, tier: str) -> list[str]:
    """The other tiers whose steps a tier's steps wait for."""
    tier_of = {s.id: s.tier for s in plan.steps}
    return sorted({tier_of[a] for s in plan.steps if s.tier == tier for a in s.after if tier_of[a] != tier})


def _retimed(plan: Plan, fresh: Plan) -> list[str]:
    """The same steps at other times: a window moved (the operator's or a VM's self-service window)."""
    starts = {s.id: s.start for s in fresh.steps}
    for step in plan.steps:
        now = starts.get(step.id)
        if now is not None and now != step.start:
            return [
                f"step {step.id} would start {format_timestamp(now)}, not {format_timestamp(step.start)} "
                "(a window changed)"
            ]
    return []
