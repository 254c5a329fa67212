"""Crash campaign and storage cost with the journal in Azure Storage (Azurite): runners killed with SIGKILL
at random moments, each time resumed by a new process in a new directory that knows only the URL.

    PYTHONPATH=. python benchmarks/blob_crash_campaign.py [--kills 50] [--per-run 8] [--seed 16]
    PYTHONPATH=. python benchmarks/blob_crash_campaign.py --cost            # transactions per VM

Each rollout (tests/executor_support.E2E_SPEC: 4 VMs, 4 steps, at 600x against an emulator served here)
is killed ``--per-run`` times, then left to finish; rollouts follow one another until ``--kills`` kills.
After each, the emulator's request log must show every VM asked to perform maintenance exactly once.
Prints kills, rollouts, double triggers (must be 0) and how long resumes waited for a dead lease.
``--cost`` runs the three-night rollout of tests/blob_support once, uninterrupted, with Azurite's request
log on, and prints storage transactions per maintained VM by kind.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from azurite import running_azurite  # noqa: E402
from blob_support import NIGHTS_SPEC, JumpClock, environment, start, triggers_per_vm, udroll  # noqa: E402
from executor_support import E2E_SPEC  # noqa: E402

from executor.azure.blob_journal import BlobJournal  # noqa: E402
from executor.emulator import Emulator  # noqa: E402
from planner.load import parse_spec  # noqa: E402

EPOCH = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)


def _held(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if BlobJournal.exists(url) and BlobJournal.open(url).is_locked():
            return
        time.sleep(0.1)


def one_rollout(
    work: Path, endpoint: str, env: dict[str, str], kills: int, rng: random.Random
) -> dict[str, object]:
    """One rollout killed ``kills`` times: its kills, resumes, takeover waits, and triggers per VM."""
    spec = work / "spec.yaml"
    spec.write_text(E2E_SPEC)
    url = f"{endpoint}/campaign/run-{uuid.uuid4().hex[:8]}"
    done, waits, code = 0, [], None
    with Emulator(parse_spec(E2E_SPEC, str(spec)).inventory, speed=600.0, epoch=EPOCH) as emu:
        emu.write_ready_file(work / "ready.json")
        with (work / "runner.log").open("ab") as log:
            for attempt in range(kills + 20):
                fresh = not BlobJournal.exists(url)
                args = ["run", str(spec), "--emulator", str(work / "ready.json")] if fresh else ["resume"]
                began = time.monotonic()
                proc = start([*args, "--journal", url, "--yes"], work / f"agent-{attempt}", env, log)
                if done < kills:
                    _held(url, proc)
                    waits.append(time.monotonic() - began)
                try:
                    code = proc.wait(timeout=rng.uniform(0.1, 2.5) if done < kills else 300)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    done += 1
                    continue
                if code == 0:
                    break
        per_vm = triggers_per_vm(emu.requests())
    state = BlobJournal.open(url).run_state
    return {"kills": done, "code": code, "state": state, "per_vm": per_vm, "waits": waits}


def campaign(kills: int, per_run: int, seed: int) -> int:
    rng, total, rollouts, doubles, unfinished, waits = random.Random(seed), 0, 0, 0, 0, []
    with tempfile.TemporaryDirectory() as tmp, running_azurite(Path(tmp)) as connection:
        endpoint = connection.split("BlobEndpoint=")[1].rstrip(";")
        env = environment(connection)
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = connection  # this process reads the runs too
        while total < kills:
            work = Path(tmp) / f"rollout-{rollouts}"
            work.mkdir()
            result = one_rollout(work, endpoint, env, min(per_run, kills - total), rng)
            rollouts += 1
            total += int(result["kills"])  # type: ignore[call-overload]
            per_vm: Counter[str] = result["per_vm"]  # type: ignore[assignment]
            doubles += sum(1 for n in per_vm.values() if n != 1) + (4 - len(per_vm))
            waits += result["waits"]  # type: ignore[arg-type]
            counts = dict(Counter(per_vm.values()))  # {1: 4}: four VMs, each triggered once
            print(f"rollout {rollouts}: {result['kills']} kills, {result['state']}, {counts}", flush=True)
            unfinished += result["state"] != "completed"
    print(f"{total} kills over {rollouts} rollouts: {doubles} VMs triggered other than exactly once")
    print(f"{unfinished} rollouts did not complete")
    print(f"a resume waited for the dead runner's lease at most {max(waits):.1f} s (lease 15 s)")
    return 1 if doubles or unfinished else 0


def cost() -> int:
    """Storage transactions of one uninterrupted three-night rollout, per maintained VM, by kind."""
    with tempfile.TemporaryDirectory() as tmp:
        debug = Path(tmp) / "requests.log"
        with running_azurite(Path(tmp), debug_log=debug) as connection:
            endpoint = connection.split("BlobEndpoint=")[1].rstrip(";")
            env, url = environment(connection, lease=60), f"{endpoint}/udroll/cost"
            os.environ["AZURE_STORAGE_CONNECTION_STRING"] = connection
            spec = Path(tmp) / "spec.yaml"
            spec.write_text(NIGHTS_SPEC)
            clock = JumpClock(EPOCH, 120.0)
            with Emulator(parse_spec(NIGHTS_SPEC, str(spec)).inventory, clock=clock, epoch=EPOCH) as emu:
                emu.write_ready_file(Path(tmp) / "ready.json")
                first = ["run", str(spec), "--emulator", str(Path(tmp) / "ready.json")]
                real = time.monotonic()
                for night in range(1, 6):
                    args = (first if night == 1 else ["resume"]) + ["--journal", url, "--yes", "--until-idle"]
                    code, output = udroll(args, Path(tmp) / f"night-{night}", env)
                    if code != 0 or "complete" in output:
                        break
                    clock.jump(_next_start(url))  # the next night's pipeline run
                real = time.monotonic() - real
        kinds = Counter(_kind(line) for line in debug.read_text().splitlines() if "RequestMethod=" in line)
    vms = 4
    print(f"{sum(kinds.values())} storage transactions for {vms} VMs over {night} nights ({real:.0f} s real)")
    for kind, count in kinds.most_common():
        print(f"  {kind:<28} {count:>5}  ({count / vms:.1f} per VM)")
    return 0


def _next_start(url: str) -> dt.datetime:
    waiting = [
        s.waiting_until for s in BlobJournal.open(url).steps() if s.state == "waiting" and s.waiting_until
    ]
    return min(waiting)


def _kind(line: str) -> str:
    found = re.search(r"RequestMethod=(\w+) RequestURL=\S+?/([^/?\s]+)(\?\S*)?\s", line)
    if not found:
        return "other"
    method, blob, query = found.group(1), found.group(2), found.group(3) or ""
    comp = re.search(r"comp=(\w+)", query)
    return f"{method} {blob}" + (f" {comp.group(1)}" if comp else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--per-run", type=int, default=8)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--cost", action="store_true")
    args = parser.parse_args()
    return cost() if args.cost else campaign(args.kills, args.per_run, args.seed)


if __name__ == "__main__":
    sys.exit(main())
