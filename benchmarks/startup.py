"""Startup time of the light commands against a bare `python -c "import click"`, in the same run
(issue 15: `--version`, `--help`, `validate` and `schema` under 0.5 s).

    PYTHONPATH=. /work/venv/bin/python benchmarks/startup.py [REPEATS]

Each figure is the best of REPEATS fresh interpreters (the minimum is the least disturbed by a busy
machine); `udroll plan` is shown for contrast, as a command that does load networkx and OR-Tools.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOP = str(ROOT / "plans" / "three-tier-shop.yaml")
UDROLL = [sys.executable, "-c", "from executor.cli.main import main; main()"]
CASES = {
    'python -c "import click"': [sys.executable, "-c", "import click"],
    "udroll --version": [*UDROLL, "--version"],
    "udroll --help": [*UDROLL, "--help"],
    "udroll validate SHOP": [*UDROLL, "validate", SHOP],
    "udroll schema": [*UDROLL, "schema"],
    "udroll plan SHOP (contrast)": [*UDROLL, "plan", SHOP, "-o", "json"],
}


def best_of(argv: list[str], repeats: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    base = None
    for name, argv in CASES.items():
        seconds = best_of(argv, repeats)
        base = base if base is not None else seconds
        print(f"{name:<30} {seconds:6.3f} s   (+{seconds - base:5.3f} s over import click)")


if __name__ == "__main__":
    main()
