"""`-o table`: the steps in time order, then the summary, the VMs left out and the warnings."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from rich.text import Text

from planner.render.preview import Preview
from planner.summary import SEARCH_MAX_STEPS, PlanSummary
from planner.values import format_duration, format_timestamp

SHOWN_VMS = 3  # names listed per step before "+N more"


def render(preview: Preview) -> str:
    summary = preview.summary
    zone = ZoneInfo(summary.timezone)
    out = io.StringIO()
    console = Console(
        file=out,
        width=preview.width,
        force_terminal=preview.color,
        color_system="standard" if preview.color else None,
        highlight=False,
    )

    console.print(_steps_table(preview, zone))
    _print_summary(console, preview, zone)
    _print_lists(console, preview)
    return out.getvalue()


def _steps_table(preview: Preview, zone: ZoneInfo) -> Table:
    plan, summary = preview.plan, preview.summary
    table = Table(title=f"udroll plan {plan.name}", title_justify="left", show_lines=False)
    table.add_column(f"start ({summary.timezone})", no_wrap=True, min_width=19)
    table.add_column("start (UTC)", no_wrap=True, min_width=11)
    table.add_column("end", no_wrap=True, min_width=5)
    table.add_column("tier", style="bold", no_wrap=True)
    table.add_column("group", no_wrap=True, overflow="ellipsis", max_width=32)
    table.add_column("domain", no_wrap=True)
    table.add_column("VMs", no_wrap=True, overflow="ellipsis", max_width=36)
    table.add_column("gap after", justify="right", no_wrap=True)
    critical = set(summary.critical_path)
    for step in plan.steps:
        table.add_row(
            step.start.astimezone(zone).strftime("%a %m-%d %H:%M %Z"),
            step.start.strftime("%m-%d %H:%M"),
            step.end.astimezone(zone).strftime("%H:%M"),
            step.tier,
            step.group,
            str(step.domain),
            _names(preview, step.vms),
            format_duration(step.gap_after_s),
            style="yellow" if step.id in critical and preview.color else None,
        )
    return table


def _print_summary(console: Console, preview: Preview, zone: ZoneInfo) -> None:
    plan, summary = preview.plan, preview.summary
    extra = format_duration(summary.makespan_s - summary.lower_bound_s)
    lines = [
        ("start", f"{_local(summary.start, zone)}  ({format_timestamp(summary.start)})"),
        ("end", f"{_local(summary.end, zone)}  ({format_timestamp(summary.end)})"),
        ("makespan", format_duration(summary.makespan_s)),
        (
            "lower bound",
            format_duration(summary.lower_bound_s)
            + f"  ({plan.optimality.bound_basis}"
            + ("; met)" if summary.lower_bound_met else f"; +{extra} from capacity and parallelism)"),
        ),
        (
            "plan quality",
            f"{plan.optimality.describe(plan.makespan_s, plan.lower_bound_s)}  ({plan.optimality.method})",
        ),
        ("steps", f"{summary.steps} steps, {summary.vms_planned} VMs planned"),
        (
            "earliest deadline",
            "-"
            if summary.earliest_deadline is None
            else f"{format_timestamp(summary.earliest_deadline)}  (self-service window of "
            f"{preview.vm_name(summary.earliest_deadline_vm or '')})",
        ),
        (
            "slack",
            "-"
            if summary.slack_s is None
            else _signed(summary.slack_s) + "  (least margin of any VM to its deadline, cutoff included)",
        ),
        ("latest start", _latest_start(summary, zone)),
        ("skipped", f"{summary.skipped} VMs"),
        ("unschedulable", f"{summary.unschedulable} VMs"),
        ("warnings", str(summary.warnings)),
    ]
    console.print()
    for key, value in lines:
        console.print(Text(f"{key:>18}: ", style="bold"), Text(value), sep="")


def _print_lists(console: Console, preview: Preview) -> None:
    """Relaxed dependencies, unschedulable and skipped VMs, warnings: each list when it has items."""
    plan = preview.plan
    if plan.relaxed:
        console.print()
        console.print(Text("Relaxed dependencies:", style="bold yellow"))
        for r in plan.relaxed:
            console.print(f"  {r.describe()}", soft_wrap=True, markup=False)
    if plan.unschedulable:
        console.print()
        console.print(Text("Unschedulable:", style="bold red"))
        for u in plan.unschedulable:
            console.print(f"  {preview.vm_name(u.vm)}: {u.reason}", soft_wrap=True)
    if plan.skipped:
        console.print()
        console.print(Text("Skipped:", style="bold"))
        for s in plan.skipped:
            console.print(f"  {preview.vm_name(s.vm)}: {s.reason}", soft_wrap=True)
    if plan.warnings:
        console.print()
        console.print(Text("Warnings:", style="bold yellow"))
        for w in plan.warnings:
            console.print(f"  [{w.code}] {w.message}: {_names(preview, w.vms)}", soft_wrap=True, markup=False)


def _local(value: dt.datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _names(preview: Preview, vms: tuple[str, ...]) -> str:
    """VM names, the first few then "+N more"; instances of one scale set as ``set/ 0, 10, 20``."""
    machines = [preview.vms.get(v) for v in vms]
    sets = {m.scale_set for m in machines if m is not None and m.orchestration == "Uniform"}
    if len(sets) == 1 and all(m is not None and m.orchestration == "Uniform" for m in machines):
        prefix, names = f"{next(iter(sets))}/ ", [m.instance_id or "" for m in machines if m]
    else:
        prefix, names = "", [preview.vm_name(v) for v in vms]
    if len(names) <= SHOWN_VMS:
        return prefix + ", ".join(names)
    return prefix + ", ".join(names[: SHOWN_VMS - 1]) + f", +{len(names) - SHOWN_VMS + 1} more"


def _signed(seconds: int) -> str:
    return format_duration(seconds) if seconds >= 0 else "-" + format_duration(-seconds)


def _latest_start(summary: PlanSummary, zone: ZoneInfo) -> str:
    if summary.latest_start is not None:
        return (
            f"{_local(summary.latest_start, zone)}  ({format_timestamp(summary.latest_start)})  "
            "(latest start that still fits)"
        )
    if summary.steps > SEARCH_MAX_STEPS:
        return f"not searched (more than {SEARCH_MAX_STEPS} steps)"
    return "-"
