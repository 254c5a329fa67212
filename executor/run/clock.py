"""Clocks (DESIGN §3): the runner and emulator never read time or sleep except through one of these.

- :class:`SystemClock` — real time.
- :class:`ScaledClock` — simulated time running ``speed`` times faster than real time from an epoch;
  the emulator and the simulating runner share one instance.
- :class:`FakeClock` — time moves only when someone sleeps or calls ``advance``: a 6-hour rollout
  takes milliseconds in tests.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ScaledClock:
    """Simulated time: starts at ``epoch`` and runs ``speed`` times faster than the wall clock.

    It can stand still, so that simulated time passes only while the runner waits for it, as real
    time does in real life, where the runner's own work takes a blink of a maintenance's minutes:

    - :meth:`pause` / :meth:`resume` (counted): stand still while any pause is on — the simulating
      runner pauses it while it works (its loop, a step's turn, a round of probes: executor.run.lag);
    - :meth:`sleep` on a paused clock moves it to the sleeper's wake-up at once, as a discrete-event
      simulation would (a turn waiting out a throttle, or a read it waits on, never stalls it; and
      letting it run meanwhile gave the clock whatever real time the sleeper took to wake up — under
      load, minutes of simulated time per wait);
    - :meth:`hold`: stand still for some real seconds (a runner that fell behind its plan);
    - ``standing``: stand still from the start until :meth:`start` (the runner's first wait), so
      setting up a run or asking the operator to confirm it takes no simulated time.

    Time never goes back: standing freezes it, then it runs on from there. Only a ``shared`` clock is
    paused or held: an emulator in another process keeps its own time, and a runner holding a private
    copy of it would drift from it.
    """

    def __init__(self, epoch: dt.datetime, speed: float = 1.0, shared: bool = False, standing: bool = False):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.epoch = epoch.astimezone(dt.timezone.utc)
        self.speed = speed
        self.shared = shared  # the emulator's own clock, in this process (run --simulate)
        self._origin = time.monotonic()
        # (real seconds lost to ended stand-stills, the current one's start and end; end inf while
        # paused): one tuple, swapped whole, so now() reads it without a lock
        self._held: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._lock = threading.Lock()
        self._pauses = 0  # pause() without resume()
        self._after = 0.0  # when the latest hold ends (monotonic real time)
        self._standing = standing
        if standing:  # paused from the epoch on
            self._pauses, self._held = 1, (0.0, self._origin, math.inf)

    def _running(self, real: float) -> float:
        """Real seconds the clock has run (not stood still) by monotonic time ``real``."""
        lost, start, until = self._held
        if real < until:
            return start - self._origin - lost
        return real - self._origin - lost - (until - start)

    def now(self) -> dt.datetime:
        return self.epoch + dt.timedelta(seconds=self._running(time.monotonic()) * self.speed)

    def _settle(self) -> None:
        """After a change of pauses (under the lock): stand still or run on."""
        real = time.monotonic()
        lost, start, until = self._held
        if self._pauses > 0:
            if until == math.inf:
                return
            if real >= until:  # running: a new stand-still from now
                self._held = (lost + until - start, real, math.inf)
            else:  # a hold in progress goes on as a pause
                self._held = (lost, start, math.inf)
        elif until == math.inf:  # the pause ends now, or when the latest hold does
            self._held = (lost, start, max(real, self._after))

    def hold(self, real_seconds: float) -> None:
        """Stand still until ``real_seconds`` from now (a longer hold in progress is kept)."""
        with self._lock:
            real = time.monotonic()
            self._after = max(self._after, real + max(0.0, real_seconds))
            lost, start, until = self._held
            if until == math.inf:  # paused: the hold is kept for when the pause ends
                return
            if real >= until:  # the last stand-still ended: fold it into the lost time
                self._held = (lost + until - start, real, self._after)
            else:
                self._held = (lost, start, max(until, self._after))

    def pause(self) -> None:
        """Stand still until as many :meth:`resume` calls."""
        with self._lock:
            self._pauses += 1
            self._settle()

    def resume(self) -> None:
        with self._lock:
            self._pauses -= 1
            self._settle()

    def start(self) -> None:
        """End a ``standing`` clock's stand-still (again: nothing)."""
        with self._lock:
            if not self._standing:
                return
            self._standing = False
            self._pauses -= 1
            self._settle()

    @property
    def held(self) -> float:
        """Real seconds this clock has stood still so far."""
        lost, start, until = self._held
        return lost + min(until, time.monotonic()) - start if until > start else lost

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time (a hold makes it longer in real time; a pause, none)."""
        if seconds <= 0:
            return
        target = self.now() + dt.timedelta(seconds=seconds)
        while (left := (target - self.now()).total_seconds()) > 0:
            if self._leap(target):
                return
            time.sleep(max(left / self.speed, 0.001))

    def _leap(self, target: dt.datetime) -> bool:
        """While paused, move the clock to ``target`` at once; False when it runs (or a hold is on,
        which is waited out)."""
        with self._lock:
            lost, start, until = self._held
            if until != math.inf:
                return False
            ahead = (target - self.now()).total_seconds() / self.speed
            if ahead > 0:  # less time lost to standing still: the clock reads ``target``
                self._held = (lost - ahead, start, until)
            return True

    def real_seconds(self, simulated: float) -> float:
        return simulated / self.speed


class FakeClock:
    """Manual time for tests: ``sleep`` advances it instantly; thread-safe."""

    def __init__(self, start: dt.datetime):
        self._now = start.astimezone(dt.timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += dt.timedelta(seconds=max(0.0, seconds))
