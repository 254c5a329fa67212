"""The run journal (DESIGN §7): one SQLite database per run, the runner's durable memory.

Layout of a journal directory (default ``.udroll/<name>/``)::

    journal.db    SQLite, WAL, synchronous=FULL: plan, spec, fleet, every transition, handles,
                  gate evidence, hook output, control requests
    events.jsonl  the JSON-lines audit trail (executor.run.events.JsonLinesReporter)
    lock          flock'ed by the one runner allowed on this journal

Every write commits before the call returns, so a ``kill -9`` loses nothing that was reported as
done. The Azure call itself cannot share a transaction: the runner journals the *intent*, calls,
then journals the *handle* (STYLE 7); an intent without a handle is reconciled from Azure's status
before anything is triggered again.

Exit codes: a second runner on a locked journal gets :class:`JournalLocked` (exit 2, an input
problem: "someone else is running this journal; use status/pause/abort").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from executor.run.private import open_private, private_dir, tighten
from planner.errors import InputError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    id TEXT PRIMARY KEY, tier TEXT NOT NULL, position INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'waiting',   -- waiting | running | done | failed | skipped
    phase TEXT,                              -- baseline | before_step | maintenance | after_step
    started_at TEXT, ended_at TEXT, error TEXT, waiting_for TEXT, waiting_until TEXT
);
CREATE TABLE IF NOT EXISTS vms (
    vm TEXT PRIMARY KEY, step TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | intent | triggered | retry | completed |
                                             -- gating | healthy | skipped | failed
    attempts INTEGER NOT NULL DEFAULT 0, token TEXT, intent_at TEXT, triggered_at TEXT,
    completed_at TEXT, running_at TEXT, healthy_at TEXT, retry_at TEXT,
    result TEXT, message TEXT, reschedule INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS triggers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, vm TEXT NOT NULL, step TEXT NOT NULL,
    at TEXT NOT NULL, token TEXT
);
CREATE TABLE IF NOT EXISTS transitions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL,
    step TEXT, vm TEXT, message TEXT, data TEXT
);
CREATE TABLE IF NOT EXISTS gates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, step TEXT NOT NULL, vm TEXT,
    kind TEXT NOT NULL, target TEXT NOT NULL, ok INTEGER NOT NULL, detail TEXT
);
CREATE TABLE IF NOT EXISTS hooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, step TEXT NOT NULL,
    which TEXT NOT NULL, argv TEXT NOT NULL, rc INTEGER, output TEXT
);
CREATE TABLE IF NOT EXISTS control (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, command TEXT NOT NULL,
    arg TEXT, handled_at TEXT
);
"""

DB_NAME = "journal.db"
LOCK_NAME = "lock"
EVENTS_NAME = "events.jsonl"
PRIVATE_FILES = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", LOCK_NAME, EVENTS_NAME)


class JournalLocked(InputError):
    """Another runner holds this journal (exit 2)."""


def ts(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def parse_ts(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def default_dir(name: str) -> Path:
    return Path(".udroll") / name


@dataclass(frozen=True)
class StepRow:
    id: str
    tier: str
    position: int
    state: str
    phase: str | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    error: str | None
    waiting_for: str | None
    waiting_until: dt.datetime | None


@dataclass(frozen=True)
class VMRow:
    vm: str
    step: str
    state: str
    attempts: int
    token: str | None
    intent_at: dt.datetime | None
    triggered_at: dt.datetime | None
    completed_at: dt.datetime | None
    running_at: dt.datetime | None
    healthy_at: dt.datetime | None
    retry_at: dt.datetime | None
    result: str | None
    message: str | None
    reschedule: bool


@dataclass(frozen=True)
class Control:
    seq: int
    command: str  # pause | abort | skip
    arg: str | None


class Journal:
    """One run's database. Open with :meth:`create` (new run) or :meth:`open` (existing run)."""

    def __init__(self, directory: Path, conn: sqlite3.Connection):
        self.dir = directory
        self._conn = conn
        self._mutex = threading.RLock()
        self._lock_fd: int | None = None

    # --- opening -------------------------------------------------------------------------------

    # FULL: a commit is on disk before the Azure call it announces. Tests over a fake clock may
    # pass "OFF" (nothing there survives the process anyway); the product never does.
    synchronous = "FULL"

    @classmethod
    def _connect(cls, directory: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(directory / DB_NAME, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={cls.synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @classmethod
    def exists(cls, directory: str | Path) -> bool:
        return (Path(directory) / DB_NAME).exists()

    @classmethod
    def create(
        cls, directory: str | Path, meta: dict[str, str], steps: list[tuple[str, str, list[str]]]
    ) -> Journal:
        """A new journal for a run: ``meta`` (plan, spec, fleet, options) and ``(step, tier, vms)``."""
        path = Path(directory)
        if cls.exists(path):
            raise InputError(
                f"{path} already holds a run's journal: continue it with `udroll resume --journal {path}`, "
                "look at it with `udroll status`, or pass another --journal directory"
            )
        private_dir(path)
        holder = cls(path, sqlite3.connect(":memory:"))
        holder.lock()  # a concurrent creator is refused before it writes anything
        # built aside and renamed into place: a crash mid-creation leaves no half journal behind
        fresh = path / (DB_NAME + ".new")
        fresh.unlink(missing_ok=True)
        os.close(open_private(fresh, os.O_RDWR))  # SQLite keeps the mode of a file that exists
        conn = sqlite3.connect(fresh, isolation_level=None)
        conn.executescript(SCHEMA)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", sorted(meta.items()))
        for position, (step, tier, vms) in enumerate(steps):
            conn.execute("INSERT INTO steps(id, tier, position) VALUES (?, ?, ?)", (step, tier, position))
            conn.executemany("INSERT INTO vms(vm, step) VALUES (?, ?)", [(vm, step) for vm in vms])
        conn.execute("COMMIT")
        conn.close()
        os.replace(fresh, path / DB_NAME)
        directory_fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
        journal = cls(path, cls._connect(path))
        journal._lock_fd, holder._lock_fd = holder._lock_fd, None
        holder._conn.close()
        return journal

    @classmethod
    def open(cls, directory: str | Path) -> Journal:
        path = Path(directory)
        if not cls.exists(path):
            raise InputError(f"no journal in {path}: pass the --journal directory `udroll run` used")
        tighten(path, PRIVATE_FILES)
        conn = cls._connect(path)
        conn.executescript(SCHEMA)  # idempotent: tolerates a journal created before a new table
        return cls(path, conn)

    @property
    def location(self) -> str:
        """What `--journal` takes to reach this run again."""
        return str(self.dir)

    def refresh(self) -> None:
        """Nothing to do: every read of SQLite sees what other processes committed."""

    def lock(self) -> None:
        """Take the runner lock, or say who has it (a second runner is refused, exit 2)."""
        fd = open_private(self.dir / LOCK_NAME, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise JournalLocked(
                f"another udroll runner (pid {holder}) is running the journal in {self.dir}: "
                f"watch it with `udroll status --journal {self.dir}`, or stop it with "
                f"`udroll pause` / `udroll abort --journal {self.dir}`"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def is_locked(self) -> bool:
        """Whether some runner (maybe this process) holds the lock right now."""
        if self._lock_fd is not None:
            return True
        fd = open_private(self.dir / LOCK_NAME, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing releases a lock we may just have taken
        return False

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        self.unlock()
        with self._mutex:
            self._conn.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._mutex:
            return self._conn.execute(sql, args).fetchall()

    # --- meta ----------------------------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._all("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def all_meta(self) -> dict[str, str]:
        return dict(self._all("SELECT key, value FROM meta ORDER BY key"))  # type: ignore[arg-type]

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                (key, value, value),
            )

    @property
    def run_state(self) -> str:
        """new | running | paused | halted | aborted | completed."""
        return self.meta("state", "new") or "new"

    def set_run_state(self, state: str, at: dt.datetime, message: str = "") -> None:
        with self._tx() as c:
            for key, value in (("state", state), ("state_at", ts(at)), ("state_message", message)):
                c.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                    (key, value, value),
                )

    # --- steps ---------------------------------------------------------------------------------

    def steps(self) -> list[StepRow]:
        rows = self._all(
            "SELECT id, tier, position, state, phase, started_at, ended_at, error, "
            "waiting_for, waiting_until FROM steps ORDER BY position"
        )
        return [
            StepRow(r[0], r[1], r[2], r[3], r[4], parse_ts(r[5]), parse_ts(r[6]), r[7], r[8], parse_ts(r[9]))
            for r in rows
        ]

    def step(self, step_id: str) -> StepRow:
        for row in self.steps():
            if row.id == step_id:
                return row
        raise KeyError(step_id)

    def update_step(self, step_id: str, **fields: Any) -> None:
        self._update("steps", "id", step_id, fields)

    def set_waiting(self, step_id: str, reason: str | None, until: dt.datetime | None) -> None:
        """Why a step waits (only written when it changes: status reads it, nothing depends on it)."""
        self.update_step(step_id, waiting_for=reason, waiting_until=until)

    # --- VMs -----------------------------------------------------------------------------------

    def vms(self, step_id: str | None = None) -> list[VMRow]:
        sql = (
            "SELECT vm, step, state, attempts, token, intent_at, triggered_at, completed_at, running_at, "
            "healthy_at, retry_at, result, message, reschedule FROM vms"
        )
        rows = self._all(
            sql + (" WHERE step = ? ORDER BY rowid" if step_id else " ORDER BY rowid"),
            (step_id,) if step_id else (),
        )
        return [
            VMRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                parse_ts(r[5]),
                parse_ts(r[6]),
                parse_ts(r[7]),
                parse_ts(r[8]),
                parse_ts(r[9]),
                parse_ts(r[10]),
                r[11],
                r[12],
                bool(r[13]),
            )
            for r in rows
        ]

    def vm(self, vm: str) -> VMRow:
        for row in self.vms():
            if row.vm == vm:
                return row
        raise KeyError(vm)

    def update_vm(self, vm: str, **fields: Any) -> None:
        self._update("vms", "vm", vm, fields)

    def record_intent(self, vm: str, at: dt.datetime) -> None:
        """Durably note that we are about to call perform-maintenance on ``vm``."""
        with self._tx() as c:
            c.execute(
                "UPDATE vms SET state = 'intent', intent_at = ?, token = NULL, "
                "attempts = attempts + 1 WHERE vm = ?",
                (ts(at), vm),
            )

    def record_trigger(self, vm: str, step: str, token: str, at: dt.datetime) -> None:
        """Durably note the handle of an accepted perform-maintenance."""
        with self._tx() as c:
            c.execute(
                "UPDATE vms SET state = 'triggered', token = ?, triggered_at = ? WHERE vm = ?",
                (token, ts(at), vm),
            )
            c.execute(
                "INSERT INTO triggers(vm, step, at, token) VALUES (?, ?, ?, ?)", (vm, step, ts(at), token)
            )

    def triggers(self) -> list[tuple[str, str, dt.datetime]]:
        return [
            (r[0], r[1], dt.datetime.fromisoformat(r[2]))
            for r in self._all("SELECT vm, step, at FROM triggers ORDER BY seq")
        ]

    def _update(self, table: str, key: str, value: str, fields: dict[str, Any]) -> None:
        if not fields:
            return
        names = ", ".join(f"{name} = ?" for name in fields)
        values = [ts(v) if isinstance(v, dt.datetime) else v for v in fields.values()]
        with self._tx() as c:
            c.execute(f"UPDATE {table} SET {names} WHERE {key} = ?", (*values, value))

    # --- evidence ------------------------------------------------------------------------------

    def record_transition(
        self,
        at: dt.datetime,
        kind: str,
        step: str | None,
        vm: str | None,
        message: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO transitions(at, kind, step, vm, message, data) VALUES (?, ?, ?, ?, ?, ?)",
                (ts(at), kind, step, vm, message, json.dumps(data or {}, default=str)),
            )

    def transitions(self) -> list[dict[str, Any]]:
        rows = self._all("SELECT at, kind, step, vm, message, data FROM transitions ORDER BY seq")
        return [
            {
                "at": r[0],
                "kind": r[1],
                "step": r[2],
                "vm": r[3],
                "message": r[4],
                "data": json.loads(r[5] or "{}"),
            }
            for r in rows
        ]

    def record_gates(
        self, at: dt.datetime, step: str, rows: Sequence[tuple[str | None, str, str, bool, str]]
    ) -> None:
        """One round of probes, ``(vm, kind, target, ok, detail)`` each, in one transaction."""
        with self._tx() as c:
            c.executemany(
                "INSERT INTO gates(at, step, vm, kind, target, ok, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(ts(at), step, vm, kind, target, int(ok), detail) for vm, kind, target, ok, detail in rows],
            )

    def gates(self, step: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT at, step, vm, kind, target, ok, detail FROM gates"
        rows = self._all(
            sql + (" WHERE step = ? ORDER BY seq" if step else " ORDER BY seq"), (step,) if step else ()
        )
        return [
            {
                "at": r[0],
                "step": r[1],
                "vm": r[2],
                "kind": r[3],
                "target": r[4],
                "ok": bool(r[5]),
                "detail": r[6],
            }
            for r in rows
        ]

    def record_hook(
        self, at: dt.datetime, step: str, which: str, argv: list[str], rc: int | None, output: str
    ) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO hooks(at, step, which, argv, rc, output) VALUES (?, ?, ?, ?, ?, ?)",
                (ts(at), step, which, json.dumps(argv), rc, output),
            )

    def hooks(self, step: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT at, step, which, argv, rc, output FROM hooks"
        rows = self._all(
            sql + (" WHERE step = ? ORDER BY seq" if step else " ORDER BY seq"), (step,) if step else ()
        )
        return [
            {"at": r[0], "step": r[1], "which": r[2], "argv": json.loads(r[3]), "rc": r[4], "output": r[5]}
            for r in rows
        ]

    # --- control (another terminal talks to the runner through these rows) -----------------------

    def request(self, command: str, arg: str | None, at: dt.datetime) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO control(at, command, arg) VALUES (?, ?, ?)", (ts(at), command, arg))

    def pending_controls(self) -> list[Control]:
        rows = self._all("SELECT seq, command, arg FROM control WHERE handled_at IS NULL ORDER BY seq")
        return [Control(r[0], r[1], r[2]) for r in rows]

    def requests(self) -> list[dict[str, Any]]:
        """Every control request, handled or not (for `journal export`)."""
        rows = self._all("SELECT seq, at, command, arg, handled_at FROM control ORDER BY seq")
        return [{"seq": r[0], "at": r[1], "command": r[2], "arg": r[3], "handled_at": r[4]} for r in rows]

    def handled(self, control: Control, at: dt.datetime) -> None:
        with self._tx() as c:
            c.execute("UPDATE control SET handled_at = ? WHERE seq = ?", (ts(at), control.seq))
