"""The list scheduler: gives every step a start time obeying R3-R7 of DESIGN §6.

An event simulation over whole seconds after the plan start. A step becomes *ready* when the step
before it in its group has ended plus the gap (R3), or, for a group's first step, when every tier its
tier depends on has finished plus that tier's recovery gap (R4). From then it waits until the
operator window and its VMs' self-service windows let it run to its end (minus the cutoff) (R7), and
until its tier's capacity (R5) and the rollout's parallelism (R6) have room. Among steps that could
start at the same instant the one with the longest remaining path to the end of the rollout goes
first, then the one with the earliest self-service deadline, then the first by id.

Allowed time is a sorted list of spans (the operator window, the cutoff taken off each span's end);
a step's earliest fit is one bisect. Steps wait in heaps, so the work grows as n log n.

When a step cannot fit before the deadline of some of its VMs, those VMs are dropped from it (and go
to ``unschedulable``); the group's walk stops after that step (its later steps are unschedulable
too), so no later domain is maintained before one that Azure will do later in its own walk; and every
tier that depends on a tier with unschedulable VMs is unschedulable as a whole, so no dependent runs
before its dependency is done. R3 and R4 hold among the steps that remain.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from planner.grouping import Draft

# how many steps too large for a tier's remaining capacity are passed over at one instant before
# the scheduler stops looking further down that tier's queue (bounds the work; never breaks R5)
_SCAN_LIMIT = 64


@dataclass
class TierInput:
    name: str
    depends_on: tuple[str, ...]
    capacity: int
    gap: int
    chains: list[list[Draft]]
    incomplete: bool  # some of its VMs are unschedulable before scheduling starts


@dataclass(frozen=True)
class VMWindow:
    """A VM's self-service window as offsets: start no earlier than ``lo``, end no later than ``hi``
    (the self-service end minus the cutoff)."""

    lo: int
    hi: int


class Spans:
    """Allowed time (offsets), with each span's end already reduced by the cutoff."""

    def __init__(self, spans: Sequence[tuple[int, int]]):
        self._spans = [(a, b) for a, b in spans if b > a]
        self._by_duration: dict[int, tuple[list[int], list[int]]] = {}

    def _for(self, duration: int) -> tuple[list[int], list[int]]:
        found = self._by_duration.get(duration)
        if found is None:
            # only spans long enough for the step: the first one that ends late enough then fits
            long_enough = [(a, b) for a, b in self._spans if b - a >= duration]
            found = ([a for a, _ in long_enough], [b for _, b in long_enough])
            self._by_duration[duration] = found
        return found

    def earliest(self, ready: int, duration: int, lo: int, hi: int) -> int | None:
        """The earliest start >= max(ready, lo) of a run of ``duration`` inside one span, ending by hi."""
        s0 = max(ready, lo)
        if s0 + duration > hi:
            return None
        starts, ends = self._for(duration)
        i = bisect_left(ends, s0 + duration)
        if i == len(starts):
            return None
        s = max(s0, starts[i])
        return s if s + duration <= hi else None


class Scheduler:
    """One scheduling run: ``run`` fills each draft's ``start`` and ``after`` and records in
    ``unplaced`` the VMs that could not be placed, with the kind of reason (the caller words it):
    "deadline" or "window" (no time left before the self-service end, because of the deadline
    itself or of the operator window), "apart" (its step's VMs have no common time), "group"
    (an earlier step of its group could not be placed) or "tier" (a tier it depends on is
    incomplete)."""

    def __init__(
        self,
        tiers: Sequence[TierInput],
        spans: Spans,
        windows: dict[str, VMWindow],
        tails: dict[str, int],
        max_parallel: int | None,
    ):
        self.tiers = {t.name: t for t in tiers}
        self.order = [t.name for t in tiers]  # dependency order
        self.spans = spans
        self.windows = windows
        self.tails = tails
        self.max_parallel = max_parallel
        self.dependents: dict[str, list[str]] = {t: [] for t in self.order}
        for t in tiers:
            for dep in t.depends_on:
                self.dependents[dep].append(t.name)
        self.waiting_on = {t.name: len(t.depends_on) for t in tiers}
        self.remaining = {t.name: sum(len(c) for c in t.chains) for t in tiers}
        self.incomplete = {t.name: t.incomplete for t in tiers}
        self.finished_at: dict[str, int] = {}  # when dependents of the tier may start
        self.passes_after: dict[str, tuple[str, ...]] = {}  # what dependents' first steps wait for
        self.last_steps: dict[str, list[str]] = {t: [] for t in self.order}  # of each group
        self.ready_at: dict[str, int] = {}
        self.usage = dict.fromkeys(self.order, 0)
        self.running: list[tuple[int, int, str, int]] = []
        # Queues hold plain ints, which heaps compare fastest: a draft's rank is its place in the
        # priority order (longest remaining path, earliest deadline, id), fixed up front;
        # `pending` holds start * len(drafts) + rank, `available` (per tier) ranks.
        drafts = [d for t in tiers for c in t.chains for d in c]
        for d in drafts:
            d.lo, d.hi = self._bounds([vm.id for vm in d.vms])
        self.by_rank = sorted(drafts, key=lambda d: (-tails[d.id], d.hi, d.seq))
        self.rank = {id(d): r for r, d in enumerate(self.by_rank)}
        self.radix = max(1, len(drafts))
        self.pending: list[int] = []
        self.available: dict[str, list[int]] = {t: [] for t in self.order}
        # vm id -> (kind, draft that decided it, blocking tier or step)
        self.unplaced: dict[str, tuple[str, Draft, str]] = {}

    # --- bounds of a draft ------------------------------------------------------------------------

    def _bounds(self, vms: Sequence[str]) -> tuple[int, int]:
        lo, hi = -(1 << 62), 1 << 62
        for vm in vms:
            w = self.windows[vm]
            lo, hi = max(lo, w.lo), min(hi, w.hi)
        return lo, hi

    # --- placing ----------------------------------------------------------------------------------

    def _place(self, draft: Draft, ready: int) -> None:
        """Queue ``draft`` at its earliest fit from ``ready``, dropping VMs that can no longer fit."""
        start = self.spans.earliest(ready, draft.duration, draft.lo, draft.hi)
        if start is None:
            late = [vm for vm in draft.vms if self._alone(vm.id, ready, draft.duration) is None]
            keep = [vm for vm in draft.vms if vm not in late]
            for vm in late:
                w = self.windows[vm.id]
                # the self-service window alone would leave room: the operator window is what binds
                kind = "window" if max(ready, w.lo) + draft.duration <= w.hi else "deadline"
                self.unplaced[vm.id] = (kind, draft, "")
            if keep:
                draft.lo, draft.hi = self._bounds([vm.id for vm in keep])
                start = self.spans.earliest(ready, draft.duration, draft.lo, draft.hi)
                if start is None:
                    for vm in keep:
                        self.unplaced[vm.id] = ("apart", draft, "")
                    keep = []
            draft.vms = keep
            draft.truncated = True
            self.incomplete[draft.tier] = True
            if not keep:
                self._resolve_unplaced(draft)
                return
        assert start is not None
        heapq.heappush(self.pending, start * self.radix + self.rank[id(draft)])

    def _alone(self, vm: str, ready: int, duration: int) -> int | None:
        """When the VM could start if it were alone in its step."""
        window = self.windows[vm]
        return self.spans.earliest(ready, duration, window.lo, window.hi)

    def _resolve_unplaced(self, draft: Draft) -> None:
        """A draft with no VM left: it and the rest of its group are done without a time."""
        self.remaining[draft.tier] -= 1
        self._block_rest(draft)
        self._tier_progress(draft.tier)

    def _block_rest(self, draft: Draft) -> None:
        later = draft.next
        while later is not None:
            for vm in later.vms:
                self.unplaced[vm.id] = ("group", later, draft.id)
            later.vms = []
            self.remaining[later.tier] -= 1
            later = later.next

    def _tier_progress(self, tier: str) -> None:
        if self.remaining[tier] == 0 and tier not in self.finished_at:
            self._finish_tier(tier)

    def _finish_tier(self, tier: str) -> None:
        info = self.tiers[tier]
        if self.last_steps[tier]:
            # R4 waits for "A's last step": the step that ends last (ties: the first by id) is
            # what a dependent's first step names in `after`, which keeps `after` short even when
            # thousands of groups make up a tier
            last = min(
                (d for c in info.chains for d in c if d.start is not None), key=lambda d: (-d.end, d.id)
            )
            self.finished_at[tier] = last.end + info.gap
            self.passes_after[tier] = (last.id,)
        else:  # nothing ran: dependents wait for what this tier waited for
            self.finished_at[tier] = self.ready_at.get(tier, 0)
            self.passes_after[tier] = self._after_of(tier)
        for dependent in self.dependents[tier]:
            self.waiting_on[dependent] -= 1
            if self.waiting_on[dependent] == 0:
                self._release(dependent)

    def _after_of(self, tier: str) -> tuple[str, ...]:
        deps = self.tiers[tier].depends_on
        if len(deps) == 1:
            return self.passes_after[deps[0]]
        return tuple(sorted({s for d in deps for s in self.passes_after[d]}))

    def _release(self, tier: str) -> None:
        """Every tier ``tier`` depends on has finished: queue its groups' first steps."""
        info = self.tiers[tier]
        blocking = next((d for d in info.depends_on if self.incomplete[d]), None)
        ready = max((self.finished_at[d] for d in info.depends_on), default=0)
        self.ready_at[tier] = ready
        if blocking is not None:
            self.incomplete[tier] = True
            for chain in info.chains:
                for draft in chain:
                    for vm in draft.vms:
                        self.unplaced[vm.id] = ("tier", draft, blocking)
                    draft.vms = []
            self.remaining[tier] = 0
            self._finish_tier_blocked(tier)
            return
        after = self._after_of(tier)
        for chain in info.chains:
            chain[0].after = after
            self._place(chain[0], ready)
        self._tier_progress(tier)

    def _finish_tier_blocked(self, tier: str) -> None:
        self.finished_at[tier] = self.ready_at[tier]
        self.passes_after[tier] = ()
        for dependent in self.dependents[tier]:
            self.waiting_on[dependent] -= 1
            if self.waiting_on[dependent] == 0:
                self._release(dependent)

    # --- the simulation ---------------------------------------------------------------------------

    def _start(self, draft: Draft, now: int) -> None:
        draft.start = now
        size = len(draft.vms)
        self.usage[draft.tier] += size
        heapq.heappush(self.running, (draft.end, draft.seq, draft.tier, size))
        self.remaining[draft.tier] -= 1
        nxt = draft.next
        if nxt is None or draft.truncated:
            self.last_steps[draft.tier].append(draft.id)
        if nxt is not None:
            if draft.truncated:
                self._block_rest(draft)
            else:
                nxt.after = (draft.id,)
                self._place(nxt, draft.end + draft.gap)
        self._tier_progress(draft.tier)

    def _start_available(self, now: int) -> None:
        limit = self.max_parallel
        if limit is not None and len(self.running) >= limit:
            return
        deferred: dict[str, list[int]] = {}
        live = [t for t in self.order if self.available[t] and self.usage[t] < self.tiers[t].capacity]
        available = self.available
        while live:
            tier = min(live, key=lambda t: available[t][0]) if len(live) > 1 else live[0]
            queue = available[tier]
            rank = heapq.heappop(queue)
            draft = self.by_rank[rank]
            capacity = self.tiers[tier].capacity
            if self.spans.earliest(now, draft.duration, draft.lo, draft.hi) != now:
                self._place(draft, now)  # the window closed while it waited: next opening
            elif self.usage[tier] + len(draft.vms) > capacity:
                held = deferred.setdefault(tier, [])
                held.append(rank)
                if len(held) >= _SCAN_LIMIT:
                    live.remove(tier)
                    continue
            else:
                self._start(draft, now)
                if limit is not None and len(self.running) >= limit:
                    break
            if not queue or self.usage[tier] >= capacity:
                live.remove(tier)
        for tier, held in deferred.items():
            for item in held:
                heapq.heappush(self.available[tier], item)

    def run(self) -> None:
        for tier in self.order:
            if not self.tiers[tier].depends_on:
                self._release(tier)
        now = 0
        while True:
            while self.running and self.running[0][0] <= now:
                _, _, tier, size = heapq.heappop(self.running)
                self.usage[tier] -= size
            limit = (now + 1) * self.radix
            while self.pending and self.pending[0] < limit:
                rank = heapq.heappop(self.pending) % self.radix
                heapq.heappush(self.available[self.by_rank[rank].tier], rank)
            self._start_available(now)
            nxt = [
                q
                for q in (
                    self.pending[0] // self.radix if self.pending else None,
                    self.running[0][0] if self.running else None,
                )
                if q is not None
            ]
            if not nxt:
                break
            now = min(nxt)
        leftover = [self.by_rank[r].id for q in self.available.values() for r in q]
        assert not leftover, f"steps left waiting: {leftover}"
