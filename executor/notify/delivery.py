"""Delivery in the background: the :class:`Notifier` is a Reporter; ``emit`` only translates the event
and puts it on each interested sink's bounded queue, so a slow or dead endpoint never delays the
runner. One worker thread per sink delivers its queue in order, retrying with tenacity, and journals
the outcome as a transition row (``notify-delivered`` / ``notify-failed``); a failed delivery is a
warning in `udroll status`, never a failed run.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from executor.notify.payload import Notification, RunInfo, translate
from executor.notify.sinks import Deliver, DeliveryError, describe
from executor.run.clock import Clock
from executor.run.events import Event
from executor.run.store import JournalStore
from planner.timefmt import duration

QUEUE_SIZE = 1000  # per sink; beyond it new events are dropped (and journalled as such)
DELIVERED, FAILED = "notify-delivered", "notify-failed"


@dataclass(frozen=True)
class Target:
    """One configured sink: its spec entry, its deliverer, and its retry pacing."""

    sink: Any
    deliver: Deliver
    backoff: float = 2.0  # first wait between attempts (seconds of wall time), doubling, max 60s

    @property
    def name(self) -> str:
        return describe(self.sink)


class _Worker:
    def __init__(self, owner: Notifier, target: Target):
        self.owner = owner
        self.target = target
        self.queue: queue.Queue[Notification | None] = queue.Queue(QUEUE_SIZE)
        self.current: Notification | None = None
        self.thread = threading.Thread(target=self._run, name=f"udroll-notify-{target.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            self.current = item
            self._deliver(item)
            self.current = None

    def _pause(self, seconds: float) -> None:
        self.owner.stopping.wait(seconds)  # returns at once when the notifier closes

    def _deliver(self, n: Notification) -> None:
        target = self.target
        attempts = 0
        retrying = Retrying(
            stop=stop_after_attempt(getattr(target.sink, "retries", 5)),
            wait=wait_exponential(multiplier=target.backoff, max=60),
            retry=retry_if_exception_type(DeliveryError),
            sleep=self._pause,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    target.deliver(n)
        except DeliveryError as exc:
            self.owner.outcome(FAILED, target, n, attempts, str(exc))
        except Exception as exc:  # a bug in a sink must not kill the worker or the run
            self.owner.outcome(FAILED, target, n, attempts, f"{type(exc).__name__}: {exc}")
        else:
            self.owner.outcome(DELIVERED, target, n, attempts)


class Notifier:
    """A Reporter that sends run events to the spec's sinks, in the background."""

    def __init__(self, targets: Sequence[Target], run: RunInfo, journal: JournalStore | None, clock: Clock):
        self.run = run
        self.journal = journal
        self.clock = clock
        self.stopping = threading.Event()
        self._lock = threading.Lock()  # guards the journal against writes after close
        self._closed = False
        self.workers = [_Worker(self, t) for t in targets]

    def emit(self, event: Event) -> None:
        for n in translate(event, self.run):
            self.publish(n)

    def publish(self, n: Notification) -> None:
        for worker in self.workers:
            if worker.target.sink.wants(n.type):
                try:
                    worker.queue.put_nowait(n)
                except queue.Full:
                    self.outcome(FAILED, worker.target, n, 0, f"dropped: more than {QUEUE_SIZE} waiting")

    def outcome(self, kind: str, target: Target, n: Notification, attempts: int, error: str = "") -> None:
        with self._lock:
            if self._closed or self.journal is None:
                return
            what = f"{n.type} to {target.name}"
            message = f"{what}: {error}" if error else what
            data = {"sink": target.name, "type": n.type, "id": n.id, "attempts": attempts}
            if error:
                data["error"] = error
            step = (n.data.get("step") or {}).get("id")
            self.journal.record_transition(self.clock.now(), kind, step, None, message, data)

    def close(self, drain: float = 10.0) -> None:
        """Give the workers up to ``drain`` seconds (wall time) to finish; journal what is left undone."""
        deadline = time.monotonic() + drain
        for worker in self.workers:
            with contextlib.suppress(queue.Full):
                worker.queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
        for worker in self.workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        self.stopping.set()  # a worker still retrying stops waiting
        for worker in self.workers:
            if not worker.thread.is_alive():
                continue
            left = [worker.current] if worker.current else []
            while True:
                try:
                    item = worker.queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    left.append(item)
            for n in left:
                self.outcome(
                    FAILED, worker.target, n, 0, f"not delivered within {duration(drain)} of the run's end"
                )
        with self._lock:
            self._closed = True
