"""The list scheduler: gives every step a start time obeying R3-R7 of DESIGN §6.

An event simulation over whole seconds after the plan start. A step becomes *ready* when the step
before it in its group has ended plus the gap (R3), or, for a group's first step, when every tier its
tier depends on has finished plus that tier's recovery gap (R4). From then it waits until the
operator window and its VMs' self-service windows let it run to its end (minus the cutoff) (R7), and
until its tier's capacity (R5) and the rollout's parallelism (R6) have room.

Priority (``order``): "path" ranks the step with the longest remaining path to the end of the
rollout first, then the earliest self-service deadline, then the first by id; "deadline" ranks the
step whose group must start soonest to meet its VMs' deadlines first (earliest-deadline-first, for
when deadlines bind). With ``look_ahead`` a step that would take the last room of its tier or of
the rollout is held back when a higher-priority step becomes ready before it would end and would
then find no room: the greedy does not fill the only slot with a short step one minute before the
critical chain's next step is ready (priority inversion).

Allowed time is a sorted list of spans (the operator window, the cutoff taken off each span's end);
a step's earliest fit is one bisect. Steps wait in heaps, so the work grows as n log n, and tiers
are finished through a work list (no recursion, whatever the length of a tier chain).

When a step cannot fit before the deadline of some of its VMs, those VMs are dropped from it (and go
to ``unplaced``); the group's walk stops after that step (its later steps are unplaced too), so no
later domain is maintained before one that Azure will do later in its own walk. A tier with
unplaced VMs does not hold back the tiers that depend on it: they wait for its planned steps (R4
holds among the steps that remain), and the caller reports the dependency as relaxed.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from planner.fleet import VM
from planner.grouping import Draft

# how many steps too large for a tier's remaining capacity are passed over at one instant before
# the scheduler stops looking further down that tier's queue (bounds the work; never breaks R5)
_SCAN_LIMIT = 64
# how many waiting or running steps one look-ahead check visits at most (bounds the work)
_LOOK_LIMIT = 128
_FAR = 1 << 62


@dataclass
class TierInput:
    name: str
    depends_on: tuple[str, ...]
    capacity: int
    gap: int
    chains: list[list[Draft]]


def fresh(tiers: Sequence[TierInput]) -> list[TierInput]:
    """Copies of ``tiers`` with new, untimed drafts (each scheduling run changes its drafts)."""
    out = []
    for t in tiers:
        chains = []
        for chain in t.chains:
            copies = [
                Draft(d.id, d.tier, d.group, d.domain, list(d.vms), d.duration, d.gap, seq=d.seq)
                for d in chain
            ]
            for before, after in pairwise(copies):
                before.next = after
            chains.append(copies)
        out.append(TierInput(t.name, t.depends_on, t.capacity, t.gap, chains))
    return out


@dataclass(frozen=True)
class VMWindow:
    """A VM's self-service window as offsets: start no earlier than ``lo``, end no later than ``hi``
    (the self-service end minus the cutoff)."""

    lo: int
    hi: int


class Spans:
    """Allowed time (offsets), with each span's end already reduced by the cutoff."""

    def __init__(self, spans: Sequence[tuple[int, int]]):
        self.spans = [(a, b) for a, b in spans if b > a]
        self._by_duration: dict[int, tuple[list[int], list[int]]] = {}

    def _for(self, duration: int) -> tuple[list[int], list[int]]:
        found = self._by_duration.get(duration)
        if found is None:
            # only spans long enough for the step: the first one that ends late enough then fits
            long_enough = [(a, b) for a, b in self.spans if b - a >= duration]
            found = ([a for a, _ in long_enough], [b for _, b in long_enough])
            self._by_duration[duration] = found
        return found

    def earliest(self, ready: int, duration: int, lo: int, hi: int) -> int | None:
        """The earliest start >= max(ready, lo) of a run of ``duration`` inside one span, ending by hi."""
        # comparisons rather than max(): this runs a few times per step of a 100,000-VM plan
        s0 = ready if ready > lo else lo
        if s0 + duration > hi:
            return None
        found = self._by_duration.get(duration)
        starts, ends = found if found is not None else self._for(duration)
        i = bisect_left(ends, s0 + duration)
        if i == len(starts):
            return None
        s = starts[i] if starts[i] > s0 else s0
        return s if s + duration <= hi else None

    def starts(self, duration: int) -> list[tuple[int, int]]:
        """Every allowed start of a run of ``duration``, as closed ranges."""
        starts, ends = self._for(duration)
        return [(a, b - duration) for a, b in zip(starts, ends, strict=True)]


class Scheduler:
    """One scheduling run: ``run`` fills each draft's ``start`` and records in ``unplaced`` the VMs
    that could not be placed, with the kind of reason (the caller words it): "deadline" or
    "window" (no time left before the self-service end, because of the deadline itself or of the
    operator window), "apart" (its step's VMs have no common time) or "group" (an earlier step of
    its group could not be placed)."""

    def __init__(
        self,
        tiers: Sequence[TierInput],
        spans: Spans,
        windows: dict[str, VMWindow],
        tails: dict[str, int],
        max_parallel: int | None,
        *,
        order: str = "path",
        look_ahead: bool = True,
        bounds: dict[int, tuple[int, int]] | None = None,
    ):
        self.tiers = {t.name: t for t in tiers}
        self.order = [t.name for t in tiers]  # dependency order
        self.spans = spans
        self.windows = windows
        self.max_parallel = max_parallel
        self.look_ahead = look_ahead
        self.dependents: dict[str, list[str]] = {t: [] for t in self.order}
        for t in tiers:
            for dep in t.depends_on:
                self.dependents[dep].append(t.name)
        self.waiting_on = {t.name: len(t.depends_on) for t in tiers}
        self.remaining = {t.name: sum(len(c) for c in t.chains) for t in tiers}
        self.finished_at: dict[str, int] = {}  # when dependents of the tier may start
        self.last_end: dict[str, int] = {}  # end plus gap of the tier's latest step so far
        self.to_finish: deque[str] = deque()  # tiers whose every step is placed or dropped
        self.ready_at: dict[str, int] = {}
        self.usage = dict.fromkeys(self.order, 0)
        self.capacities = {t.name: t.capacity for t in tiers}
        self.running: list[tuple[int, int, str, int]] = []
        # Queues hold plain ints, which heaps compare fastest: a draft's rank is its place in the
        # priority order, fixed up front; `pending` holds start * len(drafts) + rank, `available`
        # (per tier) ranks.
        drafts = [d for t in tiers for c in t.chains for d in c]
        for d in drafts:  # ``bounds``: what _bounds gives, by seq, from planner.bounds.hopeless
            d.lo, d.hi = self._bounds(d.vms) if bounds is None else bounds[d.seq]
        if order == "deadline":
            latest = _latest_starts(tiers)
            self.by_rank = sorted(drafts, key=lambda d: (latest[id(d)], -tails[d.id], d.seq))
        else:
            self.by_rank = sorted(drafts, key=lambda d: (-tails[d.id], d.hi, d.seq))
        self.rank = {id(d): r for r, d in enumerate(self.by_rank)}
        self.longest = max((d.duration for d in drafts), default=0)
        self._soon: list[tuple[int, int]] | None = None  # look-ahead: (rank, ready) by rank
        self._memo: dict[tuple[int, str | None], int] = {}  # look-ahead: running at an instant
        self.radix = max(1, len(drafts))
        self.pending: list[int] = []
        self.available: dict[str, list[int]] = {t: [] for t in self.order}
        # vm id -> (kind, draft that decided it, blocking step)
        self.unplaced: dict[str, tuple[str, Draft, str]] = {}

    # --- bounds of a draft ------------------------------------------------------------------------

    def _bounds(self, vms: Sequence[VM]) -> tuple[int, int]:
        lo, hi = -_FAR, _FAR
        windows = self.windows
        for vm in vms:
            w = windows[vm.id]
            if w.lo > lo:
                lo = w.lo
            if w.hi < hi:
                hi = w.hi
        return lo, hi

    # --- placing ----------------------------------------------------------------------------------

    def _place(self, draft: Draft, ready: int) -> None:
        """Queue ``draft`` at its earliest fit from ``ready``, dropping VMs that can no longer fit."""
        start = self.spans.earliest(ready, draft.duration, draft.lo, draft.hi)
        if start is None:
            late: list[VM] = []
            keep: list[VM] = []
            for vm in draft.vms:  # one pass (a step may hold thousands of VMs)
                (late if self._alone(vm.id, ready, draft.duration) is None else keep).append(vm)
            for vm in late:
                w = self.windows[vm.id]
                # the self-service window alone would leave room: the operator window is what binds
                kind = "window" if max(ready, w.lo) + draft.duration <= w.hi else "deadline"
                self.unplaced[vm.id] = (kind, draft, "")
            if keep:
                draft.lo, draft.hi = self._bounds(keep)
                start = self.spans.earliest(ready, draft.duration, draft.lo, draft.hi)
                if start is None:
                    for vm in keep:
                        self.unplaced[vm.id] = ("apart", draft, "")
                    keep = []
            draft.vms = keep
            draft.truncated = True
            if not keep:
                self.remaining[draft.tier] -= 1
                self._block_rest(draft)
                self._tier_progress(draft.tier)
                return
        assert start is not None
        heapq.heappush(self.pending, start * self.radix + self.rank[id(draft)])

    def _alone(self, vm: str, ready: int, duration: int) -> int | None:
        """When the VM could start if it were alone in its step."""
        window = self.windows[vm]
        return self.spans.earliest(ready, duration, window.lo, window.hi)

    def _block_rest(self, draft: Draft) -> None:
        later = draft.next
        while later is not None:
            for vm in later.vms:
                self.unplaced[vm.id] = ("group", later, draft.id)
            later.vms = []
            self.remaining[later.tier] -= 1
            later = later.next

    # --- tiers ------------------------------------------------------------------------------------

    def _tier_progress(self, tier: str) -> None:
        if self.remaining[tier] == 0 and tier not in self.finished_at:
            self.finished_at[tier] = -1  # queued: finished in _settle, without recursion
            self.to_finish.append(tier)

    def _settle(self) -> None:
        """Finish the queued tiers and release their dependents, until nothing more follows."""
        while self.to_finish:
            tier = self.to_finish.popleft()
            # R4 waits for the tier's last step plus its gap; a tier where nothing ran passes on
            # what it waited for
            self.finished_at[tier] = self.last_end.get(tier, self.ready_at.get(tier, 0))
            for dependent in self.dependents[tier]:
                self.waiting_on[dependent] -= 1
                if self.waiting_on[dependent] == 0:
                    self._release(dependent)

    def _release(self, tier: str) -> None:
        """Every tier ``tier`` depends on has finished: queue its groups' first steps."""
        info = self.tiers[tier]
        ready = max((self.finished_at[d] for d in info.depends_on), default=0)
        self.ready_at[tier] = ready
        for chain in info.chains:
            self._place(chain[0], ready)
        self._tier_progress(tier)

    # --- the simulation ---------------------------------------------------------------------------

    def _start(self, draft: Draft, now: int) -> None:
        if self._memo:  # a new empty map only when the look-ahead filled it (60,000 starts)
            self._memo = {}
        draft.start = now
        end = now + draft.duration
        size = len(draft.vms)
        tier = draft.tier
        self.usage[tier] += size
        heapq.heappush(self.running, (end, draft.seq, tier, size))
        self.remaining[tier] -= 1
        freed = end + draft.gap
        if freed > self.last_end.get(tier, 0):
            self.last_end[tier] = freed
        nxt = draft.next
        if nxt is not None:
            if draft.truncated:
                self._block_rest(draft)
            else:
                self._place(nxt, freed)
        if self.remaining[tier] == 0:  # the check _tier_progress makes, inline: 60,000 steps
            self._tier_progress(tier)

    def _start_available(self, now: int) -> None:
        self._soon, self._memo = None, {}
        fits: dict[tuple[int, int, int], int | None] = {}  # many waiting steps share their windows
        limit = self.max_parallel
        if limit is not None and len(self.running) >= limit:
            return
        deferred: dict[str, list[int]] = {}
        # locals: this loop runs for every waiting step at every instant, and when the operator
        # window closes it moves each of them to `pending` (50,000 times for 100,000 VMs)
        available, usage, capacities, by_rank = self.available, self.usage, self.capacities, self.by_rank
        pending, radix, earliest = self.pending, self.radix, self.spans.earliest
        live = [t for t in self.order if available[t] and usage[t] < capacities[t]]
        while live:
            # the tier whose waiting step ranks first (a loop: min's key would be a call per tier)
            tier = live[0]
            if len(live) > 1:
                for other in live[1:]:
                    if available[other][0] < available[tier][0]:
                        tier = other
            queue = available[tier]
            rank = heapq.heappop(queue)
            draft = by_rank[rank]
            capacity = capacities[tier]
            key = (draft.duration, draft.lo, draft.hi)
            fit = fits.get(key, -1)  # -1: not known yet (a fit is never before now)
            if fit == -1:
                fit = fits[key] = earliest(now, *key)
            if fit is not None and fit != now:  # the window closed while it waited: next opening
                heapq.heappush(pending, fit * radix + rank)  # what _place would do
            elif fit is None:
                self._place(draft, now)  # drops the VMs that no longer fit
            elif (taken := usage[tier] + len(draft.vms)) > capacity or (
                # _inverts' own first test, without its call when the step leaves room (most do)
                self.look_ahead
                and (taken + 1 > capacity or (limit is not None and len(self.running) + 2 > limit))
                and self._inverts(draft, rank, now)
            ):
                held = deferred.setdefault(tier, [])
                held.append(rank)
                if len(held) >= _SCAN_LIMIT:
                    live.remove(tier)
                    continue
            else:
                self._start(draft, now)
                if self.to_finish:  # _settle's own test, without its call at each start
                    self._settle()
                if limit is not None and len(self.running) >= limit:
                    break
            if not queue or usage[tier] >= capacity:
                live.remove(tier)
        for tier, held in deferred.items():
            for item in held:
                heapq.heappush(available[tier], item)

    def run(self) -> None:
        for tier in self.order:
            if not self.tiers[tier].depends_on:
                self._release(tier)
        self._settle()
        now = 0
        # locals (the lists are never replaced): a step passes here once or twice per night
        pending, available, radix = self.pending, self.available, self.radix
        tier_of = [d.tier for d in self.by_rank]
        while True:
            while self.running and self.running[0][0] <= now:
                _, _, tier, size = heapq.heappop(self.running)
                self.usage[tier] -= size
            limit = (now + 1) * radix
            while pending and pending[0] < limit:
                rank = heapq.heappop(pending) % radix
                heapq.heappush(available[tier_of[rank]], rank)
            self._start_available(now)
            self._settle()
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

    # --- look-ahead -------------------------------------------------------------------------------

    def _inverts(self, draft: Draft, rank: int, now: int) -> bool:
        """Starting ``draft`` now would take room that a higher-priority step, ready before
        ``draft`` ends, then needs: a priority inversion, so ``draft`` waits."""
        tier, size = draft.tier, len(draft.vms)
        limit = self.max_parallel
        tight6 = limit is not None and len(self.running) + 2 > limit
        tight5 = self.usage[tier] + size + 1 > self.tiers[tier].capacity
        if not (tight5 or tight6):
            return False
        if self._soon is None:  # the steps becoming ready soon, by priority (once per instant)
            reach = (now + self.longest) * self.radix
            self._soon = sorted((k % self.radix, k // self.radix) for k in _below(self.pending, reach))
        ends = now + draft.duration
        for other, at in self._soon:
            if other >= rank:
                break
            if at >= ends:
                continue
            rival = self.by_rank[other]
            if tight6 and self._running_at(at, None) + 2 > limit:  # type: ignore[operator]
                return True
            if rival.tier == tier and tight5:
                room = self.tiers[tier].capacity - self._running_at(at, tier)
                if size + len(rival.vms) > room:
                    return True
        return False

    def _running_at(self, at: int, tier: str | None) -> int:
        """Steps (``tier`` None) or VMs of ``tier`` still running at ``at`` (those now running
        minus those ending by then)."""
        found = self._memo.get((at, tier))
        if found is not None:
            return found
        ending = 0
        for _, _, t, size in _below_items(self.running, at):
            if tier is None:
                ending += 1
            elif t == tier:
                ending += size
        found = len(self.running) - ending if tier is None else self.usage[tier] - ending
        self._memo[(at, tier)] = found
        return found


def _below(heap: list[int], bound: int) -> list[int]:
    """Up to _LOOK_LIMIT entries of ``heap`` smaller than ``bound`` (a walk of the heap's top)."""
    out: list[int] = []
    stack = [0]
    while stack and len(out) < _LOOK_LIMIT:
        i = stack.pop()
        if i < len(heap) and heap[i] < bound:
            out.append(heap[i])
            stack += (2 * i + 1, 2 * i + 2)
    return out


def _below_items(heap: list[tuple[int, int, str, int]], at: int) -> list[tuple[int, int, str, int]]:
    """Up to _LOOK_LIMIT entries of the running heap that end by ``at``."""
    out: list[tuple[int, int, str, int]] = []
    stack = [0]
    while stack and len(out) < _LOOK_LIMIT:
        i = stack.pop()
        if i < len(heap) and heap[i][0] <= at:
            out.append(heap[i])
            stack += (2 * i + 1, 2 * i + 2)
    return out


def _latest_starts(tiers: Sequence[TierInput]) -> dict[int, int]:
    """id(draft) -> the latest start that still lets it and the rest of its group meet their
    VMs' deadlines (earliest-deadline-first ranks by this)."""
    latest: dict[int, int] = {}
    for t in tiers:
        for chain in t.chains:
            after = _FAR
            for d in reversed(chain):
                after = min(d.hi - d.duration, after - d.gap - d.duration)
                latest[id(d)] = after
    return latest
