"""The live maintenance view (`udroll fleet`): what the portal's maintenance columns show, per VM
and per scale set, at a given instant. Pure: VMs and ``now`` in, rows out."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from rich.console import Console

from planner.fleet import VM
from planner.render.fit import Column, fitted_table, layout, table_width
from planner.timefmt import Zone, approx_duration, human_span, human_time, parse_instant, plural
from planner.values import format_timestamp

_FAR = dt.datetime.max.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class VMRow:
    vm: str  # ref: rg/name or rg/scale-set/instance
    id: str
    resource_group: str
    group: str  # "as/NAME", "vmss/NAME" or ""
    update_domain: int | None
    fault_domain: int | None
    zone: str | None
    power_state: str
    allowed: bool | None  # None: no maintenance pending
    in_self_service_window: bool
    self_service_start: str | None
    self_service_end: str | None
    scheduled_start: str | None
    scheduled_end: str | None
    last_result: str | None
    last_message: str | None


@dataclass(frozen=True)
class ScaleSetRow:
    scale_set: str  # rg/name
    orchestration: str
    vms: int
    pending: int
    self_service: str  # the portal's "Self-service maintenance" column: Yes, No or -


def in_self_service_window(vm: VM, now: dt.datetime) -> bool:
    """Maintenance is pending and ``now`` lies in the VM's self-service window (ends inclusive)."""
    m = vm.maintenance
    return bool(
        m
        and m.pending
        and m.self_service_window
        and m.self_service_window[0] <= now <= m.self_service_window[1]
    )


def vm_rows(vms: Iterable[VM], now: dt.datetime) -> list[VMRow]:
    """One row per VM, soonest self-service deadline first; VMs with nothing pending last."""

    def key(vm: VM) -> tuple[int, dt.datetime, str]:
        m = vm.maintenance
        if m is None:
            return (2, _FAR, vm.ref.lower())
        end = m.self_service_window[1] if m.self_service_window else _FAR
        return (1 if not m.pending else 0, end, vm.ref.lower())

    return [_row(vm, now) for vm in sorted(vms, key=key)]


def _row(vm: VM, now: dt.datetime) -> VMRow:
    m = vm.maintenance
    group = (
        f"as/{vm.availability_set}" if vm.availability_set else f"vmss/{vm.scale_set}" if vm.scale_set else ""
    )
    ss = m.self_service_window if m else None
    sched = m.scheduled_window if m else None
    return VMRow(
        vm=vm.ref,
        id=vm.id,
        resource_group=vm.resource_group,
        group=group,
        update_domain=vm.update_domain,
        fault_domain=vm.fault_domain,
        zone=vm.zone,
        power_state=vm.power_state,
        allowed=m.customer_initiated_allowed if m else None,
        in_self_service_window=in_self_service_window(vm, now),
        self_service_start=format_timestamp(ss[0]) if ss else None,
        self_service_end=format_timestamp(ss[1]) if ss else None,
        scheduled_start=format_timestamp(sched[0]) if sched else None,
        scheduled_end=format_timestamp(sched[1]) if sched else None,
        last_result=m.last_result if m else None,
        last_message=m.last_message if m else None,
    )


def scale_set_rows(vms: Iterable[VM], now: dt.datetime) -> list[ScaleSetRow]:
    """Per scale set: Yes (a VM is in a self-service window now), No (in a wave, none in its window
    now), - (no VM has a maintenance status: not part of a planned maintenance wave)."""
    sets: dict[tuple[str, str], list[VM]] = {}
    for vm in vms:
        if vm.scale_set:
            sets.setdefault((vm.resource_group.lower(), vm.scale_set.lower()), []).append(vm)
    rows = []
    for members in sets.values():
        first = members[0]
        in_wave = any(vm.maintenance is not None for vm in members)
        open_now = any(in_self_service_window(vm, now) for vm in members)
        rows.append(
            ScaleSetRow(
                scale_set=f"{first.resource_group}/{first.scale_set}",
                orchestration=first.orchestration or "",
                vms=len(members),
                pending=sum(1 for vm in members if vm.maintenance and vm.maintenance.pending),
                self_service="Yes" if open_now else "No" if in_wave else "-",
            )
        )
    return sorted(rows, key=lambda r: r.scale_set.lower())


def render_json(vms: list[VMRow], sets: list[ScaleSetRow], now: dt.datetime) -> str:
    data = {
        "format": "udroll/fleet-status@1",
        "now": format_timestamp(now),
        "vms": [asdict(r) for r in vms],
        "scale_sets": [asdict(r) for r in sets],
    }
    return json.dumps(data, indent=1) + "\n"


def render_csv(vms: list[VMRow]) -> str:
    out = io.StringIO()
    names = list(VMRow.__dataclass_fields__)
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in vms:
        writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
    return out.getvalue()


FLEET_COLUMNS = (
    Column("VM", rank=100),
    Column("GROUP", rank=40),
    Column("UD", rank=62),
    Column("FD", rank=60),
    Column("ZONE", rank=61),
    Column("POWER", rank=30),
    Column("ALLOWED", rank=80),
    Column("SELF-SERVICE WINDOW", rank=50),
    Column("DEADLINE", rank=90),
    Column("SCHEDULED WINDOW", rank=35),
    Column("LAST RESULT", rank=70),
    Column("MESSAGE", rank=20, wrap=True),
)


def render_table(
    vms: list[VMRow],
    sets: list[ScaleSetRow],
    now: dt.datetime,
    zone: Zone = "UTC",
    width: int | None = None,
) -> str:
    """Aligned text that fits ``width`` (None: every column), times in ``zone``."""
    body = [
        [
            r.vm,
            r.group or "-",
            _n(r.update_domain),
            _n(r.fault_domain),
            r.zone or "-",
            r.power_state,
            "-" if r.allowed is None else "yes" if r.allowed else "no",
            _span(r.self_service_start, r.self_service_end, zone),
            _deadline(r, now),
            _span(r.scheduled_start, r.scheduled_end, zone),
            _result(r.last_result),
            r.last_message or "",
        ]
        for r in vms
    ]
    set_columns = (
        Column("SCALE SET", rank=100),
        Column("ORCHESTRATION", rank=50),
        Column("VMS", rank=70, justify="right"),
        Column("PENDING", rank=80, justify="right"),
        Column("SELF-SERVICE MAINTENANCE", rank=90),
    )
    set_rows = [[s.scale_set, s.orchestration, str(s.vms), str(s.pending), s.self_service] for s in sets]
    pending = sum(1 for r in vms if r.last_result not in (None, "MaintenanceCompleted"))
    open_now = sum(1 for r in vms if r.in_self_service_window)
    out = io.StringIO()
    tables = [(FLEET_COLUMNS, body)] + ([(set_columns, set_rows)] if sets else [])
    needed = max(table_width(layout(c, rows, width)) for c, rows in tables)
    console = Console(file=out, width=max(needed, width or 0, 40), highlight=False, color_system=None)
    console.print(f"Maintenance status at {human_time(now, zone)}", soft_wrap=True, markup=False)
    console.print()
    console.print(fitted_table(FLEET_COLUMNS, body, width))
    if sets:
        console.print()
        console.print(fitted_table(set_columns, set_rows, width, title="Scale sets"))
    console.print()
    console.width = width or needed
    console.print(
        f"{plural(len(vms), 'VM')}: {pending} with maintenance pending, {open_now} in their "
        "self-service window now.",
        markup=False,
    )
    return "".join(line.rstrip() + "\n" for line in out.getvalue().splitlines())


def _result(value: str | None) -> str:
    # Azure reports "None" (an enum member) when no maintenance has run yet.
    return "-" if value in (None, "", "None") else str(value)


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def _span(start: str | None, end: str | None, zone: Zone) -> str:
    if not start or not end:
        return "-"
    return human_span(parse_instant(start), parse_instant(end), zone)


def _deadline(row: VMRow, now: dt.datetime) -> str:
    if row.self_service_end is None or row.last_result == "MaintenanceCompleted":
        return "-"
    end = parse_instant(row.self_service_end)
    start = parse_instant(row.self_service_start or row.self_service_end)
    if now > end:
        return "closed"
    if now < start:
        return "not open"
    return f"{approx_duration((end - now).total_seconds())} left"
