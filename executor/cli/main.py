"""The `udroll` command line: thin commands over the planner and executor libraries.

Errors are handled at one boundary, :func:`main`: a :class:`planner.errors.UdrollError` prints
``Error: …`` and exits with its code; anything else is a bug, exits 1 and says where the traceback is.
"""

from __future__ import annotations

import json
import sys
import tempfile
import traceback
from importlib.metadata import PackageNotFoundError, version

import click

from planner.errors import Problem, SpecError, UdrollError
from planner.load import load_spec
from planner.schema import spec_schema
from planner.timefmt import plural


def _version() -> str:
    try:
        return version("udroll")
    except PackageNotFoundError:  # running from a checkout
        return "0+unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    click.echo(json.dumps(spec_schema(), indent=2))


def _register_commands() -> None:
    """Attach the commands defined in other modules (imported here to keep `cli` importable alone)."""
    # --- command registration --- (one import + one cli.add_command per line pair)
    from executor.cli.plan import plan

    cli.add_command(plan)
    from executor.cli.azure import discover, fleet_command

    cli.add_command(discover)
    cli.add_command(fleet_command)
    from executor.cli.emulator import emulator

    cli.add_command(emulator)
    from executor.cli.notify import notify

    cli.add_command(notify)

    from executor.cli.journal import journal

    cli.add_command(journal)
    from executor.cli.control import abort, approve, pause, skip
    from executor.cli.run import resume, run
    from executor.cli.status import report, status

    for command in (run, resume, status, pause, abort, skip, approve, report):
        cli.add_command(command)


_register_commands()


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
