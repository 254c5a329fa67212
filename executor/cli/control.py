"""`udroll pause`, `abort`, `skip` and `approve`: requests that reach a runner through its journal."""

from __future__ import annotations

from typing import Any

import click

from executor import rollout
from executor.cli.common import clock_of, journal_option
from executor.run.store import WAITING, refuse_skip
from planner.errors import InputError
from planner.timefmt import plural


@click.command()
@journal_option
@click.pass_obj
def pause(obj: Any, journal_dir: str) -> None:
    """Ask the running runner to pause: no new steps; running steps finish; exit 130.

    \b
    Example:
      udroll pause --journal .udroll/shop-prod     # then: udroll resume --journal .udroll/shop-prod
    """
    journal = rollout.open_store(journal_dir)
    try:
        if not journal.is_locked() and journal.run_state == WAITING:
            # a run between two nights: the next scheduled `resume --until-idle` must leave it alone
            journal.set_run_state("paused", clock_of(obj).now(), "paused with `udroll pause` while waiting")
            click.echo(
                f"Paused: scheduled resumes leave it alone; continue: udroll resume --journal {journal_dir}"
            )
            return
        if not journal.is_locked():
            click.echo(f"No runner is running this journal (state: {journal.run_state}); nothing to pause.")
            return
        journal.request("pause", None, clock_of(obj).now())
        click.echo("Pause requested: the runner starts no new step and stops once running steps end.")
    finally:
        journal.close()


# VM states between a trigger (or its intent) and a verdict: Azure may be maintaining the VM
IN_FLIGHT = ("intent", "triggered", "retry", "completed", "gating")


@click.command()
@journal_option
@click.pass_obj
def abort(obj: Any, journal_dir: str) -> None:
    """Abort a run for good: no new triggers; VMs in flight finish and are recorded.

    \b
    Example:
      udroll abort --journal .udroll/shop-prod
    """
    journal = rollout.open_store(journal_dir)
    try:
        now = clock_of(obj).now()
        if journal.is_locked():
            journal.request("abort", None, now)
            click.echo("Abort requested: the runner triggers nothing more and halts once VMs in flight end.")
        elif journal.run_state in ("completed", "aborted"):
            ended = "already completed" if journal.run_state == "completed" else "was already aborted"
            click.echo(f"This run {ended}: nothing to abort.")
        elif journal.meta("simulated") != "1" and (
            in_flight := [r.vm for r in journal.vms() if r.state in IN_FLIGHT]
        ):  # a simulation's VMs ended with its in-process emulator: nothing is left to follow
            # DESIGN §7: VMs in flight finish and are recorded, even when the runner is gone
            journal.request("abort", None, now)
            names = ", ".join(v.rsplit("/", 1)[-1] for v in in_flight[:5])
            click.echo(
                f"No runner is active, and {plural(len(in_flight), 'VM')} in flight ({names}). Abort "
                f"recorded: `udroll resume --journal {journal_dir} --yes` follows them to their outcome, "
                "triggers nothing new, and ends the run aborted."
            )
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

    A skipped step whose VMs were touched keeps its recovery gap: the next step of its group and
    its dependent tiers still wait the gap from its real end.

    \b
    Example:
      udroll skip web/zonal/zone2 --journal .udroll/shop-prod && udroll resume --journal .udroll/shop-prod
    """
    journal = rollout.open_store(journal_dir)
    try:
        refuse_skip(journal, step)  # running, done, skipped or unknown: exit 2 with the reason
        now = clock_of(obj).now()
        if journal.is_locked():
            journal.request("skip", step, now)
            click.echo(f"Skip of {step} requested from the running runner.")
            return
        journal.update_step(step, state="skipped", waiting_for=None, waiting_until=None)
        journal.record_transition(now, "step-skipped", step, None, "skipped by the operator (`udroll skip`)")
        if journal.meta("simulated") == "1":
            click.echo(f"Skipped {step} (a --simulate run cannot be resumed: run the simulation again).")
        else:
            click.echo(f"Skipped {step}. Continue with: udroll resume --journal {journal_dir}")
    finally:
        journal.close()


@click.command()
@click.argument("target", required=False, metavar="TIER|STEP")
@click.option("--all", "approve_all", is_flag=True, help="Approve every tier and step of the run.")
@journal_option
@click.pass_obj
def approve(obj: Any, target: str | None, approve_all: bool, journal_dir: str) -> None:
    """Approve a tier (--confirm tier) or a step (--confirm step) that waits for it, from any terminal.

    A pending approval never pauses the run: running steps go on while it waits. The runner takes the
    answer at its next look at the journal (every few seconds); an approval given before the question
    is asked, or while no runner is active, is kept for when it is.

    \b
    Examples:
      udroll approve app --journal .udroll/shop-prod          # the app tier
      udroll approve --all --journal .udroll/shop-prod
    """
    if bool(target) == approve_all:
        raise click.UsageError("give one TIER or STEP to approve, or --all")
    journal = rollout.open_store(journal_dir)
    try:
        steps = journal.steps()
        known = {s.id for s in steps} | {s.tier for s in steps}
        if target and target not in known:
            raise InputError(
                f"no tier or step {target!r} in this run; tiers: {', '.join(sorted({s.tier for s in steps}))}"
            )
        journal.request("approve", target or "*", clock_of(obj).now())
        what = "everything" if approve_all else target
        active = journal.is_locked()
        click.echo(
            f"Approved {what}: "
            + ("the runner starts it at its next look." if active else "kept for when the run resumes.")
        )
    finally:
        journal.close()
