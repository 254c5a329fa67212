"""`udroll check SPEC`: a preflight to run the afternoon before, as findings (✓ or ✗ with a fix).

The CLI gathers what needs Azure (the live fleet, the identity's permissions per resource group) and
hands it here; this module judges it, probes every health check once and looks at every hook. It
reads no clock of its own: ``now`` is given.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from executor.run.gates import Check, Target, probe_all
from planner.fleet import VM, Fleet
from planner.plan import Plan
from planner.select import selection
from planner.spec import Spec, TierSettings
from planner.timefmt import countdown, human_time, plural

ChecksFor = Callable[[VM, TierSettings], Sequence[Check]]
# what each area's failures make the exit code (DESIGN §8): Azure refused us 5, VMs that cannot be
# maintained in their windows 3, the operator's own setup (hooks, health checks, selection) 2
EXIT_CODES = {
    "azure": 5,
    "sign-in": 5,
    "permissions": 5,
    "vm": 3,
    "window": 3,
    "selection": 2,
    "hook": 2,
    "health": 2,
}


@dataclass(frozen=True)
class Finding:
    """One line of the preflight: what was checked, on what, whether it passed, and what to do if not."""

    area: str  # azure | sign-in | permissions | selection | vm | window | health | hook
    subject: str
    ok: bool
    detail: str
    fix: str = ""


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when everything passed, else the gravest failed area's code (5, then 3, then 2)."""
    return max((EXIT_CODES[f.area] for f in findings if not f.ok), default=0)


def _when(at: dt.datetime, now: dt.datetime, zone: dt.tzinfo) -> str:
    """``Mon 11-23 22:00 CET (in 6h59m)``; no countdown once it has come."""
    left = countdown(at, now)
    return human_time(at, zone) + (f" (in {left})" if left != "now" else "")


def permission_findings(missing: dict[str, list[str]]) -> list[Finding]:
    """Per resource group, the role's actions the identity lacks there."""
    return [
        Finding(
            "permissions",
            rg,
            not lacks,
            "every action of udroll's role" if not lacks else "lacks " + ", ".join(lacks),
            "" if not lacks else f"assign the udroll role (README: Permissions) on {rg} or the subscription",
        )
        for rg, lacks in sorted(missing.items())
    ]


def selection_findings(spec: Spec, fleet: Fleet) -> list[Finding]:
    """A tier that selects no VM is almost always a typo in its selector."""
    chosen = selection(spec, fleet.vms)
    return [
        Finding(
            "selection",
            f"tier {tier}",
            bool(vms),
            f"{plural(len(vms), 'VM')} selected",
            "" if vms else "no VM matches its select: check the resource group, set names and tags",
        )
        for tier, vms in chosen.items()
    ]


def vm_findings(spec: Spec, fleet: Fleet, plan: Plan, now: dt.datetime, zone: dt.tzinfo) -> list[Finding]:
    """Every selected VM: its maintenance state and self-service window, and whether the plan has it."""
    why_not = {u.vm.lower(): u.reason for u in plan.unschedulable}
    skipped = {s.vm.lower(): s.reason for s in plan.skipped}
    found = []
    for tier, vms in selection(spec, fleet.vms).items():
        for vm in vms:
            key, m = vm.id.lower(), vm.maintenance
            window = m.self_service_window if m else None
            if key in skipped:
                detail = f"nothing to do: {skipped[key]}"
            elif window and window[1] < now:
                detail = f"self-service window closed {human_time(window[1], zone)}"
            elif window and window[0] > now:
                opens, ends = _when(window[0], now, zone), human_time(window[1], zone)
                detail = f"self-service window opens {opens}, ends {ends}"
            elif window:
                detail = f"self-service window open, ends {human_time(window[1], zone)}"
            else:
                detail = "no self-service window"
            reason = why_not.get(key)
            fix = f"{reason}. Leave it to Azure, or run with --allow-partial" if reason else ""
            found.append(Finding("vm", vm.ref, not fix, f"{tier}: {detail}", fix))
    return found


def window_findings(plan: Plan, now: dt.datetime, zone: dt.tzinfo) -> list[Finding]:
    """When each tier's steps are planned: the operator's windows and the VMs' windows, combined."""
    found = []
    for tier in dict.fromkeys(s.tier for s in plan.steps):
        steps = [s for s in plan.steps if s.tier == tier]
        first, last = min(s.start for s in steps), max(s.end for s in steps)
        detail = f"{plural(len(steps), 'step')} from {_when(first, now, zone)} to {human_time(last, zone)}"
        found.append(Finding("window", f"tier {tier}", True, detail))
    if not plan.steps:
        found.append(Finding("window", "plan", True, "no step: no selected VM has maintenance pending"))
    return found


def health_findings(
    spec: Spec, fleet: Fleet, plan: Plan, checks_for: ChecksFor | None, workdir: str
) -> list[Finding]:
    """Every health check of every planned VM, probed once now (they should pass before maintenance)."""
    facts = {vm.id.lower(): vm for vm in fleet.vms}
    work: dict[str, tuple[Target, Sequence[Check]]] = {}
    for step in plan.steps:
        settings = spec.settings(step.tier)
        for vm_id in step.vms:
            vm = facts[vm_id.lower()]
            checks = checks_for(vm, settings) if checks_for else settings.health.checks
            work[vm.ref] = (Target(vm.name, vm.resource_group, (vm.name,), workdir), tuple(checks))
    found = []
    for ref, probes in probe_all(work).items():
        failed = [p for p in probes if not p.ok]
        if not probes:
            found.append(Finding("health", ref, True, "no checks: running is enough"))
        elif failed:
            shown = "; ".join(f"{p.kind} {p.target}: {p.detail}" for p in failed[:2])
            fix = "fix the check (URL, port, command) or the VM: it should pass now, before maintenance"
            found.append(Finding("health", ref, False, f"{len(failed)}/{len(probes)} failed: {shown}", fix))
        else:
            found.append(Finding("health", ref, True, f"{len(probes)}/{len(probes)} passed"))
    return found


def hook_findings(spec: Spec, workdir: str) -> list[Finding]:
    """Every hook command: found (beside the spec, or on PATH) and executable."""
    hooks: dict[str, str] = {}
    for tier in spec.tiers:
        settings = spec.settings(tier)
        for which, argv in (("before_step", settings.before_step), ("after_step", settings.after_step)):
            if argv:
                hooks.setdefault(argv[0], f"{which} of tier {tier.name}")
    return [_hook(command, used, workdir) for command, used in hooks.items()]


def _hook(command: str, used: str, workdir: str) -> Finding:
    if "/" in command:
        path = Path(workdir, command)
        if not path.is_file():
            return Finding(
                "hook", command, False, f"{used}: not found", f"create {path} (relative to the spec)"
            )
        if not os.access(path, os.X_OK):
            return Finding("hook", command, False, f"{used}: not executable", f"chmod +x {path}")
        return Finding("hook", command, True, f"{used}: found beside the spec, executable")
    found = shutil.which(command)
    if found is None:
        return Finding("hook", command, False, f"{used}: not on PATH", "install it, or give its path")
    return Finding("hook", command, True, f"{used}: {found}")
