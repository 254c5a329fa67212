"""The code stays as STYLE.md asks: ruff lint and format clean, mypy clean on planner/ and executor/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_finds_nothing_to_lint() -> None:
    """`ruff check .` passes with the rules configured in pyproject.toml."""
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_has_nothing_to_change() -> None:
    """Every file is already formatted by `ruff format`."""
    result = _run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_finds_no_type_error() -> None:
    """mypy (configured in pyproject.toml) type-checks planner/ and executor/ without an error."""
    result = _run("mypy", "--no-incremental")
    assert result.returncode == 0, result.stdout + result.stderr
