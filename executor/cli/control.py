"""`udroll pause`, `abort` and `skip`: requests that reach a running runner through its journal."""

from __future__ import annotations

from typing import Any

import click

from executor.cli.common import clock_of, journal_option
from executor.run.journal import Journal
from planner.errors import InputError


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
        journal.request("pause", None, clock_of(obj).now())
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
        now = clock_of(obj).now()
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

    A skipped step whose VMs were touched keeps its recovery gap: the next step of its group and
    its dependent tiers still wait the gap from its real end.

    \b
    Example:
      udroll skip web/zonal/zone2 --journal .udroll/shop-prod && udroll resume --journal .udroll/shop-prod
    """
    journal = Journal.open(journal_dir)
    try:
        known = {s.id: s for s in journal.steps()}
        if step not in known:
            raise InputError(f"no step {step!r} in this run; steps are: {', '.join(known)}")
        now = clock_of(obj).now()
        if journal.is_locked():
            journal.request("skip", step, now)
            click.echo(f"Skip of {step} requested from the running runner.")
            return
        if known[step].state not in ("waiting", "failed"):
            raise InputError(
                f"step {step} is {known[step].state}: only a waiting or failed step can be skipped"
            )
        journal.update_step(step, state="skipped", waiting_for=None, waiting_until=None)
        journal.record_transition(now, "step-skipped", step, None, "skipped by the operator (`udroll skip`)")
        click.echo(f"Skipped {step}. Continue with: udroll resume --journal {journal_dir}")
    finally:
        journal.close()
