"""The simulation's clock (executor.run.clock.ScaledClock): it stands still while the runner works, a
sleep on it never stalls (it moves a paused clock to its wake-up), and time never goes back."""

from __future__ import annotations

import datetime as dt
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from executor.run.clock import ScaledClock

T0 = dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.timezone.utc)


def test_a_standing_clock_stands_still_until_started() -> None:
    """Set-up (and an operator's confirmation) before the runner first waits takes no simulated time."""
    clock = ScaledClock(T0, speed=1000.0, shared=True, standing=True)
    time.sleep(0.02)
    assert clock.now() == T0
    clock.start()
    clock.start()  # again: nothing (the pause it ended is not ended twice)
    time.sleep(0.02)
    assert clock.now() > T0 + dt.timedelta(seconds=10)


def test_a_sleep_on_a_paused_clock_moves_it_to_the_wake_up_at_once() -> None:
    """A thread sleeping on the clock while another has paused it (a turn waiting out a throttle while
    the runner works) wakes at once, the clock moved to its wake-up and no further — however long the
    thread takes to get a core — and it stands there until the pause ends."""
    clock = ScaledClock(T0, speed=1000.0, shared=True)
    clock.pause()
    frozen = clock.now()
    sleeper = threading.Thread(target=clock.sleep, args=(30.0,))
    sleeper.start()
    sleeper.join(timeout=5)
    assert not sleeper.is_alive()
    time.sleep(0.02)
    assert clock.now() == frozen + dt.timedelta(seconds=30)
    clock.resume()
    time.sleep(0.02)
    assert clock.now() > frozen + dt.timedelta(seconds=30)


def test_a_hold_asked_during_a_pause_is_kept_after_it() -> None:
    """A hold asked while the clock is paused still holds it after the pause ends."""
    clock = ScaledClock(T0, speed=1000.0, shared=True)
    clock.pause()
    clock.hold(60.0)
    clock.resume()
    frozen = clock.now()
    time.sleep(0.02)
    assert clock.now() == frozen


OPS = st.lists(st.sampled_from(["pause", "resume", "hold", "wait", "sleep"]), max_size=25)


@settings(max_examples=40, deadline=None)
@given(OPS)
def test_time_never_goes_back(ops: list[str]) -> None:
    """Whatever the mix of pauses, resumes, holds, sleeps and real waits, simulated time never goes
    back, and it stands still while a pause is on and nobody sleeps."""
    clock = ScaledClock(T0, speed=1000.0, shared=True)
    pauses, last = 0, clock.now()
    for op in ops:
        if op == "pause":
            clock.pause()
            pauses += 1
        elif op == "resume" and pauses:
            clock.resume()
            pauses -= 1
        elif op == "hold":
            clock.hold(0.002)
        elif op == "sleep":
            clock.sleep(1.0)
        before = clock.now()
        time.sleep(0.003)
        now = clock.now()
        assert now >= before >= last
        if pauses:
            assert now == before
        last = now
