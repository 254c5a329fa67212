"""build_plan: spec + fleet + start time -> the timed plan (DESIGN §6). Pure and deterministic.

1. Select each tier's VMs (a VM selected by two tiers is an error). VMs with nothing pending or whose
   maintenance already completed are ``skipped``; VMs Azure will not let us maintain (customer-
   initiated maintenance not allowed, no self-service window) and VMs whose update domain, fault
   domain or zone is unknown (planner.grouping.undomained) are ``unschedulable`` up front.
2. Cut each tier into groups, domains and steps (planner.grouping, which documents the step ids).
3. Schedule (planner.schedule) inside the operator window and the VMs' self-service windows: the
   greedy first (the best of its priority orders), then, within ``optimize`` seconds, the exact
   solver (planner.optimize) improves it. The objective is lexicographic: the most VMs maintained
   inside their self-service windows, then the shortest makespan.
4. Bound and proof (planner.bounds): the plan's ``lower_bound_s`` and its ``optimality``.

What happens when VMs cannot be scheduled (documented in planner.schedule too):
- a VM that does not fit before its self-service window ends is dropped from its step; the rest of
  its group is not scheduled (a group is walked in order or not at all past that point);
- a tier with unschedulable VMs does not hold back the tiers that depend on it: they wait for its
  planned steps (R4 holds for every planned VM), and the plan lists the dependency in ``relaxed``
  (such a plan has unschedulable VMs, so it only runs with --allow-partial);
- a tier whose VMs need nothing passes its own dependencies on (web -> app -> db with nothing to
  do in app still waits for db).
Every reason ends with when Azure will do the maintenance itself.

A step's ``after``: the step before it in its group; for a group's first step, the step that ends
last in each tier it depends on ("A's last step" of R4; through tiers with nothing to do, theirs).
"""

from __future__ import annotations

import datetime as dt
import itertools
import operator
from dataclasses import replace

from planner import optimize
from planner.bounds import Outcome, hopeless, link, proof, relaxed_dependencies, tails
from planner.errors import Problem, SpecError
from planner.fingerprint import fingerprint
from planner.fleet import VM, Fleet, Maintenance
from planner.gcpause import gc_paused
from planner.graph import tier_order
from planner.grouping import Draft, group_tier, undomained
from planner.lint import lint
from planner.plan import Plan, Skipped, Step, Unschedulable
from planner.schedule import Scheduler, Spans, TierInput, VMWindow, fresh
from planner.select import overlaps, selection
from planner.source import Located, load_text, read_input
from planner.spec import Spec
from planner.values import format_timestamp
from planner.windows import allowed_intervals, to_offsets

UTC = dt.timezone.utc
_ID = operator.attrgetter("id")
_START_SEQ = operator.attrgetter("start", "seq")
_NOTHING = object()  # "no model seen yet" (None is a VM's maintenance when nothing is pending)
_DAY = 86400
_MAX_HORIZON_S = 3660 * _DAY
# the solver's budget when none is given, in its deterministic seconds (about a second each here)
DEFAULT_OPTIMIZE_S = 3.0
# the greedy's priority orders, tried in turn when the first leaves VMs out (up to this many steps:
# beyond, one pass keeps planning linear in the fleet)
_GREEDY_PASSES = (("path", True), ("deadline", True), ("path", False), ("deadline", False))
_PASSES_MAX_STEPS = 20000


def build_plan(
    spec: Spec,
    fleet: Fleet,
    start: dt.datetime,
    *,
    source: str = "<spec>",
    optimize_s: float = DEFAULT_OPTIMIZE_S,
    seed: int = 0,
) -> Plan:
    """The plan for ``spec`` over ``fleet`` from ``start`` (rounded up to a whole second).

    ``source`` names the spec file in the error raised for a VM selected by two tiers.
    ``optimize_s`` is the solver's budget (0: the greedy only); the same inputs, budget and
    ``seed`` give the same plan.
    """
    with gc_paused():  # about half the time for 100,000 VMs
        return _build(spec, fleet, start, source, optimize_s, seed)


def _build(spec: Spec, fleet: Fleet, start: dt.datetime, source: str, budget: float, seed: int) -> Plan:
    origin = _whole_second(start)
    by_tier = selection(spec, fleet.vms)
    _reject_claimed_twice(spec, by_tier, source)
    order = tier_order({t.name: t.depends_on for t in spec.tiers})
    skipped, refused, pending, candidates = _sort_out(order, by_tier, fleet.captured_at)

    tiers = _tiers(spec, order, by_tier, candidates)
    cutoff = spec.window.cutoff
    windows = _vm_windows(candidates, origin, cutoff)
    # far enough that no step can reach it: the window only closes where it really closes; but
    # never further than ten years, so that a self-service window ending in 9000 neither overflows
    # nor makes the operator window be walked day by day for millennia
    reach = max((w.hi for w in windows.values()), default=0) + cutoff + _DAY
    horizon = origin + dt.timedelta(seconds=min(reach, _MAX_HORIZON_S))
    allowed = to_offsets(allowed_intervals(spec.window, origin, horizon), origin)
    spans = Spans([(a, b - cutoff) for a, b in allowed])
    limit = spec.limits.max_parallel_steps

    bounds: dict[int, tuple[int, int]] = {}  # each draft's common window, by seq
    lost = hopeless(tiers, spans, windows, bounds)
    best = _greedy(tiers, spans, windows, limit, lost, bounds, keep=budget > 0)
    evidence = proof(best, tiers, spans, windows, None, budget, lost, limit=limit)
    final = best
    if budget > 0 and not evidence.optimal:
        why_not = optimize.unavailable(tiers)
        if why_not is not None:  # the greedy's plan and proof stand, saying why
            evidence = replace(evidence, optimality=replace(evidence.optimality, method=why_not))
        else:
            known = set(best.unplaced) <= lost
            solved = optimize.improve(tiers, spans, windows, limit, best, budget, seed, known)
            final = solved.outcome if solved is not None and solved.better else best
            evidence = proof(final, tiers, spans, windows, solved, budget, lost, "greedy + CP-SAT", limit)

    placed = final.placed()
    link(final.tiers)
    at = _Instants(origin)
    steps = _steps(placed, at)
    reasons = dict(refused)
    vm_by_id = {vm.id: vm for vm in fleet.vms} if final.unplaced else {}
    for vm_key, (kind, draft, blocker) in final.unplaced.items():
        reasons[vm_key] = _reason(kind, vm_by_id[vm_key], draft, blocker, origin)
    return Plan(
        name=spec.name,
        fingerprint=fingerprint(spec, fleet),
        start=origin,
        makespan_s=max((s.end_offset_s for s in steps), default=0),
        lower_bound_s=evidence.bound_s,
        steps=steps,
        skipped=tuple(sorted(skipped, key=lambda s: s.vm)),
        unschedulable=tuple(Unschedulable(v, reasons[v]) for v in sorted(reasons)),
        warnings=tuple(lint(spec, pending, origin)),
        relaxed=relaxed_dependencies(
            final.tiers,
            {t: sum(vm.id in reasons for vm in vms) if reasons else 0 for t, vms in by_tier.items()},
        ),
        optimality=evidence.optimality,
    )


def _sort_out(
    order: list[str], by_tier: dict[str, list[VM]], read_at: dt.datetime
) -> tuple[list[Skipped], dict[str, str], dict[str, list[VM]], dict[str, list[VM]]]:
    """Skipped VMs, VMs refused up front (with reasons), and each tier's pending and candidate VMs.
    A VM not allowed at ``read_at`` only because its window had not opened is a candidate (issue 12)."""
    skipped: list[Skipped] = []
    refused: dict[str, str] = {}
    pending: dict[str, list[VM]] = {}
    candidates: dict[str, list[VM]] = {}
    statuses: dict[int, str] = {}  # id(maintenance) -> its verdict (a snapshot shares its statuses)
    for tier in order:
        own_pending, own_candidates = pending[tier], candidates[tier] = [], []
        last: object = _NOTHING
        status = ""
        for vm in by_tier[tier]:
            m = vm.maintenance
            if m is not last:  # runs of VMs share one model: its verdict is looked up once a run
                last = m
                found = statuses.get(id(m))
                status = statuses[id(m)] = _status(m, read_at) if found is None else found
            if status == "candidate":
                own_pending.append(vm)
                own_candidates.append(vm)
            elif status.startswith("skip: "):
                skipped.append(Skipped(vm.id, status[6:]))
            else:
                own_pending.append(vm)
                refused[vm.id] = status + _azure_later(vm)
        unknown = undomained(candidates[tier])
        if unknown:
            for vm in candidates[tier]:
                if vm.id in unknown:
                    refused[vm.id] = f"{unknown[vm.id]}; {_azure_later(vm)}"
            candidates[tier] = [vm for vm in candidates[tier] if vm.id not in unknown]
    return skipped, refused, pending, candidates


def _status(m: Maintenance | None, read_at: dt.datetime) -> str:
    """How _sort_out sorts out a VM with this maintenance status: "candidate", "skip: <reason>", or
    the start of the reason it is refused."""
    if m is None:
        return "skip: no maintenance pending"
    if not m.pending:
        return "skip: maintenance already completed"
    if not m.customer_initiated_allowed and not m.opens_later(read_at):
        return "Azure does not allow customer-initiated maintenance on it; "
    if m.self_service_window is None:
        return "it has no self-service window; "
    return "candidate"


def _greedy(
    tiers: list[TierInput],
    spans: Spans,
    windows: dict[str, VMWindow],
    limit: int | None,
    lost: set[str],
    bounds: dict[int, tuple[int, int]],
    keep: bool,
) -> Outcome:
    """The best greedy schedule: the longest-path order with look-ahead, and when that leaves VMs
    out (and the plan has at most _PASSES_MAX_STEPS steps), the other orders too (earliest deadline
    first, without look-ahead); most VMs covered, then the shortest makespan, then the first order
    wins. Unless ``keep`` (the solver starts from them), the last pass schedules ``tiers``' own
    drafts rather than copies: nothing reads them untimed afterwards, and a plan of 100,000 VMs
    has 60,000 of them."""
    priority = tails(tiers)
    best: Outcome | None = None
    passes = _GREEDY_PASSES if len(priority) <= _PASSES_MAX_STEPS else _GREEDY_PASSES[:1]
    for n, (order, look_ahead) in enumerate(passes, 1):
        attempt = tiers if n == len(passes) and not keep else fresh(tiers)
        scheduler = Scheduler(
            attempt, spans, windows, priority, limit, order=order, look_ahead=look_ahead, bounds=bounds
        )
        scheduler.run()
        outcome = Outcome(attempt, scheduler.unplaced)
        if best is None or outcome.key() < best.key():
            best = outcome
        if set(best.unplaced) <= lost:  # no order can cover more
            break
    assert best is not None
    return best


def _whole_second(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("build_plan needs a timezone-aware start")
    value = value.astimezone(UTC)
    return value.replace(microsecond=0) + dt.timedelta(seconds=1 if value.microsecond else 0)


def _reject_claimed_twice(spec: Spec, by_tier: dict[str, list[VM]], source: str) -> None:
    ids = map(_ID, itertools.chain.from_iterable(by_tier.values()))
    if sum(len(vms) for vms in by_tier.values()) == len(set(ids)):
        return  # the common case, checked without building claimed_twice's map
    found = overlaps(spec, by_tier)
    if found:
        located = _located(source)
        raise SpecError(
            located.problem(("tiers", tier, "select"), message, key=True)
            if located
            else Problem(source, 1, 1, message)
            for tier, message in found
        )


def _located(source: str) -> Located | None:
    """The spec file parsed again for positions (only on this error path), if ``source`` is one."""
    try:
        return load_text(read_input(source, "spec"), source)
    except SpecError:
        return None


def _tiers(
    spec: Spec, order: list[str], by_tier: dict[str, list[VM]], candidates: dict[str, list[VM]]
) -> list[TierInput]:
    tiers: list[TierInput] = []
    drafts: list[Draft] = []
    settings = {t.name: spec.settings(t) for t in spec.tiers}  # one pass: thousands of tiers
    for name in order:
        own = settings[name]
        capacity = own.max_unavailable.of(len(by_tier[name]))
        chains = group_tier(
            name, candidates[name], capacity, own.step_duration, own.recovery_gap, own.update_domain_order
        )
        drafts += [d for chain in chains for d in chain]
        tiers.append(TierInput(name, own.depends_on, capacity, own.recovery_gap, chains))
    for seq, draft in enumerate(sorted(drafts, key=_ID)):
        draft.seq = seq
    return tiers


def _vm_windows(candidates: dict[str, list[VM]], origin: dt.datetime, cutoff: int) -> dict[str, VMWindow]:
    """VM id -> its self-service window as offsets. A wave of VMs shares its windows, and a loaded
    snapshot shares its maintenance models: each is converted once."""
    windows: dict[str, VMWindow] = {}
    by_model: dict[int, VMWindow] = {}  # id(maintenance) -> its window (the models outlive this)
    seen: dict[tuple[dt.datetime, dt.datetime], VMWindow] = {}
    last: object = _NOTHING
    found = VMWindow(lo=0, hi=0)  # replaced at the first VM (last is no model)
    for vms in candidates.values():
        for vm in vms:
            if vm.maintenance is not last:  # runs of VMs share one model: looked up once a run
                last = vm.maintenance
                if id(last) not in by_model:
                    by_model[id(last)] = _vm_window(vm, origin, cutoff, seen)
                found = by_model[id(last)]
            windows[vm.id] = found
    return windows


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


def _steps(placed: list[Draft], at: _Instants) -> tuple[Step, ...]:
    """The planned drafts as steps, by start (one loop without a call per step: a plan of 100,000
    VMs has 60,000 steps)."""
    new = object.__new__
    out = []
    for d in sorted(placed, key=_START_SEQ):
        start = d.start
        assert start is not None
        end = start + d.duration  # Draft.end without the property's call
        step = new(Step)
        out.append(step)
        # what Step.made does, without its keyword call (half the cost); it checks the first below
        step.__dict__.update(
            id=d.id,
            tier=d.tier,
            group=d.group,
            domain=d.domain,
            vms=tuple(map(_ID, d.vms)),
            after=d.after,
            start=at[start],
            end=at[end],
            start_offset_s=start,
            end_offset_s=end,
            gap_after_s=d.gap,
        )
    if out:
        Step.made(**out[0].__dict__)  # raises if the fields given above are not exactly Step's
    return tuple(out)


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
    assert vm.maintenance is not None and vm.maintenance.self_service_window is not None
    deadline = format_timestamp(vm.maintenance.self_service_window[1])
    return (
        f"no room before its self-service window ends {deadline} once the steps that cover more VMs are "
        f"placed (capacity, parallelism and windows); {later}"
    )
