"""The README's "Use from Python" example runs as printed: plan a spec, simulate it, read its journal."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- example:python -->\n```python\n(.*?)```\n<!-- /example:python -->", text, re.S)
    assert found, "README.md lost its <!-- example:python --> block"
    return found.group(1)


@pytest.mark.e2e
def test_the_readme_python_example_plans_simulates_and_reads_the_journal(tmp_path: Path) -> None:
    """The example's printed lines: the plan's size, a completed simulation, the journal's state."""
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(_example(), "README.md", "exec"), {"JOURNAL": str(tmp_path / "sim")})
    finally:
        os.chdir(cwd)
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"\d+ steps, \d+ hours", lines[0])
    assert lines[1] == "completed"
    assert lines[2].startswith("completed ['done', 'done', 'done']")
