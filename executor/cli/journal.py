"""`udroll journal export`: copy a run between journal stores (a directory and Azure Storage, either way)."""

from __future__ import annotations

import click

from executor import rollout
from executor.cli.common import journal_option


@click.group()
def journal() -> None:
    """Work with a run's journal as a whole."""


@journal.command("export")
@journal_option
@click.option(
    "--to", "target", required=True, metavar="DIR|URL", help="Where the copy goes (must not hold a run yet)."
)
def export(journal_dir: str, target: str) -> None:
    """Copy a run to another store: a laptop run into a pipeline's storage account, or a pipeline run
    home to inspect it. The run must not be running (pause it first); the copy can be resumed.

    \b
    Examples:
      udroll journal export --journal .udroll/shop-prod --to https://acct.blob.core.windows.net/udroll/shop
      udroll journal export --journal https://acct.blob.core.windows.net/udroll/shop --to ./shop-copy
    """
    copy = rollout.export_run(journal_dir, target)
    click.echo(f"Copied {journal_dir} to {copy.location}. Continue it with: udroll resume --journal {target}")
