"""build_plan: spec + fleet + start time -> the timed plan (DESIGN §6). Pure and deterministic.

1. Select each tier's VMs (a VM selected by two tiers is an error). VMs with nothing pending or whose
   maintenance already completed are ``skipped``; VMs Azure will not let us maintain (customer-
   initiated maintenance not allowed, no self-service window) are ``unschedulable`` up front.
2. Cut each tier into groups, domains and steps (planner.grouping, which documents the step ids).
3. Build the step graph (planner.graph): lower bound and each step's remaining path, its priority.
4. Schedule (planner.schedule) inside the operator window and the VMs' self-service windows.

What happens when VMs cannot be scheduled (documented in planner.schedule too):
- a VM that does not fit before its self-service window ends is dropped from its step; the rest of
  its group is not scheduled (a group is walked in order or not at all past that point);
- a tier with any unschedulable VM (for whatever reason) holds back every tier that depends on it,
  directly or not: their VMs are unschedulable with a reason naming the blocking tier;
- a tier whose VMs need nothing passes its own dependencies on (web -> app -> db with nothing to
  do in app still waits for db).
Every reason ends with when Azure will do the maintenance itself.

A step's ``after``: the step before it in its group; for a group's first step, the step that ends
last in each tier it depends on ("A's last step" of R4; through tiers with nothing to do, theirs).
The graph (planner.graph) and the lower bound use every group's last step, not only that one.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Sequence

from planner.candidates import selection
from planner.errors import Problem, SpecError
from planner.fingerprint import fingerprint
from planner.fleet import VM, Fleet
from planner.graph import StepNode, longest_paths, lower_bound, step_graph, tier_order
from planner.grouping import Draft, group_tier
from planner.lint import lint
from planner.plan import Plan, Skipped, Step, Unschedulable
from planner.schedule import Scheduler, Spans, TierInput, VMWindow
from planner.select import claimed_twice
from planner.spec import Spec
from planner.values import format_timestamp
from planner.windows import allowed_intervals, to_offsets

UTC = dt.timezone.utc
_DAY = 86400


def build_plan(spec: Spec, fleet: Fleet, start: dt.datetime, *, source: str = "<spec>") -> Plan:
    """The plan for ``spec`` over ``fleet`` from ``start`` (rounded up to a whole second).

    ``source`` names the spec file in the error raised for a VM selected by two tiers.
    """
    # Planning a big fleet allocates millions of objects, none of them garbage until the end, and
    # every full collection on the way walks them all: pausing the cyclic collector makes 100,000
    # VMs plan in about half the time. It is turned back on (if it was on) before returning.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _build(spec, fleet, start, source)
    finally:
        if paused:
            gc.enable()


def _build(spec: Spec, fleet: Fleet, start: dt.datetime, source: str) -> Plan:
    origin = _whole_second(start)
    by_tier = selection(spec, fleet.vms)
    _reject_claimed_twice(spec, by_tier, source)
    order = tier_order({t.name: t.depends_on for t in spec.tiers})
    vm_by_id = {vm.id: vm for vm in fleet.vms}

    skipped: list[Skipped] = []
    refused: dict[str, str] = {}
    pending: dict[str, list[VM]] = {}
    candidates: dict[str, list[VM]] = {}
    for tier in order:
        pending[tier], candidates[tier] = [], []
        for vm in by_tier[tier]:
            m = vm.maintenance
            if m is None:
                skipped.append(Skipped(vm.id, "no maintenance pending"))
            elif not m.pending:
                skipped.append(Skipped(vm.id, "maintenance already completed"))
            else:
                pending[tier].append(vm)
                if not m.customer_initiated_allowed and not m.opens_later(fleet.captured_at):
                    refused[vm.id] = (
                        "Azure does not allow customer-initiated maintenance on it; " + _azure_later(vm)
                    )
                elif m.self_service_window is None:
                    refused[vm.id] = "it has no self-service window; " + _azure_later(vm)
                else:
                    candidates[tier].append(vm)

    tiers, drafts = _tiers(spec, order, by_tier, candidates, refused)
    graph = step_graph(_nodes(drafts), {t: spec.tier(t).depends_on for t in order})
    heads, tails = longest_paths(graph)

    cutoff = spec.window.cutoff
    seen: dict[tuple[dt.datetime, dt.datetime], VMWindow] = {}  # a wave shares its windows
    windows = {vm.id: _vm_window(vm, origin, cutoff, seen) for c in candidates.values() for vm in c}
    # far enough that no step can reach it: the window only closes where it really closes
    horizon = origin + dt.timedelta(seconds=max((w.hi for w in windows.values()), default=0) + cutoff + _DAY)
    allowed = to_offsets(allowed_intervals(spec.window, origin, horizon), origin)
    spans = [(a, b - cutoff) for a, b in allowed]
    scheduler = Scheduler(
        tiers, Spans(spans), windows, {d.id: tails[d.id] for d in drafts}, spec.limits.max_parallel_steps
    )
    scheduler.run()

    placed = sorted((d for d in drafts if d.start is not None and d.vms), key=lambda d: (d.start, d.seq))
    at = _Instants(origin)
    steps = tuple(_step(d, at) for d in placed)
    reasons = dict(refused)
    for vm_key, (kind, draft, blocker) in scheduler.unplaced.items():
        reasons[vm_key] = _reason(kind, vm_by_id[vm_key], draft, blocker, origin)
    if len(placed) == len(drafts):
        bound = lower_bound(graph, heads)
    else:  # some steps fell out: the bound is that of the steps that remain
        bound = lower_bound(step_graph(_nodes(placed), {t: spec.tier(t).depends_on for t in order}))
    return Plan(
        name=spec.name,
        fingerprint=fingerprint(spec, fleet),
        start=origin,
        makespan_s=max((s.end_offset_s for s in steps), default=0),
        lower_bound_s=bound,
        steps=steps,
        skipped=tuple(sorted(skipped, key=lambda s: s.vm)),
        unschedulable=tuple(Unschedulable(v, reasons[v]) for v in sorted(reasons)),
        warnings=tuple(lint(spec, pending, origin)),
    )


def _whole_second(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("build_plan needs a timezone-aware start")
    value = value.astimezone(UTC)
    return value.replace(microsecond=0) + dt.timedelta(seconds=1 if value.microsecond else 0)


def _reject_claimed_twice(spec: Spec, by_tier: dict[str, list[VM]], source: str) -> None:
    if sum(len(vms) for vms in by_tier.values()) == len({vm.id for vms in by_tier.values() for vm in vms}):
        return  # the common case, checked without building claimed_twice's map
    twice = claimed_twice(by_tier)
    if twice:
        refs = {vm.id: vm.ref for vms in by_tier.values() for vm in vms}
        raise SpecError(
            Problem(
                source,
                1,
                1,
                f"VM {refs[vm]} is selected by tiers {' and '.join(repr(t) for t in tiers)}: "
                "a VM belongs to one tier; narrow one of the selectors",
            )
            for vm, tiers in sorted(twice.items())
        )


def _tiers(
    spec: Spec,
    order: list[str],
    by_tier: dict[str, list[VM]],
    candidates: dict[str, list[VM]],
    refused: dict[str, str],
) -> tuple[list[TierInput], list[Draft]]:
    tiers: list[TierInput] = []
    drafts: list[Draft] = []
    for name in order:
        settings = spec.settings(name)
        capacity = settings.max_unavailable.of(len(by_tier[name]))
        chains = group_tier(
            name,
            candidates[name],
            capacity,
            settings.step_duration,
            settings.recovery_gap,
            settings.update_domain_order,
        )
        drafts += [d for chain in chains for d in chain]
        tiers.append(
            TierInput(
                name=name,
                depends_on=settings.depends_on,
                capacity=capacity,
                gap=settings.recovery_gap,
                chains=chains,
                incomplete=any(vm.id in refused for vm in by_tier[name]),
            )
        )
    for seq, draft in enumerate(sorted(drafts, key=lambda d: d.id)):
        draft.seq = seq
    return tiers, drafts


def _nodes(drafts: Sequence[Draft]) -> list[StepNode]:
    return [StepNode(d.id, d.tier, d.duration, d.gap, d.prev.id if d.prev else None) for d in drafts]


def _vm_window(
    vm: VM, origin: dt.datetime, cutoff: int, seen: dict[tuple[dt.datetime, dt.datetime], VMWindow]
) -> VMWindow:
    assert vm.maintenance is not None and vm.maintenance.self_service_window is not None
    key = vm.maintenance.self_service_window
    found = seen.get(key)
    if found is None:
        lo = (key[0] - origin).total_seconds()
        hi = (key[1] - origin).total_seconds()
        found = seen[key] = VMWindow(lo=int(-(-lo // 1)), hi=int(hi // 1) - cutoff)
    return found


class _Instants(dict[int, dt.datetime]):
    """Offset -> datetime, each computed once (many steps of a big plan share start and end times)."""

    def __init__(self, origin: dt.datetime):
        super().__init__()
        self.origin = origin

    def __missing__(self, offset: int) -> dt.datetime:
        value = self[offset] = self.origin + dt.timedelta(seconds=offset)
        return value


def _step(d: Draft, at: _Instants) -> Step:
    assert d.start is not None
    return Step(
        id=d.id,
        tier=d.tier,
        group=d.group,
        domain=d.domain,
        vms=tuple([vm.id for vm in d.vms]),
        after=d.after,
        start=at[d.start],
        end=at[d.end],
        start_offset_s=d.start,
        end_offset_s=d.end,
        gap_after_s=d.gap,
    )


def _azure_later(vm: VM) -> str:
    m = vm.maintenance
    if m is not None and m.scheduled_window is not None:
        first = format_timestamp(m.scheduled_window[0])
        return f"Azure will maintain it in its scheduled window from {first}"
    return "Azure will maintain it in a scheduled window it has not announced yet"


def _reason(kind: str, vm: VM, draft: Draft, blocker: str, origin: dt.datetime) -> str:
    later = _azure_later(vm)
    if kind in ("deadline", "window"):
        assert vm.maintenance is not None and vm.maintenance.self_service_window is not None
        end = vm.maintenance.self_service_window[1]
        if end <= origin:
            return f"its self-service window ended {format_timestamp(end)}, before the plan starts; {later}"
        where = " in the operator window's allowed time" if kind == "window" else ""
        return f"does not fit{where} before the self-service window ends {format_timestamp(end)}; {later}"
    if kind == "apart":
        return (
            f"cannot share step {draft.id} with its other VMs: their self-service windows leave no "
            f"common time inside the operator window; {later}"
        )
    if kind == "group":
        return f"waits for step {blocker} of its group, which cannot be scheduled in full; {later}"
    return f"tier {draft.tier!r} depends on tier {blocker!r}, which has VMs that cannot be scheduled; {later}"
