"""Readable chat messages: a Teams Adaptive Card (for a Workflows webhook) and a Slack Block Kit
message (for an incoming webhook), made from one notification. Not JSON dumps: a title, the message,
a few facts, and the command to see more."""

from __future__ import annotations

from typing import Any

from executor.notify.payload import Notification

_TITLES = {
    "udroll.run.started": "Rollout started",
    "udroll.run.paused": "Rollout paused",
    "udroll.run.resumed": "Rollout resumed",
    "udroll.run.halted": "Rollout halted",
    "udroll.run.aborted": "Rollout aborted",
    "udroll.run.completed": "Rollout completed",
    "udroll.run.waiting": "Rollout waiting",
    "udroll.step.started": "Step started",
    "udroll.step.ended": "Step done",
    "udroll.step.failed": "Step failed",
    "udroll.approval.needed": "Approval needed",
    "udroll.vm.failed": "VM failed",
    "udroll.window.missed": "Self-service window missed",
    "udroll.maintenance.pre": "Maintenance about to start",
    "udroll.maintenance.post": "Maintenance done",
}
_BAD = ("halted", "aborted", "failed", "missed")
_MAX_VMS = 10


def title(n: Notification) -> str:
    name = n.data["run"]["name"]
    step = n.data["step"]["id"] if n.data.get("step") else None
    return f"{_TITLES.get(n.type, n.type)}: {name}" + (f" — step {step}" if step else "")


def facts(n: Notification) -> list[tuple[str, str]]:
    out = [("Run", n.data["run"]["name"]), ("Time", n.data["time"])]
    if n.data.get("step"):
        out.append(("Step", f"{n.data['step']['id']} (tier {n.data['step']['tier']})"))
    names = [vm["name"] for vm in n.data.get("vms", [])]
    if names:
        more = f" and {len(names) - _MAX_VMS} more" if len(names) > _MAX_VMS else ""
        out.append(("VMs", ", ".join(names[:_MAX_VMS]) + more))
    reply = n.data.get("reply")
    if reply:
        out.append(("Answer by", f"{reply['deadline']} (go or stop)"))
    return out


def teams_message(n: Notification) -> dict[str, Any]:
    """A Workflows webhook message with one Adaptive Card (schema 1.4)."""
    bad = any(word in n.type for word in _BAD)
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": title(n),
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
                "color": "Attention" if bad else "Default",
            },
            {"type": "TextBlock", "text": n.data["message"] or " ", "wrap": True},
            {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts(n)]},
            {
                "type": "TextBlock",
                "text": f"More: `{n.data['see']}`",
                "wrap": True,
                "isSubtle": True,
                "size": "Small",
            },
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(n: Notification) -> dict[str, Any]:
    """An incoming-webhook message: header, message, fields, context (Block Kit limits respected)."""
    head = _cut(title(n), 150)
    return {
        "text": _cut(f"{head}: {n.data['message']}", 3000),  # notifications and old clients show this
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": head, "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(n.data["message"] or " ", 3000)}},
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": _cut(f"*{k}*\n{v}", 2000)} for k, v in facts(n)[:10]],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(f"`{n.data['see']}`", 3000)}]},
        ],
    }
