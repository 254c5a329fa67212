"""`udroll run` and `udroll resume` (DESIGN §7, §8): parse, call executor.rollout, render.

Exit codes: 0 done; 2 bad input, a locked journal, or a prompt needed without a terminal; 3 VMs that
cannot be scheduled (without --allow-partial); 4 halted (a failed step, an abort); 5 Azure;
130 paused (Ctrl-C, `udroll pause`, or a declined confirmation).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from executor import rollout
from executor.azure.connect import AzureOptions, azure_options, connect, read_ready_file
from executor.cli.common import (
    CONFIRM,
    SIMULATION_ENDED,
    clock_of,
    dep,
    journal_option,
    needs_prompt,
    refuse_without_tty,
    until_idle_option,
)
from executor.cli.console import LiveConsole, PlainConsole
from executor.cli.display import display_zone, text_width, tz_option, wide_option
from executor.cli.plan import Planning, optimize_options
from executor.rollout import ChecksFor
from executor.run.backend import ComputeBackend
from executor.run.clock import Clock, SystemClock
from executor.run.journal import default_dir
from executor.run.runner import RunOutcome
from executor.run.status import without_resume_hint
from executor.run.store import WAITING, JournalStore, is_url
from executor.simulation import DEFAULT_SPEED, control_interval, emulator_checks, simulation
from planner.errors import AzureError, InputError, Interrupted, RunHalted
from planner.fleet import Fleet, load_fleet
from planner.load import LoadedSpec
from planner.plan import Plan
from planner.render import RENDERERS as PREVIEWS
from planner.render import Preview
from planner.timefmt import human_time, plural


def _preview(plan: Plan, loaded: LoadedSpec, fleet: Fleet, zone: dt.tzinfo, wide: bool = False) -> None:
    to_terminal = sys.stdout.isatty()
    preview = Preview(
        plan, loaded.spec, fleet, width=text_width(to_terminal, 120), color=to_terminal, tz=zone, wide=wide
    )
    click.echo(PREVIEWS["table"](preview), nl=False)


def _accept(obj: Any, plan: Plan, confirm: str, yes: bool, allow_partial: bool) -> bool:
    """Whether to go ahead with this plan (False: nothing to do)."""
    rollout.refuse_unschedulable(plan, allow_partial)
    if not plan.steps:
        click.echo("Nothing to do: no VM needs maintenance.")
        return False
    if needs_prompt(confirm, yes):
        ask = dep(obj, "confirm") or (lambda q: click.confirm(q, default=False))
        if not ask(
            f"Start the rollout of {plural(len(plan.steps), 'step')} "
            f"({plural(sum(len(s.vms) for s in plan.steps), 'VM')})?"
        ):
            raise click.Abort()
    return True


def _execute(
    obj: Any,
    journal: JournalStore,
    run: rollout.Run,
    backend: ComputeBackend,
    clock: Clock,
    confirm: str,
    yes: bool,
    checks_for: ChecksFor | None,
    retry_failed: bool = False,
    control: float = 5.0,
    until_idle: bool = False,
    zone: dt.tzinfo = dt.timezone.utc,
) -> None:
    """Drive the run with the live view (a TTY) or plain lines, then turn its outcome into an exit."""
    live = dep(obj, "live")
    live = sys.stdout.isatty() if live is None else live
    console: Any = LiveConsole(run.plan, clock, zone=zone) if live else PlainConsole()
    if live:
        console.restore(journal.steps(), journal.vms())  # a resumed run: its steps as they are
    mode = "never" if yes else confirm
    simulated = run.simulated
    try:
        with console:
            outcome = rollout.execute(
                journal,
                run.plan,
                run.loaded,
                run.fleet,
                backend,
                clock,
                console,
                confirm=dep(obj, "confirm") or console.prompt,
                confirm_mode=mode,
                checks_for=checks_for,
                retry_failed=retry_failed,
                control_interval=control,
                prober=dep(obj, "prober"),
                until_idle=until_idle,
            )
    finally:
        journal.close()
    _finish(outcome, journal, simulated)


def _finish(outcome: RunOutcome, journal: JournalStore, simulated: bool = False) -> None:
    where = f"--journal {journal.location}"
    if outcome.reschedule:
        click.echo(
            f"Azure will reschedule {plural(len(outcome.reschedule), 'VM')} whose maintenance was aborted: "
            + ", ".join(vm.rsplit("/", 1)[-1] for vm in outcome.reschedule),
            err=True,
        )
    if outcome.state == "completed":
        click.echo(f"Rollout complete. Report: udroll report {where}")
        return
    if outcome.state == WAITING:
        click.echo(f"Run {outcome.message}. Continue: udroll resume {where} --until-idle")
        return
    message = without_resume_hint(outcome.message)
    paused = message[:1].upper() + message[1:]  # a pause was asked for: said as a fact, not an error
    if simulated:
        if outcome.state == "paused":
            raise Interrupted(f"{paused}; {SIMULATION_ENDED}")
        raise RunHalted(f"{message}; {SIMULATION_ENDED}. Status: udroll status {where}")
    if outcome.state == "paused" and outcome.azure_unavailable:
        raise AzureError(f"{message}. Once Azure answers again: udroll resume {where}")
    if outcome.state == "paused":
        raise Interrupted(f"{paused}. Continue: udroll resume {where}")
    raise RunHalted(f"{outcome.message}. Status: udroll status {where}")


def _emulated(azure: AzureOptions, clock: Clock) -> tuple[ChecksFor | None, float]:
    """Against `udroll emulator serve`: its health endpoints, and a control interval for its speed."""
    if not azure.emulator:
        return None, 5.0
    info = read_ready_file(azure.emulator)
    return emulator_checks(info.base_url, info.ca_bundle), control_interval(
        float(getattr(clock, "speed", 1.0))
    )


@click.command("run")
@click.argument("source", required=False, type=click.Path(dir_okay=False), metavar="SPEC|PLAN")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), help="The spec of a PLAN file.")
@click.option(
    "--fleet",
    "fleet_path",
    type=click.Path(dir_okay=False),
    help="Fleet snapshot to plan with (default: the live fleet; with --simulate the spec's inventory).",
)
@click.option(
    "--journal",
    "journal_dir",
    metavar="DIR|URL",
    envvar="UDROLL_JOURNAL",
    help="Journal directory (default: .udroll/<name>/; simulations get a fresh one below it), or an "
    "Azure Storage URL https://ACCOUNT.blob.core.windows.net/CONTAINER/RUN for runs on several machines.",
)
@click.option(
    "--confirm",
    type=CONFIRM,
    default="tier",
    show_default=True,
    help="Ask before each step, before each tier's first step, or never.",
)
@click.option("--yes", "-y", is_flag=True, help="Answer yes to every confirmation (non-interactive runs).")
@click.option("--allow-partial", is_flag=True, help="Run even if some VMs cannot be scheduled.")
@click.option("--simulate", is_flag=True, help="Run against an in-process emulator in compressed time.")
@click.option(
    "--speed",
    type=click.FloatRange(min=1),
    default=DEFAULT_SPEED,
    show_default=True,
    help="With --simulate: simulated seconds per real second.",
)
@click.option(
    "--faults", type=click.Path(exists=True, dir_okay=False), help="With --simulate: a faults file."
)
@optimize_options
@until_idle_option
@tz_option
@wide_option
@azure_options
@click.pass_obj
def run(
    obj: Any,
    source: str | None,
    spec_path: str | None,
    fleet_path: str | None,
    journal_dir: str | None,
    confirm: str,
    yes: bool,
    allow_partial: bool,
    simulate: bool,
    speed: float,
    faults: str | None,
    planning: Planning,
    until_idle: bool,
    tz: str | None,
    wide: bool,
    azure: AzureOptions,
) -> None:
    """Run a rollout: plan it (or load a plan), preview it, confirm, and execute it step by step.

    Steps start when their predecessors have ended plus the recovery gap, capacity and parallelism
    allow, the windows are open and you confirmed. Ctrl-C pauses (exit 130); a failed step halts
    the run (exit 4). Everything is journalled: continue with `udroll resume`.

    \b
    Examples:
      udroll run --simulate --yes                       # the bundled example, in ~35 s
      udroll run plans/three-tier-shop.yaml --simulate --faults faults.yaml --yes
      udroll run shop.yaml --confirm step               # ask before every step
      udroll run plan.json --spec shop.yaml --yes --journal /var/lib/udroll/shop
      udroll run shop.yaml --yes --until-idle --journal https://acct.blob.core.windows.net/udroll/shop
    """
    source = _source(source, simulate, bool(faults) or speed != DEFAULT_SPEED, until_idle)
    display_zone(tz)  # a bad --tz before anything else
    loaded, given = rollout.load(source, spec_path)
    refuse_without_tty(obj, confirm, yes)
    shown = (display_zone(tz, loaded.spec.window.timezone), wide)
    if simulate:
        asked = (confirm, yes, allow_partial)
        _run_simulated(obj, loaded, given, fleet_path, journal_dir, asked, speed, faults, planning, shown)
        return
    clock = dep(obj, "clock")
    backend = dep(obj, "backend") or connect(
        azure, default_subscription=loaded.spec.subscription, clock=clock
    )
    clock = clock or getattr(backend, "clock", None) or SystemClock()
    fleet, plan = _live_plan(loaded, given, fleet_path, backend, clock, planning)
    _preview(plan, loaded, fleet, *shown)
    if not _accept(obj, plan, confirm, yes, allow_partial):
        return
    checks, control = _emulated(azure, clock)
    directory: str | Path = journal_dir or default_dir(loaded.spec.name)
    journal = rollout.create_run(
        directory, loaded, plan, fleet, clock, confirm, False, azure.emulator, azure.subscription
    )
    run_ = rollout.Run(journal, loaded, plan, fleet)
    _execute(obj, journal, run_, backend, clock, confirm, yes, checks, False, control, until_idle, shown[0])


def _live_plan(
    loaded: LoadedSpec,
    given: Plan | None,
    fleet_path: str | None,
    backend: Any,
    clock: Clock,
    planning: Planning,
) -> tuple[Fleet, Plan]:
    """The fleet (live, or a snapshot) and the plan: the one given, checked against it, or a new one."""
    fleet = load_fleet(fleet_path) if fleet_path else rollout.live_fleet(loaded, backend, clock)
    if given is not None:
        where = f"the fleet snapshot {fleet_path}" if fleet_path else "the live fleet"
        rollout.check_plan_matches(given, loaded, fleet, where)
    return fleet, given or _make_plan(loaded, fleet, rollout.planned_start(loaded, clock, False), planning)


def _make_plan(loaded: LoadedSpec, fleet: Fleet, start: dt.datetime, planning: Planning) -> Plan:
    """The plan to run, made with --optimize and --seed (unschedulable VMs are refused at _accept)."""
    return rollout.make_plan(loaded, fleet, start, True, optimize_s=planning.optimize_s, seed=planning.seed)


def _source(source: str | None, simulate: bool, simulation_options: bool, until_idle: bool) -> str:
    """The SPEC or PLAN to run (the bundled example for a bare --simulate); usage errors first."""
    if source is None and not simulate:
        raise click.UsageError("give a SPEC or PLAN to run (or --simulate to run the bundled example)")
    if simulation_options and not simulate:
        raise click.UsageError("--speed and --faults go with --simulate")
    if simulate and until_idle:
        raise click.UsageError("--until-idle cannot go with --simulate (a simulation cannot be resumed)")
    return source or rollout.bundled_example()


def _run_simulated(
    obj: Any,
    loaded: LoadedSpec,
    given: Plan | None,
    fleet_path: str | None,
    journal_dir: str | None,
    asked: tuple[str, bool, bool],
    speed: float,
    faults: str | None,
    planning: Planning,
    shown: tuple[dt.tzinfo, bool],
) -> None:
    """`run --simulate`: the same preview and questions (``asked``: --confirm, --yes, --allow-partial)
    against an in-process emulator."""
    confirm, yes, allow_partial = asked
    fault_set = None
    if faults:
        from executor.emulator.faults import load_faults

        fault_set = load_faults(faults)  # bad faults: located problems before any output or journal
    fleet = rollout.simulation_fleet(loaded, fleet_path)
    if given is not None:
        where = f"the fleet snapshot {fleet_path}" if fleet_path else "its inventory"
        rollout.check_plan_matches(given, loaded, fleet, where)
    start = rollout.planned_start(loaded, clock_of(obj), True)
    plan = given or _make_plan(loaded, fleet, start, planning)
    _preview(plan, loaded, fleet, *shown)
    if not _accept(obj, plan, confirm, yes, allow_partial):
        return
    directory = rollout.simulation_dir(loaded, journal_dir)
    click.echo(
        f"Simulating {plural(len(plan.steps), 'step')} at {speed:g}x from "
        f"{human_time(plan.start, shown[0])}; journal: {directory}",
        err=True,
    )
    with simulation(fleet, plan, speed, fault_set, log_path=directory / "emulator-requests.jsonl") as sim:
        journal = rollout.create_run(directory, loaded, plan, fleet, sim.clock, confirm, simulated=True)
        run_ = rollout.Run(journal, loaded, plan, fleet)
        _execute(
            obj,
            journal,
            run_,
            sim.backend,
            sim.clock,
            confirm,
            yes,
            sim.checks_for,
            control=control_interval(speed),
            zone=shown[0],
        )


@click.command()
@journal_option
@click.option(
    "--retry-failed", is_flag=True, help="Retry the failed steps (VMs already maintained are only re-probed)."
)
@click.option("--confirm", type=CONFIRM, default="tier", show_default=True, help="As for `udroll run`.")
@click.option("--yes", "-y", is_flag=True, help="Answer yes to every confirmation.")
@until_idle_option
@tz_option
@azure_options
@click.pass_obj
def resume(
    obj: Any,
    journal_dir: str,
    retry_failed: bool,
    confirm: str,
    yes: bool,
    until_idle: bool,
    tz: str | None,
    azure: AzureOptions,
) -> None:
    """Continue a paused, halted, interrupted, crashed or waiting run from its journal.

    VMs with an intent but no handle are reconciled from Azure's status before any trigger;
    operations in flight resume from their handles; recovery gaps count the time the runner was down.
    With --until-idle (scheduled pipelines) a run paused by an operator is left alone (exit 0).

    \b
    Examples:
      udroll resume --journal .udroll/shop-prod --yes
      udroll resume --journal .udroll/shop-prod --retry-failed
      udroll resume --journal https://acct.blob.core.windows.net/udroll/shop --yes --until-idle
    """
    refuse_without_tty(obj, confirm, yes)
    display_zone(tz)  # a bad --tz before the journal is locked
    journal = _locked(journal_dir)
    try:
        state = journal.run_state
        if not _resumable(journal, state, until_idle):
            journal.close()
            return
        run_ = rollout.open_run(journal)
        stored = journal.meta("emulator")
        if stored and not (azure.emulator or azure.endpoint):
            azure = AzureOptions(azure.subscription, azure.cloud, None, None, stored)
        backend, clock = _connect(obj, azure, journal.meta("subscription") or run_.loaded.spec.subscription)
        checks, control = _emulated(azure, clock)
    except BaseException:
        journal.close()
        raise
    click.echo(f"Resuming {run_.plan.name} ({state}) from {journal.location}", err=True)
    zone = display_zone(tz, run_.loaded.spec.window.timezone)
    _execute(
        obj, journal, run_, backend, clock, confirm, yes, checks, retry_failed, control, until_idle, zone
    )


def _locked(location: str) -> JournalStore:
    """The run's journal, locked by this process; a blob run's lease held by a runner that died is
    waited for (it expires within a minute), a live runner's is never broken."""
    journal = rollout.open_store(location)
    try:
        if is_url(location) and journal.is_locked():
            click.echo(
                "Another runner holds the run's lease: waiting up to a minute in case that runner is gone",
                err=True,
            )
        journal.lock()
    except BaseException:
        journal.close()
        raise
    return journal


def _resumable(journal: JournalStore, state: str, until_idle: bool) -> bool:
    """Whether `resume` has anything to do (False: said why, exit 0); raises for runs that cannot go on."""
    where = journal.location
    if state == "completed":
        click.echo("This run already completed. Report: udroll report --journal " + where)
        return False
    if state == "aborted":
        raise RunHalted("this run was aborted; start a new one with `udroll run`")
    if journal.meta("simulated") == "1":
        raise InputError(
            "a --simulate run cannot be resumed: its in-process emulator ended with it. "
            "Simulate with `udroll emulator serve --ready-file F` and `udroll run --emulator F` "
            "to practise resuming"
        )
    if until_idle and state == "paused":
        click.echo(
            f"This run is paused ({journal.meta('state_message', '')}); a scheduled resume leaves it alone. "
            f"Continue it with: udroll resume --journal {where}"
        )
        return False
    if until_idle and state == "halted":
        raise RunHalted(
            f"this run halted: {journal.meta('state_message', '')}. Status: udroll status --journal {where}"
        )
    return True


def _connect(obj: Any, azure: AzureOptions, subscription: str | None) -> tuple[ComputeBackend, Clock]:
    clock = dep(obj, "clock")
    backend = dep(obj, "backend") or connect(azure, default_subscription=subscription, clock=clock)
    return backend, clock or getattr(backend, "clock", None) or SystemClock()
