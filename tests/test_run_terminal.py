"""`udroll run` on a real pseudo-terminal of 100 columns by 40 rows, read back through a terminal
emulator (pyte): the plan and its confirmation, the live view, `udroll pause` from another terminal,
`udroll resume` (its first frame already shows the steps done) and `udroll abort`."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from executor_support import E2E_SPEC, ROOT

pyte = pytest.importorskip("pyte")  # the test extra; without it this test says it was skipped

COLUMNS, ROWS = 100, 40
SPEED = 300  # a 13-minute step takes 2.6 s; the 31-minute gap 6.2 s: time to pause and to look
ROW = re.compile(r"^[│|┃]\s*(?P<step>(db|web)/\S+)\s*[│|┃]\s*(?P<state>\w+)\s*[│|┃]\s*(?P<vms>[^│|┃]*)[│|┃]")


def _udroll(*args: str) -> list[str]:
    return [sys.executable, "-m", "executor.cli.main", *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "CI")}
    env.update(TERM="xterm-256color", PYTHONPATH=str(ROOT))
    return env


class Terminal:
    """A process on a pseudo-terminal of COLUMNS x ROWS, and the screen it draws."""

    def __init__(self, argv: list[str], cwd: Path):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=_env(), start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.frames: list[str] = []  # the screen after each read: every state the operator saw

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def _pump(self, timeout: float) -> bool:
        """Read what the process drew; False once it closed the terminal."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the process ended and the terminal closed
            return False
        if not data:
            return False
        self.stream.feed(data)
        self.frames.append(self.text())
        return True

    def wait_for(self, seen: Callable[[str], bool], what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if seen(self.text()):
                return self.text()
            if not self._pump(0.1) and not seen(self.text()):
                break
        raise AssertionError(f"never saw {what}; the screen:\n{self.text()}")

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._pump(0.1):
            pass
        code = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _rows(screen: str) -> dict[str, tuple[str, str]]:
    """The live view's rows: step -> (state, VMs cell)."""
    return {m["step"]: (m["state"], m["vms"].strip()) for m in map(ROW.match, screen.splitlines()) if m}


def _cut_numbers(frames: list[str]) -> list[str]:
    """Lines where a number runs into an ellipsis or the right edge: a value cut short."""
    return [
        line
        for frame in frames
        for line in frame.splitlines()
        if re.search(r"\d…", line) or (line[:1] in "│┃" and len(line) == COLUMNS and line[-1].isdigit())
    ]


def _control(command: str, journal: Path) -> None:
    done = subprocess.run(
        _udroll(command, "--journal", str(journal)), cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _answer_prompts(term: Terminal, until: Callable[[str], bool], what: str) -> str:
    """Say yes to each confirmation until the screen shows ``until``."""
    answered = 0
    while True:
        screen = term.wait_for(lambda s, n=answered: until(s) or s.count("[y/N]") > n, what)
        if until(screen):
            return screen
        answered = screen.count("[y/N]")
        term.send("y\r")


@pytest.mark.e2e
@pytest.mark.slow
def test_run_pause_resume_abort_on_a_100_by_40_terminal(tmp_path: Path) -> None:
    """Plan and confirm, the live view, pause from another terminal (calm, exit 130), resume (done
    steps shown done from its first frame, waiting reasons shown), abort (exit 4, no resume hint);
    no number is cut anywhere on the screen."""
    spec = tmp_path / "e2e.yaml"
    spec.write_text(E2E_SPEC)
    ready, journal = tmp_path / "ready.json", tmp_path / "journal"
    emulator = subprocess.Popen(
        _udroll("emulator", "serve", "--spec", str(spec), "--speed", str(SPEED), "--ready-file", str(ready)),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    terms: list[Terminal] = []
    try:
        for _ in range(300):
            if ready.exists() or emulator.poll() is not None:
                break
            time.sleep(0.05)
        # no --epoch: the emulator's clock starts at the spec's window, so the run starts at once
        assert json.loads(ready.read_text())["epoch"] == "2026-11-23T21:00:00Z"

        run = Terminal(_udroll("run", str(spec), "--emulator", str(ready), "--journal", str(journal)), ROOT)
        terms.append(run)
        plan = run.wait_for(lambda s: "Start the rollout of 4 steps (4 VMs)? [y/N]" in s, "the confirmation")
        assert all(vm in plan for vm in ("db-0", "db-1", "web-1", "web-2")) and "makespan: 2h25m" in plan, (
            plan
        )
        live = _answer_prompts(run, lambda s: any(st == "done" for st, _ in _rows(s).values()), "a done step")
        done = [step for step, (state, _) in _rows(live).items() if state == "done"]
        waiting = [
            line for line in live.splitlines() if ROW.match(line) and "db/as-db/ud1" in line
        ]  # live rows
        assert "waiting for " in waiting[0], live  # the reason, from the runner's step-waiting event
        _control("pause", journal)
        assert run.finish() == 130
        paused = run.text()
        assert "Error:" not in paused, paused
        assert (
            f"Paused from another terminal (`udroll pause`). Continue: udroll resume --journal {journal}"
            in (paused.replace("\n", ""))
        )

        resume = Terminal(_udroll("resume", "--journal", str(journal)), ROOT)
        terms.append(resume)
        first = _answer_prompts(resume, lambda s: bool(_rows(s)), "the resumed live view")
        rows = _rows(first)
        for step in done:  # right after resume: done as it was, its VM counted
            assert rows[step] == ("done", "1/1"), first
        assert "waiting for" in first, first  # why the others wait: the gap, the tier, a window
        _control("abort", journal)
        assert resume.finish() == 4
        aborted = resume.text()
        assert "aborted from another terminal (`udroll abort`)" in aborted.replace("\n", "")
        assert "udroll resume" not in aborted, aborted
        assert _cut_numbers(run.frames + resume.frames) == []
    finally:
        for term in terms:
            term.kill()
        emulator.terminate()
        emulator.wait(timeout=30)
