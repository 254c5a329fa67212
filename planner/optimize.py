"""The exact solver (OR-Tools CP-SAT) that improves the greedy's plan within a time budget.

The model has one optional interval per step (present when it covers at least one VM), one literal
per VM (covered: its step is present and lies inside its self-service window, ending by the cutoff)
and the rules of DESIGN §6 as constraints: allowed start domains from the operator window (R7),
precedence with the gap along each group (R3; a step runs only if the step before it covers all its
VMs, so a group is walked in order), one "tier done" time per tier that dependents' first steps wait
for (R4; a tier with nothing planned passes its own dependencies on), a cumulative per tier over the
VMs its steps cover (R5) and one over all steps (R6). The objective is lexicographic, as a
solve in two phases: the most VMs covered, then, covering at least as many, the shortest makespan.

The greedy's plan is the hint (warm start), so the answer is never worse than it. The search runs on
one worker with a fixed seed and stops after ``budget`` of CP-SAT's *deterministic* time, so the same
inputs, budget and seed give the same plan on any machine (a wall-clock stop at thirty times the budget
plus ten seconds guards against a pathological model; hitting it is the one non-deterministic case).
Without OR-Tools installed ``improve`` returns None and the greedy's plan stands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from planner.bounds import Outcome
from planner.grouping import Draft
from planner.schedule import Spans, TierInput, VMWindow, fresh

# beyond this many steps the model takes longer to build than a budget of a few seconds allows
MAX_STEPS = 2000


@dataclass
class Solved:
    outcome: Outcome
    better: bool  # lexicographically better than the greedy's
    need: int  # the plan covers at least this many VMs ...
    coverage_proven: bool  # ... and no plan covers more
    bound: int | None  # no plan covering at least ``need`` VMs ends sooner


def unavailable(tiers: Sequence[TierInput]) -> str | None:
    """Why the solver cannot run on this problem (the plan's ``optimality.method`` says it), or None."""
    steps = sum(len(c) for t in tiers for c in t.chains)
    if steps > MAX_STEPS:
        return f"greedy (CP-SAT not run: {steps} steps, more than {MAX_STEPS})"
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:  # pragma: no cover - the greedy still plans without it
        return "greedy (CP-SAT not run: OR-Tools is not installed)"
    return None


def improve(
    tiers: Sequence[TierInput],
    spans: Spans,
    windows: dict[str, VMWindow],
    limit: int | None,
    greedy: Outcome,
    budget: float,
    seed: int,
    coverage_known: bool,
) -> Solved | None:
    """The best plan CP-SAT finds within ``budget`` deterministic seconds, or None when OR-Tools is
    missing or the problem is too large for it. Two phases: the most VMs covered (skipped when
    ``coverage_known``: the greedy already covers every VM that can fit), then, covering at least
    as many, the shortest makespan."""
    steps = sum(len(c) for t in tiers for c in t.chains)
    if steps == 0 or steps > MAX_STEPS:
        return None
    try:
        from ortools.sat.python import cp_model
    except ImportError:  # pragma: no cover - the greedy still plans without it
        return None
    unit = _unit(tiers, spans, windows)
    scaled = (_scaled_spans(spans, unit), _scaled_windows(windows, unit))

    def model() -> _Model:
        return _Model(cp_model, _scaled(tiers, unit), *scaled, limit)

    best, proven, left = greedy, coverage_known, budget
    if not coverage_known:
        first = model()
        first.hint(greedy, unit)
        first.m.maximize(sum(first.literals))
        code, solver = _solve(cp_model, first, budget / 2, seed)
        left = budget / 2
        if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            found = first.read(solver, unit)
            best = found if found.key() < greedy.key() else greedy
            proven = code == cp_model.OPTIMAL
    need = best.covered()
    second = model()
    second.hint(best, unit)
    second.m.add(sum(second.literals) >= need)
    second.m.minimize(second.makespan)
    code, solver = _solve(cp_model, second, left, seed)
    bound = None
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        found = second.read(solver, unit)
        best = found if found.key() < best.key() else best
        bound = math.ceil(solver.best_objective_bound - 1e-6) * unit
    return Solved(best, best.key() < greedy.key(), need, proven, bound)


def _solve(cp: Any, model: _Model, budget: float, seed: int) -> tuple[Any, Any]:
    """Solve deterministically: one worker, a fixed seed, a budget of deterministic time (plus a
    generous wall-clock guard)."""
    solver = cp.CpSolver()
    params = solver.parameters
    params.num_workers = 1
    params.random_seed = seed
    params.max_deterministic_time = budget
    params.max_time_in_seconds = 30 * budget + 10
    return solver.solve(model.m), solver


class _Model:
    """The CP-SAT model of one planning problem over untimed copies of its drafts."""

    def __init__(
        self,
        cp: Any,
        tiers: list[TierInput],
        spans: Spans,
        windows: dict[str, VMWindow],
        limit: int | None,
    ):
        self.cp, self.tiers, self.spans, self.windows = cp, tiers, spans, windows
        m = self.m = cp.CpModel()
        self.horizon = max(0, max((w.hi for w in windows.values()), default=0))
        self.start: dict[int, Any] = {}
        self.present: dict[int, Any] = {}
        self.interval: dict[int, Any] = {}
        self.covers: dict[int, list[tuple[str, Any]]] = {}  # id(draft) -> (vm id, literal or None)
        done: dict[str, Any] = {}
        makespan = self.makespan = m.new_int_var(0, self.horizon, "makespan")
        every: list[Any] = []
        for t in tiers:
            done[t.name] = m.new_int_var(0, self.horizon + t.gap, f"done:{t.name}")
            for dep in t.depends_on:
                m.add(done[t.name] >= done[dep])
            for chain in t.chains:
                self._chain(chain, t, done, makespan)
                every += [self.interval[id(d)] for d in chain]
            self._capacity(t)
        if limit is not None and len(every) > limit:
            if limit == 1:
                m.add_no_overlap(every)
            else:
                m.add_cumulative(every, [1] * len(every), limit)
        self.literals = [x for xs in self.covers.values() for _, x in xs if x is not None]

    def _chain(self, chain: list[Draft], tier: TierInput, done: dict[str, Any], makespan: Any) -> None:
        m = self.m
        before: Draft | None = None
        for d in chain:
            s, p = self._step(d)
            m.add(done[tier.name] >= s + d.duration + d.gap).only_enforce_if(p)
            m.add(makespan >= s + d.duration).only_enforce_if(p)
            if before is None:
                for dep in tier.depends_on:
                    m.add(s >= done[dep]).only_enforce_if(p)
            else:
                m.add(s >= self.start[id(before)] + before.duration + before.gap).only_enforce_if(p)
                for _, x in self.covers[id(before)]:  # the step before covers all its VMs
                    if x is None:
                        m.add(p == 0)
                    else:
                        m.add_implication(p, x)
            before = d

    def _step(self, d: Draft) -> tuple[Any, Any]:
        m, key = self.m, id(d)
        ranges = [(a, b) for a, b in self.spans.starts(d.duration) if a <= self.horizon - d.duration]
        ranges = [(a, min(b, self.horizon - d.duration)) for a, b in ranges]
        p = m.new_bool_var(f"p:{d.id}")
        if ranges:
            s = m.new_int_var_from_domain(self.cp.Domain.from_intervals([list(r) for r in ranges]), d.id)
        else:
            s = m.new_int_var(0, 0, d.id)
        covers: list[tuple[str, Any]] = []
        for vm in d.vms:
            w = self.windows[vm.id]
            if not ranges or self.spans.earliest(0, d.duration, w.lo, w.hi) is None:
                covers.append((vm.id, None))  # cannot fit even alone: never covered
                continue
            x = m.new_bool_var(f"x:{vm.id}")
            m.add(s >= w.lo).only_enforce_if(x)
            m.add(s + d.duration <= w.hi).only_enforce_if(x)
            m.add_implication(x, p)
            covers.append((vm.id, x))
        literals = [x for _, x in covers if x is not None]
        if literals:
            m.add(sum(literals) >= 1).only_enforce_if(p)
        else:
            m.add(p == 0)
        self.start[key], self.present[key], self.covers[key] = s, p, covers
        self.interval[key] = m.new_optional_fixed_size_interval_var(s, d.duration, p, f"i:{d.id}")
        return s, p

    def _capacity(self, t: TierInput) -> None:
        drafts = [d for c in t.chains for d in c]
        if sum(len(d.vms) for d in drafts) <= t.capacity:
            return
        demands = []
        for d in drafts:  # CP-SAT takes one variable per demand: the count of covered VMs
            literals = [x for _, x in self.covers[id(d)] if x is not None]
            if len(literals) <= 1:
                demands.append(literals[0] if literals else 0)
                continue
            load = self.m.new_int_var(0, len(literals), f"load:{d.id}")
            self.m.add(load == sum(literals))
            demands.append(load)
        self.m.add_cumulative([self.interval[id(d)] for d in drafts], demands, t.capacity)

    def hint(self, greedy: Outcome, unit: int) -> None:
        """The greedy's plan as the solver's starting point."""
        timed = {d.id: d for d in greedy.placed()}
        for t in self.tiers:
            for chain in t.chains:
                for d in chain:
                    g = timed.get(d.id)
                    key = id(d)
                    self.m.add_hint(self.present[key], g is not None)
                    if g is not None and g.start is not None:
                        self.m.add_hint(self.start[key], g.start // unit)
                    keep = {vm.id for vm in g.vms} if g is not None else set()
                    for vm_id, x in self.covers[key]:
                        if x is not None:
                            self.m.add_hint(x, vm_id in keep)

    def read(self, solver: Any, unit: int) -> Outcome:
        """The solver's plan as timed drafts (back in seconds), with the kind of reason for each VM
        it leaves out."""
        unplaced: dict[str, tuple[str, Draft, str]] = {}
        for t in self.tiers:
            for chain in t.chains:
                blocker: Draft | None = None
                for d in chain:
                    key = id(d)
                    covered = {v for v, x in self.covers[key] if x is not None and solver.value(x)}
                    everyone = list(d.vms)
                    if blocker is None and solver.value(self.present[key]):
                        d.start = solver.value(self.start[key])
                        d.vms = [vm for vm in everyone if vm.id in covered]
                    else:
                        d.vms = []
                    for vm in everyone:
                        if vm.id not in covered or blocker is not None:
                            unplaced[vm.id] = self._why(vm.id, d, blocker)
                    if blocker is None and len(covered) < len(everyone):
                        blocker = d
        for t in self.tiers:
            t.gap *= unit
            for chain in t.chains:
                for d in chain:
                    d.duration, d.gap = d.duration * unit, d.gap * unit
                    d.start = None if d.start is None else d.start * unit
                    if d.vms:  # the common window of its VMs, as the scheduler keeps it
                        d.lo = max(self.windows[vm.id].lo for vm in d.vms) * unit
                        d.hi = min(self.windows[vm.id].hi for vm in d.vms) * unit
        return Outcome(self.tiers, unplaced)

    def _why(self, vm: str, d: Draft, blocker: Draft | None) -> tuple[str, Draft, str]:
        if blocker is not None:
            return ("group", d, blocker.id)
        w = self.windows[vm]
        if self.spans.earliest(0, d.duration, w.lo, w.hi) is None:
            return ("window" if max(0, w.lo) + d.duration <= w.hi else "deadline", d, "")
        return ("crowded", d, "")


def _unit(tiers: Sequence[TierInput], spans: Spans, windows: dict[str, VMWindow]) -> int:
    """The largest time unit every duration, gap, span and window is a whole multiple of (usually a
    minute): the model counts in it, which keeps its domains small without rounding anything."""
    values = [t.gap for t in tiers] + [d.duration for t in tiers for c in t.chains for d in c]
    values += [x for span in spans.spans for x in span]
    values += [max(w.lo, 0) for w in windows.values()] + [w.hi for w in windows.values() if w.hi > 0]
    return reduce(math.gcd, values, 0) or 1


def _scaled(tiers: Sequence[TierInput], unit: int) -> list[TierInput]:
    out = fresh(tiers)
    for t in out:
        t.gap //= unit
        for chain in t.chains:
            for d in chain:
                d.duration, d.gap = d.duration // unit, d.gap // unit
    return out


def _scaled_spans(spans: Spans, unit: int) -> Spans:
    return Spans([(a // unit, b // unit) for a, b in spans.spans])


def _scaled_windows(windows: dict[str, VMWindow], unit: int) -> dict[str, VMWindow]:
    return {vm: VMWindow(max(w.lo, 0) // unit, w.hi // unit if w.hi > 0 else -1) for vm, w in windows.items()}
