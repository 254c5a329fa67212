"""Fuzz udroll's inputs: 10,000 mutated specs, fleets, faults files and --start values (issue 14).

44 kinds of mutation (tests/hostile.py: text edits, control characters, lone surrogates, deep
nesting, alias bombs, booleans for numbers, timestamps near year 1 and 9999, huge durations, nested
regexes, unknown placeholders, duplicate and chained items, ...) over the bundled example plans,
their inventories as fleet snapshots, the documented faults file and a plan start. Each input runs
in this process through load, plan and the previews, under a watchdog: a 10 s timer (SIGALRM) and
an address-space limit of 500 MB above the start (a MemoryError). Printed at the end:

    tracebacks (and distinct places), runs over 10 s, runs over 500 MB, messages without a position

Budget (issue 14): all four are 0. Run:

    PYTHONPATH=. /work/venv/bin/python benchmarks/fuzz_inputs.py            # 10,000 inputs
    PYTHONPATH=. /work/venv/bin/python benchmarks/fuzz_inputs.py -n 2000 --seed 7
"""

from __future__ import annotations

import argparse
import collections
import random
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import hostile  # noqa: E402

TIME_LIMIT_S = 10
MEMORY_LIMIT = 500 * 2**20


class Overtime(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` in udroll swallows it."""


def _alarm(signum: int, frame: Any) -> None:
    raise Overtime


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def run_one(base: hostile.Base, text: str) -> tuple[str, hostile.Outcome | None, float]:
    """("ok" | "overtime" | "memory", outcome, seconds) for one input under the watchdog."""
    limit = _address_space() + MEMORY_LIMIT
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    started = time.monotonic()
    try:
        outcome = hostile.attempt(base, text)
        verdict = "memory" if outcome.where.startswith("MemoryError") else "ok"
    except Overtime:
        return "overtime", None, time.monotonic() - started
    except MemoryError:
        return "memory", None, time.monotonic() - started
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    took = time.monotonic() - started
    return ("overtime" if took > TIME_LIMIT_S else verdict), outcome, took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=10_000, help="inputs to try (default 10,000)")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    rng = random.Random(args.seed)
    bases, mutations = hostile.bases(), hostile.MUTATIONS
    counts: collections.Counter[str] = collections.Counter()  # outcome statuses and watchdog verdicts
    places: collections.Counter[str] = collections.Counter()
    unlocated: list[str] = []
    first_place: collections.Counter[str] = collections.Counter()  # at 1:1: right, or a lost position?
    slowest = (0.0, "")
    started = time.monotonic()
    for i in range(args.n):
        base, mutation, seed = rng.choice(bases), rng.choice(mutations), rng.randrange(2**32)
        text = hostile.mutate(base, mutation, seed)
        verdict, outcome, took = run_one(base, text)
        label = f"{base.name} {mutation.__name__} seed={seed}"
        slowest = max(slowest, (took, label))
        if verdict != "ok":
            counts[verdict] += 1
        if outcome is not None:
            counts[outcome.status] += 1
            if outcome.status == "traceback":
                places[outcome.where] += 1
                print(f"traceback: {outcome.where}: {label}", flush=True)
            unlocated += [f"{label}: {m}" for m in outcome.unlocated]
            first_place.update(m.split(":1:1: ", 1)[1][:70] for m in outcome.problems if ":1:1: " in m)
        if verdict != "ok":
            print(f"{verdict}: {label} ({took:.1f}s)", flush=True)
        if (i + 1) % 1000 == 0:
            print(f"... {i + 1} inputs, {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    for message in unlocated[:20]:
        print(f"no position: {message}")
    for message, count in first_place.most_common(10):
        print(f"at 1:1 ({count}x): {message}")
    took = time.monotonic() - started
    print(
        f"{args.n} inputs ({len(mutations)} mutations x {len(bases)} bases) in {took:.0f}s: "
        f"{counts['ok']} accepted, {counts['refused']} refused with located problems\n"
        f"tracebacks: {counts['traceback']} ({len(places)} distinct places)\n"
        f"over {TIME_LIMIT_S} s: {counts['overtime']}\n"
        f"over {MEMORY_LIMIT >> 20} MB: {counts['memory']}\n"
        f"messages without a position: {len(unlocated)}\n"
        f"slowest: {slowest[0]:.2f}s ({slowest[1]})"
    )


if __name__ == "__main__":
    main()
