"""Fleet locks (issue 11 item 2, DESIGN §11): a run holds a lock per group it walks, besides its
journal lock, so that a second run that would walk the same group is refused at start, whatever
journal it uses.

The seam is :class:`GroupLocks` (acquire all of a run's groups or none, release them); a later issue
puts an implementation in Azure Storage so that it spans machines. :class:`FileGroupLocks` is the
machine-wide one: one file per group under the user's state directory (``$UDROLL_STATE_DIR/locks``,
else ``$XDG_STATE_HOME/udroll/locks``, else ``~/.local/state/udroll/locks``), ``flock``'ed for as
long as the run lives, holding who holds it as JSON (journal, pid, host, since). The kernel drops a
``flock`` when its process dies, so a dead run's lock is free again without any clean-up. Files are
0600 in a 0700 directory: they name journals and hosts.

Keys are ARM ids (lower case): ``/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/
availabilitySets/NAME`` (or ``virtualMachineScaleSets/NAME``, or ``virtualMachines/NAME`` for a
regional standalone VM). A tier's zonal standalone VMs (group ``*/zonal:<tier>``) have no ARM
resource: they lock ``/subscriptions/S/resourceGroups/RG/zonalVirtualMachines`` for each resource
group they live in, so two runs never walk zones of one resource group's zonal VMs at once.

The run command calls :func:`lock_plan_groups`; :class:`GroupsLocked` is exit 2 naming the holder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from planner.errors import InputError
from planner.plan import Plan, Step
from planner.timefmt import parse_instant, rfc3339

STATE_ENV = "UDROLL_STATE_DIR"


@dataclass(frozen=True)
class Holder:
    """Who holds (or asks for) a group: the run's journal, process, machine, and since when."""

    journal: str
    pid: int
    host: str
    since: dt.datetime

    @classmethod
    def this_process(cls, journal: str | Path, since: dt.datetime | None = None) -> Holder:
        when = since or dt.datetime.now(dt.timezone.utc)
        return cls(str(Path(journal).absolute()), os.getpid(), socket.gethostname(), when)

    def describe(self) -> str:
        return f"journal {self.journal}, pid {self.pid} on {self.host}, since {rfc3339(self.since)}"


@dataclass(frozen=True)
class Busy:
    """One group another run holds; ``holder`` is None when its file could not be read."""

    group: str
    key: str
    holder: Holder | None


@dataclass(frozen=True)
class Refusal:
    """acquire's answer when any group is held by another run (then none is taken)."""

    busy: tuple[Busy, ...]

    def message(self) -> str:
        lines = []
        for b in self.busy:
            who = b.holder.describe() if b.holder else "a run whose details could not be read"
            lines.append(f"group {b.group} is being walked by another udroll run ({who})")
        journal = next((b.holder.journal for b in self.busy if b.holder), None)
        stop = f"udroll pause|abort --journal {journal}" if journal else "udroll pause|abort"
        lines.append(
            f"wait for that run to end, or stop it (`{stop}`); a run that died frees its locks by itself"
        )
        return "\n".join(lines)


class Held(Protocol):
    """The locks a run holds; release() is idempotent."""

    @property
    def keys(self) -> tuple[str, ...]: ...

    def release(self) -> None: ...


class GroupLocks(Protocol):
    """Locks on groups, keyed by ARM id: all of ``groups`` (key -> plan group name) or none."""

    def acquire(self, groups: Mapping[str, str], holder: Holder) -> Held | Refusal: ...

    def release(self, held: Held) -> None: ...


class GroupsLocked(InputError):
    """Another run walks a group of this plan (exit 2)."""

    def __init__(self, refusal: Refusal):
        super().__init__(refusal.message())
        self.refusal = refusal


def state_dir() -> Path:
    """udroll's machine-wide state: $UDROLL_STATE_DIR, else $XDG_STATE_HOME/udroll, else
    ~/.local/state/udroll."""
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV])
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "udroll"


@dataclass
class FileHeld:
    """Open, flock'ed lock files; closing them releases the locks."""

    fds: dict[str, int] = field(default_factory=dict)  # key -> fd

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.fds)

    def release(self) -> None:
        fds, self.fds = self.fds, {}
        for fd in fds.values():
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class FileGroupLocks:
    """Machine-wide group locks: one flock'ed 0600 file per key under ``directory``."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else state_dir() / "locks"

    def path(self, key: str) -> Path:
        """The file of ``key``: a readable prefix and a hash (ARM ids hold slashes)."""
        key = key.lower()
        tail = re.sub(r"[^a-z0-9._-]+", "_", "/".join(key.rstrip("/").split("/")[-3:]))[-80:]
        return self.directory / f"{tail}.{hashlib.sha256(key.encode()).hexdigest()[:16]}.lock"

    def acquire(self, groups: Mapping[str, str], holder: Holder) -> FileHeld | Refusal:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        held, busy = FileHeld(), []
        wanted = {k.lower(): g for k, g in groups.items()}
        for key in sorted(wanted):  # one order for every run: two runs never wait on each other
            fd = os.open(self.path(key), os.O_RDWR | os.O_CREAT, 0o600)
            os.fchmod(fd, 0o600)  # whatever the umask or an older file said
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                busy.append(Busy(wanted[key], key, _read_holder(fd)))
                os.close(fd)
                continue
            _write_holder(fd, key, wanted[key], holder)
            held.fds[key] = fd
        if busy:
            held.release()
            return Refusal(tuple(busy))
        return held

    def release(self, held: Held) -> None:
        held.release()


def _write_holder(fd: int, key: str, group: str, holder: Holder) -> None:
    record = {
        "key": key,
        "group": group,
        "journal": holder.journal,
        "pid": holder.pid,
        "host": holder.host,
        "since": rfc3339(holder.since),
    }
    data = (json.dumps(record) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def _read_holder(fd: int) -> Holder | None:
    """The holder a locked file names (None when unreadable: it may be writing it right now)."""
    try:
        record = json.loads(os.pread(fd, 64 * 1024, 0).decode())
        return Holder(
            str(record["journal"]),
            int(record["pid"]),
            str(record["host"]),
            parse_instant(record["since"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def group_keys(plan: Plan) -> dict[str, str]:
    """The lock keys (ARM ids, lower case) of every group ``plan`` walks -> the plan's group name."""
    keys: dict[str, str] = {}
    for step in plan.steps:
        for key in _step_keys(step):
            keys.setdefault(key, step.group)
    return keys


def _step_keys(step: Step) -> Iterable[str]:
    parts = [vm.split("/") for vm in step.vms]
    sub = parts[0][2] if parts and len(parts[0]) > 2 else ""
    base = f"/subscriptions/{sub}/resourcegroups"
    if step.group.startswith("*/zonal:"):
        return sorted({f"{base}/{p[4]}/zonalvirtualmachines".lower() for p in parts if len(p) > 4})
    rg, _, name = step.group.partition("/")
    provider = f"{base}/{rg}/providers/microsoft.compute"
    segments = step.id.split("/")
    label = segments[2] if len(segments) > 2 else ""
    if any("/virtualmachinescalesets/" in vm.lower() for vm in step.vms):
        kind = "virtualmachinescalesets"  # a uniform scale set's instances name it
    elif re.fullmatch(r"ud\d+", label):
        kind = "availabilitysets"
    elif re.fullmatch(r"(fd\d+|zone.+)", label):
        kind = "virtualmachinescalesets"  # flexible: walked by fault domain or zone
    else:
        kind = "virtualmachines"  # a regional standalone VM is its own group
    return [f"{provider}/{kind}/{name}".lower()]


def lock_plan_groups(
    plan: Plan, journal: str | Path, locks: GroupLocks | None = None, since: dt.datetime | None = None
) -> Held:
    """Take the fleet locks of every group ``plan`` walks for the run on ``journal``, or raise
    :class:`GroupsLocked` (exit 2) naming who holds them. Release with ``.release()`` when the run
    ends (a process that dies releases them anyway)."""
    answer = (locks or FileGroupLocks()).acquire(group_keys(plan), Holder.this_process(journal, since))
    if isinstance(answer, Refusal):
        raise GroupsLocked(answer)
    return answer
