"""Pre/post maintenance events per step (the seeds' Update Manager pattern, per update domain).

``pre`` runs in a step between its ``before_step`` hook and its maintenance (executor.run.step): it
emits ``maintenance-pre`` (sent as ``udroll.maintenance.pre``) and, when the spec requires an answer,
yields until one comes — by HTTP callback to the URL in the event, or as a message on the reply queue
— or the timeout passes. ``stop``, or no answer in time, fails the step before any trigger. ``post``
emits ``maintenance-post`` once the step's VMs passed their health gate.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Generator
from typing import Any

from executor.notify.answers import Answer, Answers, CallbackListener, read_queue
from executor.run.context import RunContext, StepFailed
from planner.notify_spec import MaintenanceEvents
from planner.plan import Step
from planner.timefmt import duration, human_time, plural
from planner.values import format_timestamp

POLL = 15.0  # seconds of the run's clock between looks at the inbox (and the reply queue)


class MaintenanceGate:
    """The run's pre/post events; implements executor.run.context.StepEvents."""

    def __init__(
        self,
        config: MaintenanceEvents,
        answers: Answers,
        listener: CallbackListener | None,
        reply_queue: Any = None,
        poll: float = POLL,
    ):
        self.config = config
        self.answers = answers
        self.listener = listener
        self.reply_queue = reply_queue
        self.poll = poll
        self.tiers_done: set[str] | None = None  # per: tier — tiers whose pre event went through

    def pre(self, ctx: RunContext, step: Step) -> Generator[dt.datetime, None, None]:
        pre = self.config.pre
        if pre is None or not self.config.covers("pre", step.tier) or self._tier_done(ctx, step.tier):
            return
        event_id, token = str(uuid.uuid4()), secrets.token_urlsafe(18)
        deadline = ctx.clock.now() + dt.timedelta(seconds=pre.timeout)
        reply = self._reply(event_id, token, deadline) if pre.required else None
        if reply:
            self.answers.expect(event_id, token)
        what = f"{plural(len(step.vms), 'VM')} of tier {step.tier} are about to be maintained"
        ask = f"; answer go or stop by {human_time(deadline, ctx.zone)}" if reply else ""
        ctx.emit(
            "maintenance-pre", step.id, message=what + ask, event_id=event_id, reply=reply, tier=step.tier
        )
        if reply is None:
            self._passed(step.tier)
            return
        try:
            answer = yield from self._wait(ctx, event_id, deadline)
        finally:
            self.answers.forget(event_id)
        if answer is None:
            raise StepFailed(
                f"no answer to the pre-maintenance event within {duration(pre.timeout)}: "
                "nothing was triggered"
            )
        ctx.emit(
            "maintenance-answer",
            step.id,
            message=f"{answer.decision} ({answer.via})" + (f": {answer.reason}" if answer.reason else ""),
            decision=answer.decision,
            via=answer.via,
            tier=step.tier,
        )
        if answer.decision == "stop":
            why = f": {answer.reason}" if answer.reason else ""
            raise StepFailed(f"the pre-maintenance event was answered stop{why}; nothing was triggered")
        self._passed(step.tier)

    def _wait(
        self, ctx: RunContext, event_id: str, deadline: dt.datetime
    ) -> Generator[dt.datetime, None, Answer | None]:
        while True:
            if self.reply_queue is not None:
                try:
                    read_queue(self.reply_queue, self.answers)
                except Exception as exc:  # an unreachable queue: look again next time, until the timeout
                    ctx.emit("warning", message=f"reply queue: {str(exc).splitlines()[0]}", journal=False)
            answer = self.answers.take(event_id)
            now = ctx.clock.now()
            if answer is not None or now >= deadline:
                return answer
            yield min(deadline, now + dt.timedelta(seconds=self.poll))

    def _reply(self, event_id: str, token: str, deadline: dt.datetime) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "required": True,
            "event": event_id,
            "deadline": format_timestamp(deadline),
            "decisions": ["go", "stop"],
        }
        if self.listener is not None:
            reply["url"] = self.listener.url_for(token)
        if self.reply_queue is not None:
            reply["queue"] = self.reply_queue.url
        return reply

    def _tier_done(self, ctx: RunContext, tier: str) -> bool:
        if self.config.pre is None or self.config.pre.per != "tier":
            return False
        if self.tiers_done is None:  # a resumed run: the tiers that went through before
            self.tiers_done = set()
            for row in ctx.journal.transitions():
                data = row["data"]
                if (row["kind"] == "maintenance-answer" and data.get("decision") == "go") or (
                    row["kind"] == "maintenance-pre" and not data.get("reply")
                ):
                    self.tiers_done.add(str(data.get("tier")))
        return tier in self.tiers_done

    def _passed(self, tier: str) -> None:
        if self.tiers_done is not None:  # per: tier (_tier_done made the set)
            self.tiers_done.add(tier)

    def post(self, ctx: RunContext, step: Step) -> None:
        if self.config.covers("post", step.tier):
            ctx.emit(
                "maintenance-post",
                step.id,
                message=f"{plural(len(step.vms), 'VM')} maintained and healthy",
                tier=step.tier,
            )
