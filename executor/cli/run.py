"""`udroll run`, `resume`, `status`, `pause`, `abort`, `skip` and `report` (DESIGN §7, §8).

Thin commands: parse, call executor.run.runner / journal / report, render. Dependencies come from the
click context object so tests inject fakes (``CliRunner().invoke(cli, [...], obj={...})``):

    clock     a Clock (default: real time, or the emulator's simulated time)
    backend   a ComputeBackend (default: connect() from the Azure options)
    tty       whether prompts can be asked (default: stdin is a terminal)
    live      whether to draw the rich live view (default: stdout is a terminal)
    prober    health probe function handed to the Runner (tests)
    confirm   a function (question) -> bool answering prompts (default: click.confirm)

Exit codes: 0 done; 2 bad input, a locked journal, or a prompt needed without a terminal; 3 VMs that
cannot be scheduled (without --allow-partial); 4 halted (a failed step, an abort); 5 Azure;
130 paused (Ctrl-C, `udroll pause`, or a declined confirmation).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from executor.azure.connect import AzureOptions, azure_options, connect, read_ready_file
from executor.cli.console import LiveConsole, PlainConsole, countdown
from executor.report.text import RENDERERS as REPORTS
from executor.report.text import build_report
from executor.run.backend import ComputeBackend
from executor.run.clock import Clock, SystemClock
from executor.run.gates import Check
from executor.run.journal import Journal, default_dir, refuse_skip
from executor.run.runner import RunConfig, Runner, RunOutcome
from executor.simulation import DEFAULT_SPEED, control_interval, emulator_checks, simulation
from planner.build import build_plan
from planner.errors import InputError, Interrupted, RunHalted, UnschedulableError
from planner.fingerprint import fingerprint
from planner.fleet import VM, Fleet, load_fleet, parse_fleet
from planner.load import LoadedSpec, load_spec, parse_spec
from planner.plan import PLAN_FORMAT, Plan
from planner.render import RENDERERS as PREVIEWS
from planner.render import Preview
from planner.select import selection
from planner.spec import TierSettings

CONFIRM = click.Choice(["step", "tier", "never"])


def _dep(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _is_tty(obj: Any) -> bool:
    found = _dep(obj, "tty")
    return bool(found) if found is not None else sys.stdin.isatty()


def _needs_prompt(confirm: str, yes: bool) -> bool:
    return not yes and confirm != "never"


def _refuse_without_tty(obj: Any, confirm: str, yes: bool) -> None:
    if _needs_prompt(confirm, yes) and not _is_tty(obj):
        raise InputError(
            f"this run asks for confirmation (--confirm {confirm}) but standard input is not a terminal: "
            "pass --yes to confirm everything up front, or --confirm never"
        )


def _confirmer(obj: Any, console: Any) -> Callable[[str], bool]:
    return _dep(obj, "confirm") or console.prompt  # type: ignore[no-any-return]


# --- loading what to run ---------------------------------------------------------------------------


def _bundled_example() -> str:
    from importlib.resources import files

    return str(files("plans") / "three-tier-shop.yaml")


def _load(source: str, spec_path: str | None) -> tuple[LoadedSpec, Plan | None]:
    """A spec, or a plan JSON (which needs its spec, for health gates and hooks)."""
    text = Path(source).read_text(encoding="utf-8") if Path(source).is_file() else ""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: not a spec (YAML) nor a plan (JSON): {exc}") from None
        if data.get("format") != PLAN_FORMAT:
            raise InputError(f"{source}: format {data.get('format')!r} is not a plan ({PLAN_FORMAT})")
        if not spec_path:
            raise InputError(
                f"{source} is a plan: pass --spec SPEC, the spec it was made from "
                "(its health gates and hooks are not in the plan)"
            )
        return load_spec(spec_path), Plan.from_dict(data)
    return load_spec(source), None


def _live_fleet(loaded: LoadedSpec, backend: ComputeBackend, clock: Clock) -> Fleet:
    groups: set[str] = set()
    everywhere = False
    for tier in loaded.spec.tiers:
        for selector in tier.select:
            found = selector.resource_groups
            everywhere |= not found
            groups |= found
    vms = backend.list_vms(None if everywhere else sorted(groups))
    return Fleet(captured_at=clock.now(), vms=tuple(vms))


def _what_changed(plan: Plan, loaded: LoadedSpec, fleet: Fleet) -> str:
    live = {vm.id.lower(): vm for vm in fleet.vms}
    changes: list[str] = []
    planned = {vm.lower() for s in plan.steps for vm in s.vms}
    for vm in sorted(planned):
        facts = live.get(vm)
        if facts is None:
            changes.append(f"{vm.rsplit('/', 1)[-1]} is gone")
        elif facts.maintenance is None or facts.maintenance.last_result == "MaintenanceCompleted":
            changes.append(f"{facts.ref} has nothing pending any more")
    known = planned | {s.vm.lower() for s in plan.skipped} | {u.vm.lower() for u in plan.unschedulable}
    selected = {vm.id.lower(): vm for vms in selection(loaded.spec, fleet.vms).values() for vm in vms}
    changes += [f"{vm.ref} is new" for key, vm in sorted(selected.items()) if key not in known]
    shown = "; ".join(changes[:10]) + (f"; and {len(changes) - 10} more" if len(changes) > 10 else "")
    return shown or "the spec or some VM's facts (domains, windows, tags, power) differ"


def _check_fingerprint(plan: Plan, loaded: LoadedSpec, fleet: Fleet) -> None:
    if fingerprint(loaded.spec, fleet) != plan.fingerprint:
        raise InputError(
            f"the plan no longer matches the live fleet and spec: {_what_changed(plan, loaded, fleet)}. "
            f"Make a new plan (`udroll plan {loaded.file}`) or run the spec directly"
        )


def _start(loaded: LoadedSpec, clock: Clock, simulated: bool) -> dt.datetime:
    if simulated and loaded.spec.window.not_before:
        return loaded.spec.window.not_before
    now = clock.now().astimezone(dt.timezone.utc).replace(microsecond=0)
    return now + dt.timedelta(seconds=1)


# --- running -----------------------------------------------------------------------------------------


def _preview(plan: Plan, loaded: LoadedSpec, fleet: Fleet) -> None:
    to_terminal = sys.stdout.isatty()
    width = shutil.get_terminal_size((120, 40)).columns if to_terminal else 120
    click.echo(PREVIEWS["table"](Preview(plan, loaded.spec, fleet, width=width, color=to_terminal)), nl=False)


def _execute(
    obj: Any,
    journal: Journal,
    plan: Plan,
    loaded: LoadedSpec,
    fleet: Fleet,
    backend: ComputeBackend,
    clock: Clock,
    confirm: str,
    yes: bool,
    checks_for: Callable[[VM, TierSettings], Sequence[Check]] | None,
    retry_failed: bool = False,
    control: float = 5.0,
) -> None:
    live = _dep(obj, "live")
    live = sys.stdout.isatty() if live is None else live
    console: Any = LiveConsole(plan, clock) if live else PlainConsole()
    mode = "never" if yes else confirm
    runner = Runner(
        journal,
        plan,
        loaded.spec,
        fleet,
        backend,
        clock,
        console,
        confirm=_confirmer(obj, console) if mode != "never" else None,
        checks_for=checks_for,
        config=RunConfig(
            confirm=mode,
            retry_failed=retry_failed,
            control_interval=control,
            workdir=journal.meta("spec_dir") or str(Path(loaded.file).resolve().parent),
        ),
        prober=_dep(obj, "prober"),
    )
    simulated = journal.meta("simulated") == "1"
    try:
        with console:
            outcome = runner.run()
    finally:
        journal.close()
    _finish(outcome, journal, simulated)


SIMULATION_ENDED = (
    "a --simulate run cannot be resumed (its in-process emulator ended with it): run the simulation "
    "again, or rehearse resuming with `udroll emulator serve --ready-file F` and `udroll run --emulator F`"
)


def _without_resume_hint(message: str) -> str:
    """The runner's message without its `udroll resume` hint (a simulation cannot be resumed)."""
    for hint in ("; continue with `udroll resume`", "; fix the cause, then", "; `udroll resume"):
        message = message.split(hint)[0]
    return message


def _finish(outcome: RunOutcome, journal: Journal, simulated: bool = False) -> None:
    where = f"--journal {journal.dir}"
    if outcome.reschedule:
        click.echo(
            f"Azure will reschedule {len(outcome.reschedule)} VM(s) whose maintenance was aborted: "
            + ", ".join(vm.rsplit("/", 1)[-1] for vm in outcome.reschedule),
            err=True,
        )
    if outcome.state == "completed":
        click.echo(f"Rollout complete. Report: udroll report {where}")
        return
    if simulated:
        message = _without_resume_hint(outcome.message)
        if outcome.state == "paused":
            raise Interrupted(f"{message}; {SIMULATION_ENDED}")
        raise RunHalted(f"{message}; {SIMULATION_ENDED}. Status: udroll status {where}")
    if outcome.state == "paused":
        raise Interrupted(f"{outcome.message} (udroll resume {where})")
    raise RunHalted(f"{outcome.message}. Status: udroll status {where}")


def _meta(
    loaded: LoadedSpec,
    plan: Plan,
    fleet: Fleet,
    confirm: str,
    simulated: bool,
    azure: AzureOptions | None,
    clock: Clock,
) -> dict[str, str]:
    meta = {
        "plan": plan.to_json(),
        "spec_text": loaded.text,
        "spec_file": loaded.file,
        "spec_dir": str(Path(loaded.file).resolve().parent),
        "fleet": fleet.to_json(),
        "confirm": confirm,
        "simulated": "1" if simulated else "0",
        "created_at": clock.now().isoformat(),
    }
    if azure and azure.emulator:
        meta["emulator"] = str(Path(azure.emulator).resolve())
    if azure and azure.subscription:
        meta["subscription"] = azure.subscription
    return meta


def _create(directory: Path, meta: dict[str, str], plan: Plan) -> Journal:
    return Journal.create(directory, meta, [(s.id, s.tier, list(s.vms)) for s in plan.steps])


def _accept(obj: Any, plan: Plan, confirm: str, yes: bool, allow_partial: bool) -> bool:
    """Whether to go ahead with this plan (False: nothing to do)."""
    if plan.unschedulable and not allow_partial:
        count = len(plan.unschedulable)
        raise UnschedulableError(
            f"{count} VM{'s' if count != 1 else ''} cannot be scheduled (reasons above); "
            "Azure will maintain them in its scheduled window. Pass --allow-partial to "
            "run the plan without them."
        )
    if not plan.steps:
        click.echo("Nothing to do: no VM needs maintenance.")
        return False
    if _needs_prompt(confirm, yes):
        ask = _dep(obj, "confirm") or (lambda q: click.confirm(q, default=False))
        if not ask(
            f"Start the rollout of {len(plan.steps)} steps ({sum(len(s.vms) for s in plan.steps)} VMs)?"
        ):
            raise click.Abort()
    return True


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
    type=click.Path(file_okay=False),
    help="Journal directory (default: .udroll/<name>/; simulations get a fresh one below it).",
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
    """
    if source is None:
        if not simulate:
            raise click.UsageError("give a SPEC or PLAN to run (or --simulate to run the bundled example)")
        source = _bundled_example()
    if (faults or speed != DEFAULT_SPEED) and not simulate:
        raise click.UsageError("--speed and --faults go with --simulate")
    loaded, given = _load(source, spec_path)
    _refuse_without_tty(obj, confirm, yes)
    if simulate:
        _run_simulated(
            obj, loaded, given, fleet_path, journal_dir, confirm, yes, allow_partial, speed, faults
        )
        return
    clock = _dep(obj, "clock")
    backend = _dep(obj, "backend") or connect(
        azure, default_subscription=loaded.spec.subscription, clock=clock
    )
    clock = clock or getattr(backend, "clock", None) or SystemClock()
    fleet = load_fleet(fleet_path) if fleet_path else _live_fleet(loaded, backend, clock)
    if given is not None:
        _check_fingerprint(given, loaded, fleet)
    plan = given or build_plan(loaded.spec, fleet, _start(loaded, clock, False), source=loaded.file)
    _preview(plan, loaded, fleet)
    if not _accept(obj, plan, confirm, yes, allow_partial):
        return
    checks = None
    if azure.emulator:
        info = read_ready_file(azure.emulator)
        checks = emulator_checks(info.base_url, info.ca_bundle)
    directory = Path(journal_dir) if journal_dir else default_dir(loaded.spec.name)
    journal = _create(directory, _meta(loaded, plan, fleet, confirm, False, azure, clock), plan)
    control = control_interval(float(getattr(clock, "speed", 1.0))) if azure.emulator else 5.0
    _execute(obj, journal, plan, loaded, fleet, backend, clock, confirm, yes, checks, control=control)


def _run_simulated(
    obj: Any,
    loaded: LoadedSpec,
    given: Plan | None,
    fleet_path: str | None,
    journal_dir: str | None,
    confirm: str,
    yes: bool,
    allow_partial: bool,
    speed: float,
    faults: str | None,
) -> None:
    fault_set = None
    if faults:
        from executor.emulator.faults import load_faults

        fault_set = load_faults(faults)  # bad faults: located problems before any output or journal
    if fleet_path:
        fleet = load_fleet(fleet_path)
    elif loaded.inventory is not None:
        fleet = loaded.inventory
    else:
        raise InputError(f"{loaded.file} has no inventory to simulate: pass --fleet FILE")
    if given is not None:
        _check_fingerprint(given, loaded, fleet)
    start = _start(loaded, _dep(obj, "clock") or SystemClock(), True)
    plan = given or build_plan(loaded.spec, fleet, start, source=loaded.file)
    _preview(plan, loaded, fleet)
    if not _accept(obj, plan, confirm, yes, allow_partial):
        return
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    directory = Path(journal_dir) if journal_dir else default_dir(loaded.spec.name) / "simulations" / stamp
    if Journal.exists(directory):
        raise InputError(f"{directory} already holds a run's journal: pass another --journal directory")
    directory.mkdir(parents=True, exist_ok=True)
    click.echo(
        f"Simulating {len(plan.steps)} steps at {speed:g}x from {plan.start:%Y-%m-%d %H:%M}Z; "
        f"journal: {directory}",
        err=True,
    )
    with simulation(fleet, plan, speed, fault_set, log_path=directory / "emulator-requests.jsonl") as sim:
        journal = _create(directory, _meta(loaded, plan, fleet, confirm, True, None, sim.clock), plan)
        _execute(
            obj,
            journal,
            plan,
            loaded,
            fleet,
            sim.backend,
            sim.clock,
            confirm,
            yes,
            sim.checks_for,
            control=control_interval(speed),
        )


journal_option = click.option(
    "--journal",
    "journal_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="The run's journal directory.",
)


def _restore(journal: Journal) -> tuple[LoadedSpec, Plan, Fleet]:
    loaded = parse_spec(journal.meta("spec_text") or "", journal.meta("spec_file") or "<spec>")
    plan = Plan.from_dict(json.loads(journal.meta("plan") or "{}"))
    fleet = parse_fleet(journal.meta("fleet") or "{}", f"{journal.dir}/fleet")
    return loaded, plan, fleet


@click.command()
@journal_option
@click.option(
    "--retry-failed", is_flag=True, help="Retry the failed steps (VMs already maintained are only re-probed)."
)
@click.option("--confirm", type=CONFIRM, default="tier", show_default=True, help="As for `udroll run`.")
@click.option("--yes", "-y", is_flag=True, help="Answer yes to every confirmation.")
@azure_options
@click.pass_obj
def resume(
    obj: Any, journal_dir: str, retry_failed: bool, confirm: str, yes: bool, azure: AzureOptions
) -> None:
    """Continue a paused, halted, interrupted or crashed run from its journal.

    VMs with an intent but no handle are reconciled from Azure's status before any trigger;
    operations in flight resume from their handles; recovery gaps count the time the runner was down.

    \b
    Examples:
      udroll resume --journal .udroll/shop-prod --yes
      udroll resume --journal .udroll/shop-prod --retry-failed
    """
    _refuse_without_tty(obj, confirm, yes)
    journal = Journal.open(journal_dir)
    journal.lock()
    try:
        state = journal.run_state
        if state == "completed":
            click.echo("This run already completed. Report: udroll report --journal " + journal_dir)
            return
        if state == "aborted":
            raise RunHalted("this run was aborted; start a new one with `udroll run`")
        if journal.meta("simulated") == "1":
            raise InputError(
                "a --simulate run cannot be resumed: its in-process emulator ended with it. "
                "Simulate with `udroll emulator serve --ready-file F` and `udroll run --emulator F` "
                "to practise resuming"
            )
        loaded, plan, fleet = _restore(journal)
        stored = journal.meta("emulator")
        if stored and not (azure.emulator or azure.endpoint):
            azure = AzureOptions(azure.subscription, azure.cloud, None, None, stored)
        clock = _dep(obj, "clock")
        backend = _dep(obj, "backend") or connect(
            azure, default_subscription=journal.meta("subscription") or loaded.spec.subscription, clock=clock
        )
        clock = clock or getattr(backend, "clock", None) or SystemClock()
        checks = None
        if azure.emulator:
            info = read_ready_file(azure.emulator)
            checks = emulator_checks(info.base_url, info.ca_bundle)
    except BaseException:
        journal.close()
        raise
    control = control_interval(float(getattr(clock, "speed", 1.0))) if azure.emulator else 5.0
    click.echo(f"Resuming {plan.name} ({state}) from {journal_dir}", err=True)
    _execute(obj, journal, plan, loaded, fleet, backend, clock, confirm, yes, checks, retry_failed, control)


@click.command()
@journal_option
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
def status(obj: Any, journal_dir: str, fmt: str) -> None:
    """Show a run: per tier and step what is done, running, or waiting for what and until when.

    \b
    Example:
      udroll status --journal .udroll/shop-prod
    """
    journal = Journal.open(journal_dir)
    try:
        click.echo(render_status(journal, _dep(obj, "clock"), fmt), nl=False)
    finally:
        journal.close()


STOPPED = ("halted", "paused", "aborted", "completed")
_WAITS_FOR = re.compile(r"step (\S+) \((\w+)\)")


def render_status(journal: Journal, clock: Clock | None, fmt: str = "text") -> str:
    plan = Plan.from_dict(json.loads(journal.meta("plan") or "{}"))
    steps = journal.steps()
    vms = journal.vms()
    active = journal.is_locked()
    transitions = journal.transitions()
    simulated = journal.meta("simulated") == "1" or journal.meta("emulator")
    if clock is not None:
        now = clock.now()
    elif simulated and transitions:
        now = dt.datetime.fromisoformat(transitions[-1]["at"])  # simulated time: as of the last event
    else:
        now = SystemClock().now()
    waiting = [s for s in steps if s.state == "waiting"]
    stopped = journal.run_state in STOPPED and not active  # will not continue by itself
    eta = min((s.waiting_until for s in waiting if s.waiting_until), default=None)
    if eta is None and waiting:
        eta = min(plan.step(s.id).start for s in waiting)
    if stopped:
        eta = None
    state_of = {s.id: s.state for s in steps}

    def waits_for(text: str | None) -> str | None:
        # the journal keeps the predecessor's state from when the step last waited: show today's
        return _WAITS_FOR.sub(lambda m: f"step {m[1]} ({state_of.get(m[1], m[2])})", text) if text else text

    data: dict[str, Any] = {
        "name": plan.name,
        "state": journal.run_state,
        "runner_active": active,
        "message": (
            _without_resume_hint(journal.meta("state_message") or "")
            if journal.meta("simulated") == "1"
            else journal.meta("state_message", "")
        ),
        "as_of": now.isoformat(),
        "next_step_eta": eta.isoformat() if eta else None,
        "steps": [
            {
                "id": s.id,
                "tier": s.tier,
                "state": s.state,
                "phase": s.phase,
                "started_at": s.started_at.isoformat() if s.started_at else None,
                "ended_at": s.ended_at.isoformat() if s.ended_at else None,
                "waiting_for": waits_for(s.waiting_for),
                "waiting_until": s.waiting_until.isoformat() if s.waiting_until else None,
                "error": s.error,
            }
            for s in steps
        ],
        "failed_vms": [
            {"vm": v.vm, "step": v.step, "message": v.message, "reschedule": v.reschedule}
            for v in vms
            if v.state == "failed"
        ],
    }
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    out = [
        f"{plan.name}: {data['state']}"
        + (" (runner active)" if active else "")
        + (f" — {data['message']}" if data["message"] else ""),
        f"as of {now:%Y-%m-%d %H:%M:%S}Z" + (" (simulated time)" if simulated and clock is None else ""),
    ]
    tiers: dict[str, list[str]] = {}
    for s in steps:
        tiers.setdefault(s.tier, []).append(s.state)
    for tier, states in tiers.items():
        counts = {
            st: states.count(st) for st in ("done", "running", "waiting", "failed", "skipped") if st in states
        }
        out.append(f"  tier {tier}: " + ", ".join(f"{n} {st}" for st, n in counts.items()))
    out.append("")
    for s in steps:
        line = f"  {s.id:<32} {s.state:<8}"
        if s.state == "running":
            done = sum(1 for v in vms if v.step == s.id and v.state in ("healthy", "skipped"))
            total = sum(1 for v in vms if v.step == s.id)
            line += f" since {s.started_at:%H:%M:%S}, {s.phase}, {done}/{total} VMs" if s.started_at else ""
        elif s.state == "done" and s.ended_at:
            line += f" ended {s.ended_at:%Y-%m-%d %H:%M:%S}Z"
        elif s.state == "waiting":
            if s.waiting_for:
                line += f" for {waits_for(s.waiting_for)}"
            if s.waiting_until and not stopped:
                line += f" until {s.waiting_until:%Y-%m-%d %H:%M:%S}Z ({countdown(s.waiting_until, now)})"
        elif s.state == "failed":
            line += f" {s.error}"
        out.append(line)
    if eta:
        out.append(f"\nnext step: {eta:%Y-%m-%d %H:%M:%S}Z ({countdown(eta, now)})")
    elif stopped and journal.run_state in ("halted", "paused") and journal.meta("simulated") == "1":
        out.append(f"\n{journal.run_state}: {SIMULATION_ENDED}")
    elif stopped and journal.run_state == "halted":
        where = f"--journal {journal.dir}"
        out.append(f"\nhalted: resume with udroll resume {where} --retry-failed, or udroll skip STEP {where}")
    elif stopped and journal.run_state == "paused":
        out.append(f"\npaused: continue with udroll resume --journal {journal.dir}")
    for v in data["failed_vms"]:
        extra = (
            " — Azure will reschedule this VM"
            if v["reschedule"] and "reschedule" not in (v["message"] or "")
            else ""
        )
        out.append(f"failed: {v['vm'].rsplit('/', 1)[-1]} in {v['step']}: {v['message']}{extra}")
    return "\n".join(out) + "\n"


def _request(journal_dir: str, command: str, arg: str | None, obj: Any) -> Journal:
    journal = Journal.open(journal_dir)
    journal.request(command, arg, (_dep(obj, "clock") or SystemClock()).now())
    return journal


@click.command()
@journal_option
@click.pass_obj
def pause(obj: Any, journal_dir: str) -> None:
    """Ask the running runner to pause: no new steps; running steps finish; exit 130.

    \b
    Example:
      udroll pause --journal .udroll/shop-prod     # then: udroll resume --journal .udroll/shop-prod
    """
    journal = Journal.open(journal_dir)
    try:
        if not journal.is_locked():
            click.echo(f"No runner is running this journal (state: {journal.run_state}); nothing to pause.")
            return
        journal.request("pause", None, (_dep(obj, "clock") or SystemClock()).now())
        click.echo("Pause requested: the runner starts no new step and stops once running steps end.")
    finally:
        journal.close()


@click.command()
@journal_option
@click.pass_obj
def abort(obj: Any, journal_dir: str) -> None:
    """Abort a run for good: no new triggers; VMs in flight finish and are recorded.

    \b
    Example:
      udroll abort --journal .udroll/shop-prod
    """
    journal = Journal.open(journal_dir)
    try:
        now = (_dep(obj, "clock") or SystemClock()).now()
        if journal.is_locked():
            journal.request("abort", None, now)
            click.echo("Abort requested: the runner triggers nothing more and halts once VMs in flight end.")
        elif journal.run_state in ("completed", "aborted"):
            ended = "completed" if journal.run_state == "completed" else "was aborted"
            click.echo(f"This run already {ended}: nothing to abort.")
        else:
            journal.set_run_state("aborted", now, "aborted with `udroll abort` while no runner was running")
            click.echo("Run aborted.")
    finally:
        journal.close()


@click.command()
@click.argument("step")
@journal_option
@click.pass_obj
def skip(obj: Any, step: str, journal_dir: str) -> None:
    """Skip a waiting or failed step so the run can go on without it.

    \b
    Example:
      udroll skip web/zonal/zone2 --journal .udroll/shop-prod && udroll resume --journal .udroll/shop-prod
    """
    journal = Journal.open(journal_dir)
    try:
        refuse_skip(journal, step)  # running, done, skipped or unknown: exit 2 with the reason
        now = (_dep(obj, "clock") or SystemClock()).now()
        if journal.is_locked():
            journal.request("skip", step, now)
            click.echo(f"Skip of {step} requested from the running runner.")
            return
        journal.update_step(step, state="skipped", waiting_for=None, waiting_until=None)
        journal.record_transition(now, "step-skipped", step, None, "skipped by the operator (`udroll skip`)")
        click.echo(f"Skipped {step}. Continue with: udroll resume --journal {journal_dir}")
    finally:
        journal.close()


@click.command()
@journal_option
@click.option(
    "-o", "--output", "fmt", type=click.Choice(sorted(REPORTS)), default="markdown", show_default=True
)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write the report to FILE.")
def report(journal_dir: str, fmt: str, out_path: str | None) -> None:
    """Report a run: planned vs actual per step, per-VM results, gate evidence, VMs Azure will reschedule.

    \b
    Example:
      udroll report --journal .udroll/shop-prod -o markdown --out rollout.md
    """
    journal = Journal.open(journal_dir)
    try:
        text = REPORTS[fmt](build_report(journal))
    finally:
        journal.close()
    if out_path is None:
        click.echo(text, nl=False)
        return
    try:
        Path(out_path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {out_path}: {exc.strerror}") from None
