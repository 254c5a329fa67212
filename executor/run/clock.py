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

    :meth:`hold` stops it for some real seconds: a simulating runner that fell behind its plan holds
    the clock it shares with the emulator (executor.run.lag), so simulated time does not pass while
    the runner cannot look at it. Time never goes back: a hold freezes it, then it runs on from there.
    Only a ``shared`` clock is held: an emulator in another process keeps its own time, and a runner
    holding a private copy of it would drift from it.
    """

    def __init__(self, epoch: dt.datetime, speed: float = 1.0, shared: bool = False):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.epoch = epoch.astimezone(dt.timezone.utc)
        self.speed = speed
        self.shared = shared  # the emulator's own clock, in this process (run --simulate)
        self._origin = time.monotonic()
        # (real seconds lost to ended holds, the current hold's start and end): one tuple, swapped
        # whole, so now() reads it without a lock
        self._held: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._lock = threading.Lock()
        self._pauses = 0  # pause() without resume(): while any, the clock stands still
        self._after = 0.0  # when a hold asked during a pause ends (monotonic real time)

    def _running(self, real: float) -> float:
        """Real seconds the clock has run (not held) by monotonic time ``real``."""
        lost, start, until = self._held
        if real < until:
            return start - self._origin - lost
        return real - self._origin - lost - (until - start)

    def now(self) -> dt.datetime:
        return self.epoch + dt.timedelta(seconds=self._running(time.monotonic()) * self.speed)

    def hold(self, real_seconds: float) -> None:
        """Stand still until ``real_seconds`` from now (a longer hold in progress is kept)."""
        with self._lock:
            real = time.monotonic()
            if self._pauses:
                self._after = max(self._after, real + real_seconds)
                return
            lost, start, until = self._held
            if real >= until:  # the last hold ended: fold it into the lost time
                self._held = (lost + until - start, real, real + max(0.0, real_seconds))
            else:
                self._held = (lost, start, max(until, real + real_seconds))

    def pause(self) -> None:
        """Stand still until as many :meth:`resume` calls (a probe round: executor.run.lag)."""
        with self._lock:
            self._pauses += 1
            if self._pauses > 1:
                return
            real = time.monotonic()
            lost, start, until = self._held
            self._after = until
            if real >= until:
                self._held = (lost + until - start, real, math.inf)
            else:
                self._held = (lost, start, math.inf)

    def resume(self) -> None:
        with self._lock:
            self._pauses -= 1
            if self._pauses == 0:
                lost, start, _ = self._held
                self._held = (lost, start, max(time.monotonic(), self._after))

    @property
    def held(self) -> float:
        """Real seconds this clock has stood still so far."""
        lost, start, until = self._held
        return lost + min(until, time.monotonic()) - start if until > start else lost

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time (a hold makes it longer in real time)."""
        if seconds <= 0:
            return
        target = self.now() + dt.timedelta(seconds=seconds)
        while (left := (target - self.now()).total_seconds()) > 0:
            time.sleep(max(left / self.speed, 0.001))

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
