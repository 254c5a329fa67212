"""The `udroll` command line: thin commands over the planner and executor libraries.

Errors are handled at one boundary, :func:`main`: a :class:`planner.errors.UdrollError` prints
``Error: …`` and exits with its code; anything else is a bug, exits 1 and says where the traceback is.
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
import traceback
from collections.abc import Iterator, Mapping, MutableMapping
from importlib.metadata import PackageNotFoundError, version

import click

from planner.errors import Problem, SpecError, UdrollError
from planner.load import load_spec
from planner.schema import spec_schema


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
        inventory = f", {vms} VMs in inventory" if loaded.inventory else ""
        click.echo(f"{path}: ok ({len(loaded.spec.tiers)} tiers{inventory})")
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


# name -> (module, attribute) of the commands defined in other modules, imported when first looked
# up: `udroll plan` then does not import the Azure SDK, the emulator, Storage and notifications
_COMMANDS = {
    "plan": ("executor.cli.plan", "plan"),
    "discover": ("executor.cli.azure", "discover"),
    "fleet": ("executor.cli.azure", "fleet_command"),
    "emulator": ("executor.cli.emulator", "emulator"),
    "notify": ("executor.cli.notify", "notify"),
    "journal": ("executor.cli.journal", "journal"),
    "run": ("executor.cli.run", "run"),
    "resume": ("executor.cli.run", "resume"),
    "status": ("executor.cli.status", "status"),
    "pause": ("executor.cli.control", "pause"),
    "abort": ("executor.cli.control", "abort"),
    "skip": ("executor.cli.control", "skip"),
    "approve": ("executor.cli.control", "approve"),
    "report": ("executor.cli.status", "report"),
}


class _Commands(MutableMapping[str, click.Command]):
    """The root group's commands (click looks them up in ``cli.commands``): a command of another
    module is imported the first time it is looked up. Importing them all costs about 0.7 s of
    start-up that `udroll plan` does not need."""

    def __init__(self, own: Mapping[str, click.Command], lazy: Mapping[str, tuple[str, str]]):
        self.loaded = dict(own)
        self.lazy = dict(lazy)

    def __getitem__(self, name: str) -> click.Command:
        if name not in self.loaded:
            module, attribute = self.lazy.pop(name)  # KeyError for an unknown name, as a dict
            self.loaded[name] = getattr(importlib.import_module(module), attribute)
        return self.loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self.lazy.pop(name, None)
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if self.lazy.pop(name, None) is None:
            del self.loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self.loaded, *self.lazy])

    def __len__(self) -> int:
        return len(self.loaded) + len(self.lazy)


cli.commands = _Commands(cli.commands, _COMMANDS)


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
        click.echo(f"Error: {exc}", err=True)
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
