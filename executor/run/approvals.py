"""Approvals that never pause supervision (DESIGN §11): with ``--confirm tier|step``, a step that may
start waits for its approval as journalled state, while the loop goes on serving every running step.

The question is asked in the runner's terminal on a thread of its own (its answer is written to the
journal as a control row, like any other terminal's), and can be answered from anywhere with
`udroll approve TIER|STEP --journal J` (or `--all`), the way kubectl-argo-rollouts `promote` answers
a paused rollout. Approvals are kept in the journal's meta, so a resumed run does not ask again.
With a FakeClock (tests) the question is asked inline: fake time does not pass while it waits.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from executor.run.context import RunContext
from planner.plan import Step
from planner.timefmt import plural

ALL = "*"


class Approvals:
    def __init__(self, ctx: RunContext, confirm: Callable[[str], bool] | None):
        self.ctx = ctx
        self.confirm = confirm
        self.mode = ctx.config.confirm  # step | tier | never
        self.granted: set[str] = set(json.loads(ctx.journal.meta("approved") or "[]"))
        self.pending: dict[str, str] = {}  # key -> the question, asked and not yet answered
        self.declined: str | None = None  # the key the operator said no to

    def key(self, step: Step) -> str:
        return step.tier if self.mode == "tier" else step.id

    def approved(self, step: Step) -> bool:
        """Whether the step may start now; asks (once) when it has not been approved yet."""
        if self.mode == "never":
            return True
        key = self.key(step)
        if key in self.granted or ALL in self.granted:
            return True
        if key not in self.pending:
            self._ask(step, key)
        return key in self.granted

    def waiting_reason(self, step: Step) -> str:
        key = self.key(step)
        what = f"tier {key}" if self.mode == "tier" else f"step {key}"
        where = self.ctx.journal.location
        return f"approval of {what}: answer the prompt, or `udroll approve {key} --journal {where}`"

    def answer(self, command: str, key: str | None) -> None:
        """An `approve`/`decline` control row: from this runner's prompt or another terminal."""
        key = key or ALL
        self.pending.pop(key, None)
        if command == "decline":
            self.declined = key
            return
        self.granted.add(key)
        if key == ALL:
            self.pending.clear()
        self.ctx.journal.set_meta("approved", json.dumps(sorted(self.granted)))
        self._save_pending()

    def _ask(self, step: Step, key: str) -> None:
        if self.mode == "tier":
            question = f"Start tier {step.tier} with step {step.id} ({plural(len(step.vms), 'VM')})?"
        else:
            names = ", ".join(self.ctx.name(v) for v in step.vms)
            question = f"Start step {step.id} ({plural(len(step.vms), 'VM')}: {names})?"
        self.pending[key] = question
        self._save_pending()
        self.ctx.emit("approval-needed", step.id, message=question, key=key, tier=step.tier)
        if self.confirm is None:
            return  # only `udroll approve` can answer
        if not self.ctx.threaded():
            self.answer("approve" if self.confirm(question) else "decline", key)
            return
        confirm = self.confirm
        threading.Thread(
            target=self._prompt, args=(confirm, question, key), name="udroll-approval", daemon=True
        ).start()

    def _prompt(self, confirm: Callable[[str], bool], question: str, key: str) -> None:
        answer = confirm(question)
        self.ctx.journal.request("approve" if answer else "decline", key, self.ctx.clock.now())

    def _save_pending(self) -> None:
        self.ctx.journal.set_meta("pending_approvals", json.dumps(sorted(self.pending)))
