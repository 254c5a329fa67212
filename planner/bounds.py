"""What a schedule is worth: priorities, ``after`` links, relaxed dependencies, bound and proof.

- ``tails``: each step's longest remaining path to the end of the rollout (durations plus gaps along
  group order and tier dependencies), the greedy's priority. Computed tier by tier, in reverse
  dependency order: linear in the steps and no recursion, whatever the number of tiers.
- ``window_bound``: the critical path of the planned steps, and the same path with each step moved
  to its earliest fit in the operator window and its VMs' self-service windows (R3, R4, R7; capacity
  and parallelism ignored). Both are lower bounds of the makespan of any plan of those steps: a
  step's earliest fit never comes sooner when what it waits for ends later.
- ``load_bound``: the planned work over the room for it (tier capacity, parallelism).
- ``proof``: the plan's ``lower_bound_s`` (the tightest of those bounds and the solver's) and its
  ``optimality``: coverage is proven when every VM left out cannot fit even alone in an empty
  rollout (or the solver proved it), and the plan is optimal when it also meets its bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from planner.grouping import Draft
from planner.plan import Optimality, Relaxed
from planner.schedule import _FAR, Spans, TierInput, VMWindow

if TYPE_CHECKING:
    from planner.optimize import Solved


@dataclass
class Outcome:
    """One schedule: timed copies of the tiers' drafts, and the VMs it leaves out (with the kind of
    reason, the draft that decided it and the blocking step)."""

    tiers: list[TierInput]
    unplaced: dict[str, tuple[str, Draft, str]]
    _placed: list[Draft] | None = field(default=None, repr=False)

    def placed(self) -> list[Draft]:
        if self._placed is None:
            self._placed = [
                d for t in self.tiers for c in t.chains for d in c if d.start is not None and d.vms
            ]
        return self._placed

    def covered(self) -> int:
        return sum(len(d.vms) for d in self.placed())

    def makespan(self) -> int:
        return max((d.end for d in self.placed()), default=0)

    def key(self) -> tuple[int, int]:
        """Smaller is better: most VMs covered, then the shortest makespan."""
        return (-self.covered(), self.makespan())


@dataclass(frozen=True)
class Evidence:
    bound_s: int
    optimality: Optimality

    @property
    def optimal(self) -> bool:
        return self.optimality.status == "optimal"


def tails(tiers: Sequence[TierInput]) -> dict[str, int]:
    """Step id -> the longest time from its start to the end of the rollout."""
    dependents: dict[str, list[str]] = {t.name: [] for t in tiers}
    for t in tiers:
        for dep in t.depends_on:
            dependents[dep].append(t.name)
    entry: dict[str, int] = {}  # from a tier's release to the end of the rollout
    done: dict[str, int] = {}  # from a tier's last step's end plus gap to the end
    out: dict[str, int] = {}
    for t in reversed(tiers):  # dependency order reversed: dependents first
        done[t.name] = max((entry[b] for b in dependents[t.name]), default=0)
        first = 0
        for chain in t.chains:
            after = done[t.name]
            for d in reversed(chain):
                after = out[d.id] = d.duration + d.gap + after
            first = max(first, after)
        entry[t.name] = first if t.chains else done[t.name]
    return out


def window_bound(tiers: Sequence[TierInput], spans: Spans, windows: dict[str, VMWindow]) -> tuple[int, int]:
    """(critical path, critical path inside the windows) of the planned steps of ``tiers``."""
    ready: dict[str, tuple[int, int]] = {}
    plain_end = windowed_end = 0
    for t in tiers:  # dependency order
        heads = [ready[d] for d in t.depends_on]
        start = (max((h[0] for h in heads), default=0), max((h[1] for h in heads), default=0))
        done_plain, done_windowed = start
        for chain in t.chains:
            plain, windowed = start
            for d in chain:
                if d.start is None or not d.vms:
                    break
                fit = spans.earliest(windowed, d.duration, d.lo, d.hi)  # lo, hi: of its VMs
                windowed = (windowed if fit is None else fit) + d.duration
                plain += d.duration
                # comparisons rather than max(): this runs for every step of a 100,000-VM plan
                if plain > plain_end:
                    plain_end = plain
                if windowed > windowed_end:
                    windowed_end = windowed
                plain, windowed = plain + d.gap, windowed + d.gap
                if plain > done_plain:
                    done_plain = plain
                if windowed > done_windowed:
                    done_windowed = windowed
        ready[t.name] = (done_plain, done_windowed)
    return plain_end, windowed_end


def load_bound(tiers: Sequence[TierInput], limit: int | None) -> tuple[int, str]:
    """The work of the planned steps over the room for it: a tier's VM-seconds over its capacity
    (R5), all steps' seconds over ``max_parallel_steps`` (R6); the larger, and which it is."""
    best, what = 0, "tier capacity"
    total = 0
    for t in tiers:
        work = sum(d.duration * len(d.vms) for c in t.chains for d in c if d.start is not None and d.vms)
        best = max(best, -(-work // max(1, t.capacity)))
        total += sum(d.duration for c in t.chains for d in c if d.start is not None and d.vms)
    if limit is not None and -(-total // limit) > best:
        best, what = -(-total // limit), "parallelism"
    return best, what


def hopeless(
    tiers: Sequence[TierInput],
    spans: Spans,
    windows: dict[str, VMWindow],
    bounds: dict[int, tuple[int, int]] | None = None,
) -> set[str]:
    """VMs no plan can cover: they do not fit alone anywhere in their self-service window, or an
    earlier step of their group holds such a VM (the group's walk stops there). ``bounds``, when
    given, gets each draft's (lo, hi) by ``seq``, as the Scheduler sets them: this walk looks up
    every VM's window already."""
    out: set[str] = set()
    fits: dict[tuple[int, int, int], bool] = {}  # a wave of VMs shares its window
    for t in tiers:
        for chain in t.chains:
            blocked = False
            for d in chain:
                stops = blocked  # a VM of this step does not fit: the walk stops after it
                last, fit = None, True
                lo, hi = -_FAR, _FAR
                for vm in d.vms:
                    w = windows[vm.id]
                    if w is not last:  # a step's VMs mostly share one window object
                        key = (d.duration, w.lo, w.hi)
                        found = fits.get(key)
                        if found is None:
                            found = fits[key] = spans.earliest(0, d.duration, w.lo, w.hi) is not None
                        last, fit = w, found
                        if w.lo > lo:  # comparisons rather than max(): once per step
                            lo = w.lo
                        if w.hi < hi:
                            hi = w.hi
                    if blocked or not fit:
                        out.add(vm.id)
                        stops = True
                blocked = stops
                if bounds is not None:
                    bounds[d.seq] = (lo, hi)
    return out


def proof(
    outcome: Outcome,
    tiers: Sequence[TierInput],
    spans: Spans,
    windows: dict[str, VMWindow],
    solved: Solved | None = None,
    budget: float = 0.0,
    lost: set[str] | None = None,
    method: str = "greedy",
    limit: int | None = None,
) -> Evidence:
    """The lower bound of ``outcome``'s makespan and what is proven about it."""
    plain, bound = window_bound(outcome.tiers, spans, windows)
    basis = "critical path inside the windows" if bound > plain else "critical path"
    load, what = load_bound(outcome.tiers, limit)
    if load > bound:
        bound, basis = load, what
    lost = hopeless(tiers, spans, windows) if lost is None else lost
    covered = set(outcome.unplaced) <= lost
    if solved is not None and outcome.covered() >= solved.need:  # what it proved holds here
        covered = covered or solved.coverage_proven
        if solved.bound is not None and solved.bound > bound:
            bound, basis = solved.bound, "solver"
    makespan = outcome.makespan()
    status = "optimal" if covered and bound == makespan else "bounded" if covered else "coverage unproven"
    return Evidence(bound, Optimality(status, basis, method, budget))


def link(tiers: Sequence[TierInput]) -> None:
    """Set each planned draft's ``after``: the step before it in its group; for a group's first step,
    the step that ends last in each tier it depends on (through tiers with nothing planned, theirs)."""
    passes: dict[str, tuple[str, ...]] = {}
    for t in tiers:  # dependency order
        deps = t.depends_on
        waits = passes[deps[0]] if len(deps) == 1 else tuple(sorted({s for d in deps for s in passes[d]}))
        last: Draft | None = None
        last_end = 0
        for chain in t.chains:
            before = waits
            for d in chain:
                if d.start is None or not d.vms:
                    break
                d.after = before
                before = (d.id,)
                end = d.start + d.duration  # Draft.end without the property's call: every step
                if last is None or end > last_end or (end == last_end and d.id < last.id):
                    last, last_end = d, end
        passes[t.name] = (last.id,) if last is not None else waits


def relaxed_dependencies(tiers: Sequence[TierInput], missing: dict[str, int]) -> tuple[Relaxed, ...]:
    """Each dependency a planned tier no longer waits for in full: tier A (``depends_on``) has
    ``missing[A]`` unschedulable VMs, and tier B, which depends on it directly or through tiers with
    nothing planned, has planned steps."""
    planned = {t.name for t in tiers if any(d.start is not None and d.vms for c in t.chains for d in c)}
    deps = {t.name: t.depends_on for t in tiers}
    out: list[Relaxed] = []
    for t in tiers:
        if t.name not in planned:
            continue
        seen: set[str] = set()
        todo = list(t.depends_on)
        while todo:
            dep = todo.pop()
            if dep in seen:
                continue
            seen.add(dep)
            if missing.get(dep):
                out.append(Relaxed(t.name, dep, missing[dep]))
            if dep not in planned:
                todo += deps[dep]
    return tuple(sorted(out, key=lambda r: (r.tier, r.depends_on)))
