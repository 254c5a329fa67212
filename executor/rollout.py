"""udroll as a library: load a spec and fleet, plan, open or create a run, execute it, read its state.

This is what the CLI calls and what any Python caller uses (the way sqlite-utils is both a CLI and a
library). The layers below it::

    executor.cli      argument parsing, confirmation, output          (click, rich)
    executor.rollout  this module: the use cases, in plain Python
    executor.run      scheduling, a step's phases, a VM's state machine, journal, gates, hooks, clock
    executor.azure    the only code that imports azure.*; executor.emulator: the ARM emulator
    planner           pure: spec + fleet + start -> plan

Example::

    from executor import rollout

    outcome = rollout.simulate("plans/three-tier-shop.yaml", journal_dir="/tmp/shop-sim")
    print(outcome.state)                                   # "completed"
    print(rollout.status(rollout.open_journal("/tmp/shop-sim"))["state"])
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from executor import notify
from executor.run.backend import ComputeBackend
from executor.run.clock import Clock, SystemClock
from executor.run.context import Prober
from executor.run.events import FanOut, NullReporter, Reporter
from executor.run.gates import Check
from executor.run.journal import Journal, default_dir
from executor.run.runner import RunConfig, Runner, RunOutcome
from executor.run.status import run_status
from executor.run.store import JournalStore, is_url
from planner.build import DEFAULT_OPTIMIZE_S, build_plan
from planner.drift import what_changed
from planner.errors import InputError, UnschedulableError
from planner.fingerprint import fingerprint
from planner.fleet import VM, Fleet, load_fleet, parse_fleet
from planner.load import LoadedSpec, load_spec, parse_spec
from planner.plan import PLAN_FORMAT, Plan
from planner.spec import TierSettings
from planner.timefmt import plural, rfc3339

if TYPE_CHECKING:
    from executor.emulator.faults import Faults

ChecksFor = Callable[[VM, TierSettings], Sequence[Check]]

__all__ = [
    "Run",
    "RunOutcome",
    "bundled_example",
    "check_plan_matches",
    "create_run",
    "create_store",
    "execute",
    "live_fleet",
    "load",
    "make_plan",
    "open_journal",
    "open_run",
    "open_store",
    "planned_start",
    "simulate",
    "simulation_fleet",
    "status",
    "store_exists",
]


# --- what to run ---------------------------------------------------------------------------------


def bundled_example() -> str:
    """The path of the bundled three-tier example spec (the CLI's embedded default)."""
    from importlib.resources import files

    return str(files("plans") / "three-tier-shop.yaml")


def load(source: str, spec_path: str | None = None) -> tuple[LoadedSpec, Plan | None]:
    """A spec, or a plan JSON (which needs its spec, for health gates and hooks)."""
    text = Path(source).read_text(encoding="utf-8") if Path(source).is_file() else ""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InputError(f"{source}: not a spec (YAML) nor a plan (JSON): {exc}") from None
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            found = data.get("format") if isinstance(data, dict) else None
            raise InputError(f"{source}: format {found!r} is not a plan ({PLAN_FORMAT})")
        if not spec_path:
            raise InputError(
                f"{source} is a plan: pass --spec SPEC, the spec it was made from "
                "(its health gates and hooks are not in the plan)"
            )
        return load_spec(spec_path), Plan.from_dict(data)
    return load_spec(source), None


def live_fleet(loaded: LoadedSpec, backend: ComputeBackend, clock: Clock) -> Fleet:
    """The facts of the VMs the spec may select, read from Azure (only the resource groups named)."""
    groups: set[str] = set()
    everywhere = False
    for tier in loaded.spec.tiers:
        for selector in tier.select:
            found = selector.resource_groups
            everywhere |= not found
            groups |= found
    vms = backend.list_vms(None if everywhere else sorted(groups))
    return Fleet(captured_at=clock.now(), vms=tuple(vms))


def simulation_fleet(loaded: LoadedSpec, fleet_path: str | None) -> Fleet:
    """The fleet a simulation serves: a snapshot file, else the spec's inventory."""
    if fleet_path:
        return load_fleet(fleet_path)
    if loaded.inventory is not None:
        return loaded.inventory
    raise InputError(f"{loaded.file} has no inventory to simulate: pass --fleet FILE")


def check_plan_matches(
    plan: Plan, loaded: LoadedSpec, fleet: Fleet, fleet_is: str = "the live fleet"
) -> None:
    """Refuse a plan made from another spec or fleet than the ones at hand (InputError, exit 2),
    naming what changed. ``fleet_is`` says where the fleet came from (a simulation has no live one)."""
    if fingerprint(loaded.spec, fleet) != plan.fingerprint:
        changed = what_changed(plan, loaded.spec, fleet, loaded.file)
        raise InputError(
            f"the plan no longer matches the spec and {fleet_is}: {changed}. "
            f"Make a new plan (`udroll plan {loaded.file}`) or run the spec directly"
        )


def planned_start(loaded: LoadedSpec, clock: Clock, simulated: bool) -> dt.datetime:
    """A simulation starts at the spec's window (bundled examples have fixed dates); a run now."""
    if simulated and loaded.spec.window.not_before:
        return loaded.spec.window.not_before
    now = clock.now().astimezone(dt.timezone.utc).replace(microsecond=0)
    return now + dt.timedelta(seconds=1)


def make_plan(
    loaded: LoadedSpec,
    fleet: Fleet,
    start: dt.datetime,
    allow_partial: bool = False,
    *,
    optimize_s: float = DEFAULT_OPTIMIZE_S,
    seed: int = 0,
) -> Plan:
    """build_plan (the solver's budget ``optimize_s``, 0 for the greedy only, and its ``seed``),
    refusing a plan with unschedulable VMs unless partial plans are allowed (exit 3)."""
    plan = build_plan(loaded.spec, fleet, start, source=loaded.file, optimize_s=optimize_s, seed=seed)
    refuse_unschedulable(plan, allow_partial)
    return plan


def refuse_unschedulable(plan: Plan, allow_partial: bool) -> None:
    if plan.unschedulable and not allow_partial:
        raise UnschedulableError(
            f"{plural(len(plan.unschedulable), 'VM')} cannot be scheduled (reasons above); "
            "Azure will maintain them in its scheduled window. Pass --allow-partial to "
            "run the plan without them."
        )


# --- runs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A run restored from its journal: what it was planned from."""

    journal: JournalStore
    loaded: LoadedSpec
    plan: Plan
    fleet: Fleet

    @property
    def simulated(self) -> bool:
        return self.journal.meta("simulated") == "1"


def store_exists(location: str | Path) -> bool:
    """Whether ``--journal`` (a directory or a blob URL) holds a run already."""
    if is_url(location):
        from executor.azure.blob_journal import BlobJournal

        return BlobJournal.exists(str(location))
    return Journal.exists(location)


def plan_steps(plan: Plan) -> list[tuple[str, str, list[str]]]:
    """The ``(step, tier, vms)`` rows a new journal starts from."""
    return [(s.id, s.tier, list(s.vms)) for s in plan.steps]


def plan_journal(directory: str | Path, plan: Plan) -> Journal:
    """A bare local journal of ``plan`` (no spec or fleet): for harnesses driving a Runner themselves."""
    return Journal.create(Path(directory), {"plan": plan.to_json()}, plan_steps(plan))


def create_store(
    location: str | Path, meta: dict[str, str], steps: list[tuple[str, str, list[str]]]
) -> JournalStore:
    """A new journal at ``location``, locked by this process: SQLite in a directory, or Azure Blob Storage."""
    if is_url(location):
        from executor.azure.blob_journal import BlobJournal

        return BlobJournal.create(str(location), meta, steps)
    return Journal.create(Path(location), meta, steps)


def open_store(location: str | Path) -> JournalStore:
    """An existing run's journal: a directory (SQLite) or a URL (Azure Blob Storage, issue 16)."""
    if is_url(location):
        from executor.azure.blob_journal import BlobJournal

        return BlobJournal.open(str(location))
    return Journal.open(location)


def create_run(
    directory: str | Path,
    loaded: LoadedSpec,
    plan: Plan,
    fleet: Fleet,
    clock: Clock,
    confirm: str = "never",
    simulated: bool = False,
    emulator: str | None = None,
    subscription: str | None = None,
) -> JournalStore:
    """A new journal holding everything a later `resume` needs (spec text, plan, fleet)."""
    meta = {
        "plan": plan.to_json(),
        "spec_text": loaded.text,
        "spec_file": loaded.file,
        "spec_dir": str(Path(loaded.file).resolve().parent),
        "fleet": fleet.to_json(),
        "confirm": confirm,
        "simulated": "1" if simulated else "0",
        "created_at": rfc3339(clock.now()),
        # real time, whatever the run's clock (simulated, emulated): `udroll runs` sorts by it
        "created_wall": dt.datetime.now(dt.timezone.utc).isoformat(),  # to the microsecond: an order
    }
    if emulator:
        meta["emulator"] = str(Path(emulator).resolve())
    if subscription:
        meta["subscription"] = subscription
    return create_store(directory, meta, plan_steps(plan))


def open_journal(directory: str | Path) -> JournalStore:
    return open_store(directory)


def open_run(journal: JournalStore) -> Run:
    """The spec, plan and fleet a journal was created with."""
    loaded = parse_spec(journal.meta("spec_text") or "", journal.meta("spec_file") or "<spec>")
    plan = Plan.from_dict(json.loads(journal.meta("plan") or "{}"))
    fleet = parse_fleet(journal.meta("fleet") or "{}", f"{journal.location}/fleet")
    return Run(journal, loaded, plan, fleet)


def execute(
    journal: JournalStore,
    plan: Plan,
    loaded: LoadedSpec,
    fleet: Fleet,
    backend: ComputeBackend,
    clock: Clock,
    reporter: Reporter | None = None,
    confirm: Callable[[str], bool] | None = None,
    confirm_mode: str = "never",
    checks_for: ChecksFor | None = None,
    retry_failed: bool = False,
    control_interval: float = 5.0,
    prober: Prober | None = None,
    notify_drain: float = 10.0,
    until_idle: bool = False,
) -> RunOutcome:
    """Execute (or continue) the run in ``journal`` with ``backend`` on ``clock``; how it ended.

    The spec's `notify:` sinks get the run's events in the background (executor.notify); deliveries
    still pending when the run ends get ``notify_drain`` seconds (wall time) to finish."""
    workdir = _workdir(journal, loaded)
    held = lock_groups(journal, plan, clock)  # refused (exit 2) before anything is started
    notifications = None
    try:
        notifications = notify.start(loaded.spec, plan, fleet, journal, clock, loaded.file, workdir)
        if notifications is not None:
            reporter = FanOut(reporter or NullReporter(), notifications.notifier)
        config = RunConfig(
            confirm=confirm_mode,
            retry_failed=retry_failed,
            control_interval=control_interval,
            workdir=workdir,
            until_idle=until_idle,
        )
        return Runner(
            journal,
            plan,
            loaded.spec,
            fleet,
            backend,
            clock,
            reporter,
            confirm=confirm if confirm_mode != "never" else None,
            checks_for=checks_for,
            config=config,
            prober=prober,
            step_events=notifications.gate if notifications else None,
        ).run()
    finally:
        if notifications is not None:
            notifications.close(notify_drain)
        held.release()


class _NoLocks:
    def release(self) -> None:
        pass


def lock_groups(journal: JournalStore, plan: Plan, clock: Clock) -> Any:
    """The fleet lock: the run holds every group it walks, machine-wide for a local journal, in the
    journal's storage account for a blob journal, so a second run that would walk one of them is
    refused (exit 2, naming the holder). A simulation walks an emulated fleet and takes none."""
    if journal.meta("simulated") == "1":
        return _NoLocks()
    from executor.run.locks import group_keys, lock_plan_groups

    location = journal.location
    if "://" not in location:
        return lock_plan_groups(plan, location, since=clock.now())
    from executor.azure.blob_locks import BlobGroupLocks

    locks = BlobGroupLocks(location)
    locks.acquire(sorted(group_keys(plan)), f"{location}")
    return locks


def export_run(source: str | Path, target: str | Path) -> JournalStore:
    """Copy the run at ``source`` to a new journal at ``target`` (directories or URLs, either way round)."""
    from executor.run.export import copy_rows, layout

    original = open_store(source)
    try:
        if original.is_locked():
            raise InputError(
                f"a runner is running {original.location}: pause it first (`udroll pause --journal "
                f"{original.location}`), then export"
            )
        copy = create_store(target, original.all_meta(), layout(original))
        try:
            copy_rows(original, copy)
        finally:
            copy.close()
        return copy
    finally:
        original.close()


def _workdir(journal: JournalStore, loaded: LoadedSpec) -> str:
    """Hooks run in the spec's directory; a run resumed on another machine (a blob journal) runs them
    in the current directory when that directory does not exist here."""
    for candidate in (journal.meta("spec_dir"), str(Path(loaded.file).resolve().parent)):
        if candidate and Path(candidate).is_dir():
            return candidate
    return str(Path.cwd())


def simulation_dir(loaded: LoadedSpec, journal_dir: str | None) -> Path:
    """A fresh journal directory for a simulation (a given one must not hold a journal yet)."""
    if journal_dir and is_url(journal_dir):
        raise InputError("a --simulate run keeps its journal in a directory: pass a directory to --journal")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    directory = Path(journal_dir) if journal_dir else default_dir(loaded.spec.name) / "simulations" / stamp
    if Journal.exists(directory):
        raise InputError(f"{directory} already holds a run's journal: pass another --journal directory")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def simulate(
    spec: str | LoadedSpec,
    fleet: Fleet | None = None,
    journal_dir: str | None = None,
    speed: float | None = None,
    faults: Faults | None = None,
    reporter: Reporter | None = None,
    allow_partial: bool = False,
    *,
    optimize_s: float = DEFAULT_OPTIMIZE_S,
    seed: int = 0,
) -> RunOutcome:
    """Plan a spec (``optimize_s`` and ``seed`` as for make_plan) and run it against an in-process
    emulator in compressed time, unattended."""
    from executor.simulation import DEFAULT_SPEED, control_interval, simulation

    loaded = load_spec(spec) if isinstance(spec, str) else spec
    fleet = fleet or simulation_fleet(loaded, None)
    start = planned_start(loaded, SystemClock(), True)
    plan = make_plan(loaded, fleet, start, allow_partial, optimize_s=optimize_s, seed=seed)
    directory = simulation_dir(loaded, journal_dir)
    speed = speed or DEFAULT_SPEED
    with simulation(fleet, plan, speed, faults, log_path=directory / "emulator-requests.jsonl") as sim:
        journal = create_run(directory, loaded, plan, fleet, sim.clock, simulated=True)
        try:
            return execute(
                journal,
                plan,
                loaded,
                fleet,
                sim.backend,
                sim.clock,
                reporter,
                checks_for=sim.checks_for,
                control_interval=control_interval(speed),
            )
        finally:
            journal.close()


# --- reading a run -------------------------------------------------------------------------------

STOPPED = ("halted", "paused", "aborted", "completed")


def status(journal: JournalStore, clock: Clock | None = None) -> dict[str, Any]:
    """A run's state as data: per step what is done, running, or waiting for what and until when."""
    return run_status(journal, clock)
