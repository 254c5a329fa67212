"""Notifications (issue 17): run events to the spec's `notify:` sinks, in the background, and the
pre/post maintenance events of `maintenance_events:` (a required pre event waits for go or stop).

    payload   runner Event kinds -> udroll.* types; CloudEvents 1.0 and Event Grid envelopes
    schema    the payload's JSON Schema (`udroll schema --events`)
    cards     Teams Adaptive Card and Slack Block Kit messages
    sinks     one delivery attempt per sink kind (webhook, teams, slack, queue, command)
    delivery  the Notifier: a Reporter with a bounded queue and a worker thread per sink (tenacity)
    answers   the answer inbox, the loopback HTTP callback listener, reply-queue reading
    gate      the pre/post phase of a step (executor.run.context.StepEvents)

:func:`start` builds all of it for a run; :meth:`Notifications.close` ends it after the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from executor.notify.answers import Answers, CallbackListener
from executor.notify.delivery import Notifier, Target
from executor.notify.gate import POLL, MaintenanceGate
from executor.notify.payload import RunInfo
from executor.notify.sinks import deliverer
from executor.run.clock import Clock
from executor.run.store import JournalStore
from planner.fleet import Fleet
from planner.plan import Plan
from planner.spec import Spec

__all__ = ["Notifications", "run_info", "start"]


class Closable(Protocol):
    def close(self) -> None: ...


@dataclass
class Notifications:
    notifier: Notifier
    gate: MaintenanceGate | None
    closers: list[Closable] = field(default_factory=list)

    def close(self, drain: float = 10.0) -> None:
        """Let deliveries finish (up to ``drain`` seconds of wall time), then stop listening."""
        self.notifier.close(drain)
        for item in self.closers:
            item.close()


def run_info(spec: Spec, plan: Plan, fleet: Fleet, journal: str, spec_file: str) -> RunInfo:
    names = {vm.id: vm.ref for vm in fleet.vms}
    steps = {s.id: (s.tier, tuple(s.vms)) for s in plan.steps}
    return RunInfo(plan.name or spec.name, spec_file, journal, steps, names)


def start(
    spec: Spec,
    plan: Plan,
    fleet: Fleet,
    journal: JournalStore,
    clock: Clock,
    spec_file: str,
    workdir: str | None = None,
    backoff: float = 2.0,
    poll: float | None = None,
) -> Notifications | None:
    """The run's notifier and pre/post gate, or None when the spec declares neither."""
    if not spec.notify and spec.maintenance_events is None:
        return None
    run = run_info(spec, plan, fleet, str(journal.dir), spec_file)
    targets = [Target(sink, deliverer(sink, run, workdir), backoff) for sink in spec.notify]
    bundle = Notifications(Notifier(targets, run, journal, clock), None)
    events = spec.maintenance_events
    if events is not None:
        answers = Answers()
        listener = reply_queue = None
        pre = events.pre
        if pre is not None and pre.required:
            host, _, port = pre.callback.listen.rpartition(":")
            listener = CallbackListener(answers, host.strip("[]"), int(port), pre.callback.url)
            bundle.closers.append(listener)
        if pre is not None and pre.required and pre.reply_queue:
            from executor.azure.queue_sink import StorageQueue

            reply_queue = StorageQueue(pre.reply_queue, base64_encoded=False)
            bundle.closers.append(reply_queue)
        bundle.gate = MaintenanceGate(events, answers, listener, reply_queue, poll or POLL)
    return bundle
