"""The `udroll` command line: thin commands over the planner and executor libraries.

Errors are handled at one boundary, :func:`main`: a :class:`planner.errors.UdrollError` prints
``Error: …`` and exits with its code; anything else is a bug, exits 1 and says where the traceback is.
"""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
import traceback
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

import click

from planner.errors import Problem, SpecError, UdrollError


def _version() -> str:
    try:
        return version("udroll")
    except PackageNotFoundError:  # running from a checkout
        return "0+unknown"


# Every command defined in another module: name -> (module:function, the summary `udroll --help` shows).
# They are imported when first used, so `udroll --version`, `--help`, `validate` and `schema` start in
# a fraction of a second instead of loading the Azure SDK, networkx, OR-Tools and rich first (issue 15).
# tests/test_cli_startup.py checks each summary against its command's docstring.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "plan": (
        "executor.cli.plan:plan",
        "Preview the timed plan of a rollout: a dry run that changes nothing in Azure.",
    ),
    "check": (
        "executor.cli.check:check",
        "Preflight a spec the afternoon before: sign-in, permissions, VMs, health checks, hooks, windows.",
    ),
    "discover": (
        "executor.cli.azure:discover",
        "Write a udroll/fleet@1 snapshot of the live fleet: update and fault domains, zones, tags, "
        "power and maintenance status of every VM and scale set instance.",
    ),
    "fleet": (
        "executor.cli.azure:fleet_command",
        "Show live maintenance status per VM (update and fault domain, zone, allowed, self-service "
        "and scheduled windows, last result) soonest deadline first, and per scale set the portal's "
        '"Self-service maintenance" column: Yes (a VM is in its self-service window now), No (none '
        "is), - (not part of a maintenance wave).",
    ),
    "emulator": (
        "executor.cli.emulator:emulator",
        "A local Resource Manager Compute emulator for simulations and tests.",
    ),
    "notify": (
        "executor.cli.notify:notify",
        "Notifications of the spec's `notify:` sinks.",
    ),
    "journal": (
        "executor.cli.journal:journal",
        "Work with a run's journal as a whole.",
    ),
    "run": (
        "executor.cli.run:run",
        "Run a rollout: plan it (or load a plan), preview it, confirm, and execute it step by step.",
    ),
    "resume": (
        "executor.cli.run:resume",
        "Continue a paused, halted, interrupted, crashed or waiting run from its journal.",
    ),
    "runs": (
        "executor.cli.runs:runs",
        "List the runs journalled under .udroll/, newest first: spec, state, progress, start.",
    ),
    "status": (
        "executor.cli.status:status",
        "Show a run: per tier and step what is done, running, or waiting for what and until when.",
    ),
    "pause": (
        "executor.cli.control:pause",
        "Ask the running runner to pause: no new steps; running steps finish; exit 130.",
    ),
    "abort": (
        "executor.cli.control:abort",
        "Abort a run for good: no new triggers; VMs in flight finish and are recorded.",
    ),
    "skip": (
        "executor.cli.control:skip",
        "Skip a waiting or failed step so the run can go on without it.",
    ),
    "approve": (
        "executor.cli.control:approve",
        "Approve a tier (--confirm tier) or a step (--confirm step) that waits for it, from any terminal.",
    ),
    "report": (
        "executor.cli.status:report",
        "Report a run: planned vs actual per step, per-VM results, gate evidence, VMs Azure will reschedule.",
    ),
    "docs": (
        "executor.cli.docs:docs",
        "Print the command reference (docs/cli.md) generated from the commands' own help.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands in LAZY_COMMANDS are imported when first used (click's LazyGroup pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS), key=_order)

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in LAZY_COMMANDS:
            return self.commands.get(cmd_name)
        module, name = LAZY_COMMANDS[cmd_name][0].split(":")
        command = getattr(import_module(module), name)
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the summaries, without importing every command module."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, textwrap.shorten(_summary(self, name), limit, placeholder="...")) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _order(name: str) -> tuple[int, str]:
    """Commands in the order an operator meets them: validate, schema, then the registry's order."""
    known = ["validate", "schema", *LAZY_COMMANDS]
    return (known.index(name) if name in known else len(known), name)


def _summary(group: click.Group, name: str) -> str:
    if name in LAZY_COMMANDS:
        return LAZY_COMMANDS[name][1]
    return group.commands[name].get_short_help_str(limit=1000)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(_version(), prog_name="udroll")
def cli() -> None:
    """Plan and run Azure self-service maintenance, one update domain at a time.

    \b
    Example:
      udroll validate plans/three-tier-shop.yaml
    """


@cli.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(specs: tuple[str, ...]) -> None:
    """Check rollout specs and list every problem as file:line:col.

    Exits 0 when every spec is valid, 2 otherwise.

    \b
    Example:
      udroll validate plans/*.yaml
    """
    # here, not at the top: `udroll --version` and `--help` need no pydantic models
    from planner.load import load_spec
    from planner.timefmt import plural

    problems: list[Problem] = []
    for path in specs:
        try:
            loaded = load_spec(path)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        vms = len(loaded.inventory.vms) if loaded.inventory else 0
        inventory = f", {plural(vms, 'VM')} in inventory" if loaded.inventory else ""
        click.echo(f"{path}: ok ({plural(len(loaded.spec.tiers), 'tier')}{inventory})")
    if problems:
        raise SpecError(problems)


@cli.command()
@click.option("--events", is_flag=True, help="Print the schema of udroll's events instead.")
def schema(events: bool) -> None:
    """Print the JSON Schema (draft 2020-12) of the spec format, for editors.

    \b
    Example:
      udroll schema > udroll.schema.json
      # VS Code YAML: "yaml.schemas": {"./udroll.schema.json": "rollouts/*.yaml"}
      udroll schema --events > udroll-events.schema.json
    """
    if events:
        from executor.notify.schema import events_schema

        click.echo(json.dumps(events_schema(), indent=2))
        return
    from planner.schema import spec_schema

    click.echo(json.dumps(spec_schema(), indent=2))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into a message and an exit code."""
    try:
        cli.main(args=argv, prog_name="udroll", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 2 else exc.exit_code)
    except UdrollError as exc:
        click.echo(f"{exc.prefix}{exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception:
        with tempfile.NamedTemporaryFile("w", prefix="udroll-bug-", suffix=".txt", delete=False) as f:
            traceback.print_exc(file=f)
        click.echo(
            f"Error: udroll hit a bug (this is not your input's fault). The traceback is in {f.name}; "
            "please report it with that file.",
            err=True,
        )
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
