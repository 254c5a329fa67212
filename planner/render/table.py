"""`-o table`: the steps in time order, then the summary, the VMs left out and the warnings.

The steps table fits ``preview.width`` (see planner.render.fit): the step id (what `udroll skip` and
`udroll approve` take), its start, its VMs and the gap after it first, then its end; tier, group and
domain (the step id names them already) only when the VMs need not wrap; every column with
``preview.wide``. Times are in ``preview.zone``, each labelled with the zone.
"""

from __future__ import annotations

import datetime as dt
import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from planner.render._timeline import domain_label
from planner.render.fit import Column, fitted_table, layout, table_width
from planner.render.preview import Preview
from planner.summary import SEARCH_MAX_STEPS, PlanSummary
from planner.timefmt import duration, human_time, plural, signed_duration

SHOWN_VMS = 3  # names listed per step before "+N more"

STEP_COLUMNS = (
    Column("step", rank=100),
    Column("start", rank=90),
    Column("end", rank=60),
    Column("tier", rank=45, extra=True),
    Column("group", rank=30, extra=True),
    Column("domain", rank=40, extra=True),
    Column("VMs", rank=80, wrap=True),
    Column("gap after", rank=70, justify="right"),
)


def render(preview: Preview) -> str:
    out = io.StringIO()
    rows = _step_rows(preview)
    width = None if preview.wide else preview.width
    needed = table_width(layout(STEP_COLUMNS, rows, width))
    console = Console(
        file=out,
        width=max(needed, preview.width),  # wider than asked only when the required columns alone are
        force_terminal=preview.color,
        color_system="standard" if preview.color else None,
        highlight=False,
    )
    console.print(_steps_table(preview, rows, width))
    console.width = preview.width if width is not None else max(needed, preview.width)
    _print_summary(console, preview, preview.zone)
    _print_lists(console, preview)
    return "".join(line.rstrip() + "\n" for line in out.getvalue().splitlines())


def _step_rows(preview: Preview) -> list[list[str]]:
    zone = preview.zone
    return [
        [
            step.id,
            human_time(step.start, zone),
            human_time(step.end, zone),
            step.tier,
            step.group,
            domain_label(step),
            _names(preview, step.vms),
            duration(step.gap_after_s),
        ]
        for step in preview.plan.steps
    ]


def _steps_table(preview: Preview, rows: list[list[str]], width: int | None) -> Table:
    critical = set(preview.summary.critical_path)
    styles = ["yellow" if s.id in critical and preview.color else None for s in preview.plan.steps]
    return fitted_table(STEP_COLUMNS, rows, width, title=f"udroll plan {preview.plan.name}", styles=styles)


def _print_summary(console: Console, preview: Preview, zone: dt.tzinfo) -> None:
    plan, summary = preview.plan, preview.summary
    extra = duration(summary.makespan_s - summary.lower_bound_s)
    deadline_vm = preview.vm_name(summary.earliest_deadline_vm or "")
    lines = [
        ("start", human_time(summary.start, zone)),
        ("end", human_time(summary.end, zone)),
        ("makespan", duration(summary.makespan_s)),
        (
            "lower bound",
            duration(summary.lower_bound_s)
            + f" ({plan.optimality.bound_basis}"
            + ("; met)" if summary.lower_bound_met else f"; +{extra} from capacity and parallelism)"),
        ),
        (
            "plan quality",
            f"{plan.optimality.describe(plan.makespan_s, plan.lower_bound_s)} ({plan.optimality.method})",
        ),
        ("steps", f"{plural(summary.steps, 'step')}, {plural(summary.vms_planned, 'VM')} planned"),
        (
            "earliest deadline",
            "-"
            if summary.earliest_deadline is None
            else f"{human_time(summary.earliest_deadline, zone)} (self-service window of {deadline_vm})",
        ),
        (
            "slack",
            "-"
            if summary.slack_s is None
            else signed_duration(summary.slack_s)
            + " (least margin of any VM to its deadline, cutoff included)",
        ),
        ("latest start", _latest_start(summary, zone)),
        ("skipped", plural(summary.skipped, "VM")),
        ("unschedulable", plural(summary.unschedulable, "VM")),
        ("warnings", str(summary.warnings)),
    ]
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in lines:
        grid.add_row(f"{key}:", value)
    console.print()
    console.print(grid)


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


def _names(preview: Preview, vms: tuple[str, ...]) -> str:
    """VM names (``db-2``, ``vmss-app/0``), the first few then "+N more"."""
    names = [preview.vm_name(v) for v in vms]
    if len(names) <= SHOWN_VMS:
        return ", ".join(names)
    return ", ".join(names[: SHOWN_VMS - 1]) + f", +{len(names) - SHOWN_VMS + 1} more"


def _latest_start(summary: PlanSummary, zone: dt.tzinfo) -> str:
    if summary.latest_start is not None:
        return f"{human_time(summary.latest_start, zone)} (the latest start that still fits)"
    if summary.steps > SEARCH_MAX_STEPS:
        return f"not searched (more than {SEARCH_MAX_STEPS} steps)"
    return "-"
