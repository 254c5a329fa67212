"""The runs journalled in a directory tree (default ``.udroll/``): what `udroll runs` lists, and the
run a command operates on when no ``--journal`` is given."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

from executor.run.journal import DB_NAME, Journal, parse_ts
from planner.errors import InputError
from planner.timefmt import rfc3339

ROOT = Path(".udroll")


@dataclass(frozen=True)
class RunEntry:
    """One run found on disk, newest first in a listing."""

    journal: str
    spec: str  # its name
    state: str
    vms_done: int
    vms_total: int
    steps_done: int
    steps_total: int
    started: dt.datetime | None  # real time (a simulation's own clock may be days ahead)
    simulated: bool
    runner_active: bool

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["started"] = rfc3339(self.started) if self.started else None
        return data


def _entry(directory: Path) -> RunEntry:
    try:
        journal = Journal.open(directory)
    except (InputError, sqlite3.Error, OSError) as exc:  # listed, not fatal: the others still show
        why = getattr(exc, "strerror", None) or str(exc)
        return RunEntry(str(directory), "?", f"unreadable ({why})", 0, 0, 0, 0, None, False, False)
    try:
        plan = json.loads(journal.meta("plan") or "{}")
        vms, steps = journal.vms(), journal.steps()
        return RunEntry(
            journal=str(directory),
            spec=str(plan.get("name", "?")),
            state=journal.run_state,
            vms_done=sum(1 for v in vms if v.state == "healthy"),
            vms_total=len(vms),
            steps_done=sum(1 for s in steps if s.state == "done"),
            steps_total=len(steps),
            started=parse_ts(journal.meta("created_wall") or journal.meta("created_at")),
            simulated=journal.meta("simulated") == "1",
            runner_active=journal.is_locked(),
        )
    finally:
        journal.close()


def find_runs(root: str | Path = ROOT) -> list[RunEntry]:
    """Every run journalled under ``root`` (any depth), newest first."""
    base = Path(root)
    if not base.is_dir():
        return []
    found = [_entry(db.parent) for db in sorted(base.rglob(DB_NAME))]
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(found, key=lambda r: (r.started or epoch, r.journal), reverse=True)


def default_journal(spec: str | None = None, root: str | Path = ROOT) -> RunEntry:
    """The run to operate on without ``--journal``: the latest run of ``spec`` (a spec's name), or the
    latest run when every run under ``root`` is of one spec. Refused (exit 2) when that is ambiguous."""
    runs = [r for r in find_runs(root) if r.spec != "?"]  # an unreadable journal is no candidate
    if spec is not None:
        runs = [r for r in runs if r.spec == spec]
    if not runs:
        of = f" of {spec}" if spec else ""
        raise InputError(f"no run{of} under {root}/: pass --journal DIR|URL (the journal `udroll run` used)")
    specs = sorted({r.spec for r in runs})
    if len(specs) > 1:
        listed = "; ".join(f"{s} (latest: {next(r.journal for r in runs if r.spec == s)})" for s in specs)
        raise InputError(
            f"runs of {len(specs)} specs under {root}/: {listed}. Pass --spec NAME or --journal DIR"
        )
    return runs[0]
