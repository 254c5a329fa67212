"""The installed `udroll` (not the checkout) works: every subpackage and bundled example is packaged.

The suite imports the checkout, so a package missing from the wheel would go unnoticed; these tests
run the console script from another directory, where only the installed package can be imported.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def udroll() -> str:
    beside = Path(sys.executable).with_name("udroll")
    found = str(beside) if beside.exists() else shutil.which("udroll")
    if not found:
        pytest.skip("the udroll console script is not installed in this environment")
    return found


def test_the_installed_cli_plans_a_spec_from_another_directory(tmp_path: Path) -> None:
    """`udroll plan` imports the renderers, the planner and the executor from the installed package."""
    result = subprocess.run(
        [udroll(), "plan", str(ROOT / "plans" / "three-tier-shop.yaml"), "-o", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"format": "udroll/plan@1"' in result.stdout


def test_the_bundled_examples_are_package_data(tmp_path: Path) -> None:
    """The embedded default (`udroll run --simulate` with no spec) finds its example and hook scripts."""
    code = (
        "from importlib.resources import files; p = files('plans');"
        "print((p / 'three-tier-shop.yaml').is_file(), (p / 'scripts' / 'sql-failover-away').is_file())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.stdout.split() == ["True", "True"], result.stderr
