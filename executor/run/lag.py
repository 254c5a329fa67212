"""Whether the runner keeps its own schedule (issue 18), and what it does when it does not.

**Behind**, concretely: a step's turn (the runner's next look at its VMs, gates or baseline) runs more
than ``BEHIND_S`` of clock time after the time the step asked for, or a step starts more than that
after the time the scheduler let it start. 60 s is the least gap a health gate tolerates between two
probes, so below it a lagging runner cannot change a verdict. (Gates and baselines do not fail a VM
for the lag either way: a round begun late moves their deadline, see executor.run.gates.)

When behind, the runner says so: a ``behind`` event (journalled, in events.jsonl, and shown by
``udroll status`` as "runner is 12 min behind its plan"), again each time the lag doubles, and an
``on-time`` event once no turn has been late for ``CAUGHT_UP_S``.

In a simulation the clock is the emulator's (a :class:`executor.run.clock.ScaledClock` shared in
process), and the runner's own work takes no simulated time, as it takes next to none in real life
next to a maintenance's minutes: the clock stands still while the runner's loop works (from its wake-up
to its next wait, :meth:`Lag.busy`), while any step's turn runs (its Azure calls, guard reads and
baseline), and while a round of health probes runs (:meth:`Lag.instant_probes`); it runs while the
runner waits for the next due time, and while anyone sleeps on it (a throttle's wait). A
compressed simulation then keeps its plan however slow the machine (at 3000x one real second is 50
simulated minutes: time passing while the runner worked made 5,000 VMs end 7x later than planned).
A late turn (a clock the runner cannot stop) also holds it: the clock stands still for the real time
the lag amounts to (``lag / speed``, at most ``MAX_HOLD_S``).
Why a hold rather than a lower speed: the speed is read once by the parts that convert real to
simulated seconds (Retry-After, the gates' tolerance), a hold changes no rate, never moves time
back, and only costs real time while the runner is actually late; each hold is bounded (and a probe
round ends on its own timeouts), so a runner that stays slow makes the simulation slower, never
stuck. Only a clock shared with the emulator in process is held (``udroll run --simulate``); real
time, fake time and a runner's copy of a separate emulator's clock are left alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence

from executor.run.context import RunContext
from executor.run.gates import Check, Probe, Target
from planner.timefmt import duration

BEHIND_S = 60.0  # clock seconds late before the runner is behind its plan
CAUGHT_UP_S = 300.0  # clock seconds without a late turn before it is on time again
MAX_HOLD_S = 5.0  # real seconds one late turn may hold a simulation's clock


class Lag:
    """Watches how late the runner's turns and step starts run; thread-safe (turns run in a pool)."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.reported = 0.0  # the lag last reported in a `behind` event; 0: on time
        self.last_late: dt.datetime | None = None
        self._lock = threading.Lock()

    def started(self, due: dt.datetime, what: str, step: str | None = None) -> None:
        """Something the runner planned for ``due`` starts now: note how late it is."""
        now = self.ctx.clock.now()
        late = (now - due).total_seconds()
        if late > BEHIND_S:
            self._hold(late)
            with self._lock:
                self.last_late = now
                report = late >= 2 * self.reported
                if report:
                    self.reported = late
            if report:
                self.ctx.emit(
                    "behind",
                    step,
                    message=f"runner is {duration(late)} behind its plan: {what} ran {duration(late)} late",
                    lag_s=round(late, 1),
                )
            return
        with self._lock:
            caught_up = (
                self.reported > 0
                and self.last_late is not None
                and (now - self.last_late).total_seconds() >= CAUGHT_UP_S
            )
            if caught_up:
                self.reported = 0.0
        if caught_up:
            self.ctx.emit("on-time", message="runner caught up with its plan")

    def _stoppable(self) -> tuple[Callable[[], None], Callable[[], None]] | None:
        """The clock's pause and resume when it is a simulation's (shared with the emulator)."""
        clock = self.ctx.clock
        pause, resume = getattr(clock, "pause", None), getattr(clock, "resume", None)
        if getattr(clock, "shared", False) and callable(pause) and callable(resume):
            return pause, resume
        return None

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """The runner works: in a simulation, the clock stands still meanwhile."""
        stoppable = self._stoppable()
        if stoppable is None:
            yield
            return
        pause, resume = stoppable
        pause()
        try:
            yield
        finally:
            resume()

    def waiting(self) -> None:
        """The runner waits for the first time: a simulation's clock that stood still while the run
        was set up (and confirmed) starts."""
        start = getattr(self.ctx.clock, "start", None)
        if self._stoppable() is not None and callable(start):
            start()

    def instant_probes(self) -> None:
        """In a simulation, a round of probes takes no simulated time: the shared clock stands still
        while it runs (600 HTTPS probes take a real second: 17 simulated minutes at 1000x, in which
        the VMs' health would not change in real life; unobserved, it made gates late)."""
        prober, stoppable = self.ctx.prober, self._stoppable()
        if stoppable is None:
            return
        pause, resume = stoppable

        def paused(work: dict[str, tuple[Target, Sequence[Check]]]) -> dict[str, list[Probe]]:
            pause()
            try:
                return prober(work)
            finally:
                resume()

        self.ctx.prober = paused

    def _hold(self, late: float) -> None:
        clock = self.ctx.clock
        hold = getattr(clock, "hold", None)
        if callable(hold) and getattr(clock, "shared", False):
            hold(min(MAX_HOLD_S, late / float(getattr(clock, "speed", 1.0))))
