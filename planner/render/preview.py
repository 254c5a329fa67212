"""What every renderer gets: the plan, what it was made from, and its summary (computed once)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

from planner.fleet import VM, Fleet
from planner.plan import Plan
from planner.spec import Spec
from planner.summary import PlanSummary, summarize


@dataclass(frozen=True)
class Preview:
    plan: Plan
    spec: Spec
    fleet: Fleet
    width: int = 160  # columns for text formats
    color: bool = False  # ANSI colours (only when writing to a terminal)
    source: str | None = None  # the spec's path, for the commands a change ticket quotes
    fleet_path: str | None = None  # the --fleet snapshot planned with, if any
    tz: dt.tzinfo | None = None  # the zone times are shown in (--tz); default: the spec's window zone
    wide: bool = False  # text formats: every column, whatever the width (--wide)

    @property
    def zone(self) -> dt.tzinfo:
        return self.tz if self.tz is not None else ZoneInfo(self.spec.window.timezone)

    @cached_property
    def summary(self) -> PlanSummary:
        return summarize(self.plan, self.spec, self.fleet)

    @cached_property
    def vms(self) -> dict[str, VM]:
        """The fleet's VMs by id, to show names instead of ARM ids."""
        return {vm.id: vm for vm in self.fleet.vms}

    def vm_name(self, vm_id: str) -> str:
        """A VM's short name: ``name`` or ``scale-set/instance`` for a uniform scale set instance."""
        vm = self.vms.get(vm_id)
        if vm is None:
            return vm_id.rsplit("/", 1)[-1]
        if vm.orchestration == "Uniform":
            return f"{vm.scale_set}/{vm.instance_id}"
        return vm.name
