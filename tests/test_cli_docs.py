"""The generated command reference (docs/cli.md) is the commands' current help, and shell completion
works as docs/cli.md and the README say (issue 15)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from executor.cli.docs import reference
from executor.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent


def test_docs_cli_md_is_up_to_date() -> None:
    """docs/cli.md is what `udroll docs` generates now: regenerate it with `udroll docs --out docs/cli.md`."""
    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == reference(cli), "docs/cli.md is stale: run `udroll docs --out docs/cli.md`"


def test_the_reference_covers_every_command_and_subcommand() -> None:
    """Each command and each group's subcommand has its section with its usage line."""
    text = reference(cli)
    for path in ("udroll run", "udroll status", "udroll runs", "udroll check", "udroll emulator serve"):
        assert f"## `{path}`" in text and f"Usage: {path} " in text


def test_bash_completion_script_and_completions_work() -> None:
    """`_UDROLL_COMPLETE=bash_source udroll` prints a bash script; asking it completes command names."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "_UDROLL_COMPLETE": "bash_source"}
    udroll = [sys.executable, "-c", "from executor.cli.main import main; main()"]
    script = subprocess.run(udroll, env=env, capture_output=True, text=True, timeout=60).stdout
    assert "complete -o nosort -F _udroll_completion udroll" in script
    env.update(_UDROLL_COMPLETE="bash_complete", COMP_WORDS="udroll sta", COMP_CWORD="1")
    answer = subprocess.run(udroll, env=env, capture_output=True, text=True, timeout=60).stdout
    assert "plain,status" in answer.splitlines()


def test_an_unwritable_out_is_a_clear_error(tmp_path: Path) -> None:
    """`udroll docs --out` into a missing directory says which file cannot be written (exit 2), no traceback."""
    target = tmp_path / "missing" / "cli.md"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from executor.cli.main import main; main(sys.argv[1:])",
            "docs",
            "--out",
            str(target),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"cannot write {target}" in done.stderr and "Traceback" not in done.stderr
    assert "udroll hit a bug" not in done.stderr
