"""Rendering a run for people (the only place rich is imported for `udroll run`).

- :class:`PlainConsole` — one timestamped line per event, for logs and pipes.
- :class:`LiveConsole` — on a terminal: a rich live view of the steps (state, VMs, what each waits
  for and the countdown, the gates being probed), a progress bar and the run's clock.

Both are Reporters (executor.run.events) and offer ``prompt(question) -> bool`` so a confirmation can be
asked without tearing the live view.
"""

from __future__ import annotations

import datetime as dt
import textwrap
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from executor.run.clock import Clock
from executor.run.events import Event
from executor.run.journal import StepRow, VMRow
from planner.plan import Plan
from planner.timefmt import countdown, human_time, parse_instant, rfc3339

QUIET = {"gate", "vm-intent", "vm-polled", "step-waiting"}  # plain lines skip these: too chatty
STYLE = {"done": "green", "running": "cyan", "failed": "bold red", "skipped": "yellow", "waiting": "dim"}


def short_vm(vm: str | None) -> str:
    return vm.rsplit("/", 1)[-1] if vm else ""


class PlainConsole:
    """Timestamped lines: ``2026-11-23T21:00:00Z step-started db/as-db/ud2 db-2: 1 VMs``."""

    def __init__(self, echo: Callable[[str], None] | None = None, verbose: bool = False):
        self.echo = echo or (lambda line: click.echo(line))
        self.verbose = verbose

    def emit(self, event: Event) -> None:
        data = event.data
        failed_baseline = event.kind == "gate" and not data.get("ok", True) and data.get("baseline")
        if event.kind in QUIET and not self.verbose and not failed_baseline:
            return
        parts = [rfc3339(event.at), event.kind]
        if event.step:
            parts.append(event.step)
        if event.vm:
            parts.append(short_vm(event.vm))
        line = " ".join(parts)
        self.echo(f"{line}: {event.message}" if event.message else line)

    def prompt(self, question: str) -> bool:
        return click.confirm(question, default=False)

    def __enter__(self) -> PlainConsole:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@dataclass
class _Row:
    state: str = "waiting"
    detail: str = ""
    until: dt.datetime | None = None
    vms_done: int = 0  # maintained and healthy
    vms_skipped: int = 0  # needed nothing or could not be touched: not maintained, never "done"

    def vms(self, total: int) -> str:
        """``1/2``, or ``0/1 (1 skipped)``: a skipped VM is not counted as maintained."""
        skipped = f" ({self.vms_skipped} skipped)" if self.vms_skipped else ""
        return f"{self.vms_done}/{total}{skipped}"


class LiveConsole:
    """A live view of the run on a terminal (see the module docstring)."""

    def __init__(
        self,
        plan: Plan,
        clock: Clock,
        console: Console | None = None,
        title: str = "",
        zone: dt.tzinfo = dt.timezone.utc,  # where times are shown (`--tz`)
    ):
        self.plan = plan
        self.clock = clock
        self.zone = zone
        self.console = console or Console(stderr=False)
        self.title = title or f"udroll run {plan.name}"
        self.rows = {s.id: _Row() for s in plan.steps}
        self.log: list[str] = []
        self._lock = threading.Lock()
        self._live = Live(
            get_renderable=self._render, console=self.console, refresh_per_second=4, transient=False
        )

    def __enter__(self) -> LiveConsole:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def prompt(self, question: str) -> bool:
        self._live.stop()
        try:
            return click.confirm(question, default=False)
        finally:
            self._live.start()

    def restore(self, steps: Iterable[StepRow], vms: Iterable[VMRow]) -> None:
        """Start from the journal: a resumed run shows its steps already done, skipped, failed or
        waiting (and why) from the first frame, not every step as waiting."""
        with self._lock:
            for s in steps:
                row = self.rows.get(s.id)
                if row is None:
                    continue
                row.state = s.state
                row.detail = s.error or (f"waiting for {s.waiting_for}" if s.waiting_for else "")
                row.until = s.waiting_until if s.state == "waiting" else None
            for v in vms:
                row = self.rows.get(v.step)
                if row is not None and v.state == "healthy":
                    row.vms_done += 1
                elif row is not None and v.state == "skipped":
                    row.vms_skipped += 1

    def emit(self, event: Event) -> None:
        with self._lock:
            self._apply(event)

    def _apply(self, event: Event) -> None:
        row = self.rows.get(event.step or "")
        kind = event.kind
        if row is not None:
            if kind == "step-started":
                row.state, row.detail, row.until = "running", "starting", None
            elif kind == "step-ended":
                row.state, row.detail = "done", ""
            elif kind == "step-failed":
                row.state, row.detail = "failed", event.message
            elif kind == "step-skipped":
                row.state, row.detail = "skipped", event.message
            elif kind == "step-waiting":
                row.detail = event.message
                until = event.data.get("until")
                row.until = parse_instant(until) if until else None
            elif kind == "step-retry":  # --retry-failed: its failed VMs are checked again
                row.state, row.detail, row.until = "waiting", event.message, None
            elif kind == "vm-healthy":
                row.vms_done += 1
            elif kind == "vm-skipped":
                row.vms_skipped += 1
            elif kind in ("vm-triggered", "vm-running", "vm-retry", "vm-result", "baseline", "hook"):
                row.detail = f"{short_vm(event.vm)} {event.message}".strip()
            elif kind == "gate":
                row.detail = f"gate {short_vm(event.vm)}: {event.message}"
        if kind not in QUIET:
            self.log.append(
                f"{human_time(event.at, self.zone, seconds=True)} {kind} {event.step or ''} "
                f"{short_vm(event.vm)} {event.message}"
            )
            self.log = self.log[-6:]

    def _render(self) -> Any:
        with self._lock:
            now = self.clock.now()
            table = Table(title=f"{self.title} — {human_time(now, self.zone, seconds=True)}", expand=True)
            for column in ("step", "state", "VMs", "planned"):  # ids, counts and times are never cut
                table.add_column(column, no_wrap=True)
            table.add_column("now", overflow="fold", ratio=1)
            for step in self.plan.steps:
                row = self.rows[step.id]
                if row.state == "done" and len(self.plan.steps) > 30:
                    continue  # big rollouts: keep the screen for what is still to do
                detail = row.detail
                if row.state == "waiting" and row.until:
                    detail = f"{detail} ({countdown(row.until, now)})"
                table.add_row(
                    step.id,
                    Text(row.state, style=STYLE.get(row.state, "")),
                    row.vms(len(step.vms)),
                    human_time(step.start, self.zone),
                    textwrap.shorten(detail, 120, placeholder=" …"),  # at a word: never mid-number
                )
            states = [r.state for r in self.rows.values()]
            ended = sum(1 for st in states if st in ("done", "skipped", "failed"))
            bar = ProgressBar(total=max(1, len(self.rows)), completed=ended)
            footer = Text(f"{states.count('done')}/{len(self.rows)} steps done", style="bold")
            others = [f"{states.count(st)} {st}" for st in ("skipped", "failed") if st in states]
            footer.append("".join(f", {o}" for o in others), style="bold")
            return Group(table, bar, footer, Text("\n".join(self.log), style="dim"))
