"""The live guard (DESIGN §11 "Others act on Azure too"): before a step starts and before each trigger,
the live state of the *other* domains of the step's group is read; if any of them is under maintenance,
or was maintained by someone else less than the group's recovery gap ago, the step waits.

Whoever else acts on the group — another udroll on another journal, a PowerShell loop, the portal,
Azure's own scheduled walk — shows in Azure's status, so this holds without any shared lock. Our own
VMs are left out: the run's scheduling already keeps their domains apart and their gaps.

Azure documents no "maintained at" time for a VM: the guard takes the first read that showed someone
else's maintenance done and waits a full gap from there (conservative: wait rather than trigger).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from executor.run.backend import VMStatus
from planner.fleet import VM
from planner.grouping import group_and_domain
from planner.plan import Step
from planner.timefmt import human_time

# journal VM states that mean this run itself has touched the VM (its gap is the scheduler's business)
OURS = ("intent", "triggered", "retry", "completed", "gating", "healthy", "failed")


def touched(state: str, attempts: int) -> bool:
    """Whether a journalled VM was (or may have been) triggered by this run."""
    return bool(attempts) or state in OURS


@dataclass(frozen=True)
class Hold:
    """Why a step must not touch its group yet, and when to look again."""

    reason: str
    until: dt.datetime


def in_progress(s: VMStatus) -> bool:
    """Azure shows maintenance under way: the VM is off its feet, or no longer accepts a trigger."""
    if s.power_state not in ("running", "deallocated"):  # a maintained VM walks stopping/stopped/starting
        return True
    m = s.maintenance
    return bool(m and not m.customer_initiated_allowed and m.last_result == "None")


class GroupGuard:
    """Remembers what it saw of each group's VMs and says whether a step of the group may act now."""

    def __init__(
        self,
        by_tier: Mapping[str, Sequence[VM]],
        fleet: Mapping[str, VM],
        captured_at: dt.datetime,
        recheck_s: float,
    ):
        """``by_tier``: every VM each tier selects, planned or not (a VM someone else maintained
        before the run was planned is in no step, but it is still a domain of its group)."""
        self.recheck = dt.timedelta(seconds=recheck_s)
        self.zone: dt.tzinfo = dt.timezone.utc  # the zone its messages write times in
        # each VM's maintenance as planned: a change since is someone else's doing
        self.planned = {vm.lower(): f.maintenance for vm, f in fleet.items() if f.maintenance}
        self.captured_at = captured_at
        self.domain_of: dict[str, tuple[str, str]] = {}  # vm -> (group, domain label)
        self.members: dict[str, list[str]] = {}  # group (lower case) -> its VMs
        for tier, vms in by_tier.items():
            for vm in vms:
                found = group_and_domain(tier, vm)
                if found is not None:
                    self.domain_of[vm.id] = found
                    self.members.setdefault(found[0].lower(), []).append(vm.id)
        # keyed by lower-case id: when each VM was last seen under way, and first seen done
        self.busy_seen: dict[str, dt.datetime] = {}
        self.done_seen: dict[str, dt.datetime] = {}
        self.seen: dict[str, tuple[dt.datetime, VMStatus]] = {}  # every status read of the run, reused

    def observe(self, status: VMStatus, at: dt.datetime) -> None:
        """Remember a status the runner read anyway (a guard check then needs no read of its own), and
        when the VM was last seen under maintenance or first seen done."""
        if not status.known:  # no instance view: nothing to judge by (read again next time)
            return
        vm = status.vm.lower()  # Azure may spell an id in another case
        if vm in self.seen and self.seen[vm][0] > at:
            return  # a sweep begun before a newer read ended after it: the newer read stands
        self.seen[vm] = (at, status)
        if self._busy(vm, status):
            self.busy_seen[vm] = at
            self.done_seen.pop(vm, None)
        elif self._acted(vm, status) or vm in self.busy_seen:
            self.done_seen.setdefault(vm, self._earliest_end(vm, at))

    def stale(self, vms: list[str], now: dt.datetime, max_age_s: float | None = None) -> list[str]:
        """Which of ``vms`` were not read within ``max_age_s`` (default: the recheck interval)."""
        age = self.recheck if max_age_s is None else dt.timedelta(seconds=max_age_s)
        return [vm for vm in vms if vm.lower() not in self.seen or now - self.seen[vm.lower()][0] > age]

    def to_read(self, vms: list[str], step: Step, now: dt.datetime) -> list[str]:
        """The VMs of ``vms`` whose state can still hold ``step``: not those last seen done by someone
        else a full gap ago (a maintenance that completed does not run again; a hold from them is over)."""
        gap = dt.timedelta(seconds=step.gap_after_s)
        out = []
        for vm in vms:
            key = vm.lower()
            done_at = self.done_seen.get(key)
            last = self.seen.get(key)
            settled = (
                done_at is not None
                and now >= done_at + gap
                and last is not None
                and not self._busy(key, last[1])
                and self._acted(key, last[1])
            )
            if not settled:
                out.append(vm)
        return out

    def recent(self, vms: list[str], now: dt.datetime, max_age_s: float) -> dict[str, VMStatus]:
        """Statuses of ``vms`` read at most ``max_age_s`` ago, keyed by lower-case id."""
        age = dt.timedelta(seconds=max_age_s)
        found = (self.seen.get(vm.lower()) for vm in vms)
        return {entry[1].vm.lower(): entry[1] for entry in found if entry and now - entry[0] <= age}

    def others(self, step: Step) -> list[str]:
        """The group's VMs in other domains than the step's."""
        mine = set(step.vms)
        return [vm for vm in self.members.get(step.group.lower(), []) if vm not in mine]

    def hold(
        self, step: Step, ours: AbstractSet[str], names: Mapping[str, str], now: dt.datetime
    ) -> Hold | None:
        """A reason to wait, or None when no other domain of the group is (or was just) maintained by
        someone else — judged from the last read of each VM (the caller keeps them fresh)."""
        gap = dt.timedelta(seconds=step.gap_after_s)
        holds: list[Hold] = []
        for vm in self.others(step):
            key = vm.lower()
            if key not in self.seen or vm in ours:
                continue
            group, domain = self.domain_of[vm]
            who = f"{group}: {domain} ({names.get(vm, vm.rsplit('/', 1)[-1])})"
            if self._busy(key, self.seen[key][1]):
                holds.append(Hold(f"{who} under maintenance by someone else", now + self.recheck))
                continue
            # Azure documents no time for a maintenance's end: the first read that showed it done is
            # taken, never earlier than it can have been, so the gap is never shortened
            done_at = self.done_seen.get(key)
            if done_at is not None and now < done_at + gap:
                until = done_at + gap
                when = human_time(until, self.zone)
                why = f"{who} maintained by someone else; its recovery gap runs until {when}"
                holds.append(Hold(why, until))
        return max(holds, key=lambda h: h.until) if holds else None

    def _earliest_end(self, vm: str, at: dt.datetime) -> dt.datetime:
        """Done already when the fleet was read: it may have ended just before (Azure documents no
        time for it); done since: no earlier than the first read that shows it."""
        planned = self.planned.get(vm)
        done_before = planned is not None and planned.last_result == "MaintenanceCompleted"
        return self.captured_at if done_before and vm not in self.busy_seen else at

    def _busy(self, vm: str, status: VMStatus) -> bool:
        """Under way (still stopped after being seen going down), or started and not yet shown down: a
        planned VM that was allowed and no longer is, with no result yet (just after a trigger)."""
        if under_way(status) or (status.power_state == "stopped" and vm in self.busy_seen):
            return True
        planned, m = self.planned.get(vm), status.maintenance
        return bool(
            planned
            and planned.customer_initiated_allowed
            and m
            and not m.customer_initiated_allowed
            and m.last_result == "None"
        )

    def _acted(self, vm: str, status: VMStatus) -> bool:
        """A planned VM had maintenance pending when the run was planned: its block gone or
        ``MaintenanceCompleted`` means someone maintained it."""
        m = status.maintenance
        return vm in self.planned and (m is None or m.last_result == "MaintenanceCompleted")


def under_way(s: VMStatus) -> bool:
    """Someone's maintenance is running on the VM: it walks stopping/stopped/starting (a VM an owner
    stopped, or one whose window is not open yet, is not under way)."""
    if s.power_state in ("stopping", "starting"):
        return True
    m = s.maintenance
    return bool(
        s.power_state == "stopped" and m and not m.customer_initiated_allowed and m.last_result == "None"
    )
