"""Clocks (DESIGN §3): the runner and emulator never read time or sleep except through one of these.

- :class:`SystemClock` — real time.
- :class:`ScaledClock` — simulated time running ``speed`` times faster than real time from an epoch;
  the emulator and the simulating runner share one instance.
- :class:`FakeClock` — time moves only when someone sleeps or calls ``advance``: a 6-hour rollout
  takes milliseconds in tests.
"""

from __future__ import annotations

import datetime as dt
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
    """Simulated time: starts at ``epoch`` and runs ``speed`` times faster than the wall clock."""

    def __init__(self, epoch: dt.datetime, speed: float = 1.0):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.epoch = epoch.astimezone(dt.timezone.utc)
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> dt.datetime:
        return self.epoch + dt.timedelta(seconds=(time.monotonic() - self._origin) * self.speed)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)

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
