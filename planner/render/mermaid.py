"""`-o mermaid`: the plan as a Mermaid gantt chart, for GitHub and Azure DevOps markdown.

Written for Mermaid's gantt grammar (``gantt.jison``): a task line is ``text :data`` where the text
may not hold ``#``, ``:``, ``;`` or ``%`` and must not start with a keyword, and the data is
``[crit,] id, start, end`` with both ends as dates in ``dateFormat``. Explicit end dates (not
durations) parse the same in old and new Mermaid versions. Mermaid reads dates as local wall times
and draws them as such, so the chart shows UTC because the dates are written in UTC.

Mermaid refuses diagrams above 50,000 characters (its default ``maxTextSize``); a plan too big for
that is drawn with one bar per group (its first start to its last end), or if that is still too big
one bar per tier, and says so in a comment.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from planner.plan import Step
from planner.render._timeline import Timeline, build_timeline, domain_label
from planner.render.preview import Preview
from planner.timefmt import plural

MAX_TEXT = 50_000
_REJECTED = re.compile(r"[#:;%\n\r{}]+")
# words Mermaid's lexer takes as a statement when a line starts with them
_KEYWORD = re.compile(
    r"^(gantt|dateformat\s|inclusiveenddates|topaxis|axisformat\s|tickinterval\s|includes\s|excludes\s|"
    r"todaymarker\s|weekday\s|title\s|accdescription\s|acctitle|accdescr|section\s|click\s|href\s|call\s|"
    r"\d{4}-\d{2}-\d{2})",
    re.IGNORECASE,
)


LEVELS = ("step", "group", "tier")  # one bar per ..., finest first


def render(preview: Preview) -> str:
    """The Mermaid source (no code fence) for ``udroll plan -o mermaid``."""
    return fitting(build_timeline(preview))


def fitting(timeline: Timeline) -> str:
    """The finest chart under Mermaid's size limit: per step, else per group, else per tier."""
    for level in LEVELS:
        chart = gantt(timeline, level=level)
        if len(chart) <= MAX_TEXT:
            break
    return chart


def gantt(timeline: Timeline, *, level: str = "step") -> str:
    plan = timeline.plan
    seconds = any(s.start.second or s.end.second for s in plan.steps)
    fmt, py_fmt = (
        ("YYYY-MM-DD HH:mm:ss", "%Y-%m-%d %H:%M:%S") if seconds else ("YYYY-MM-DD HH:mm", "%Y-%m-%d %H:%M")
    )
    span = timeline.end - plan.start
    axis = (
        "%H:%M"
        if span <= dt.timedelta(hours=20)
        else "%d %b %H:%M"
        if span <= dt.timedelta(days=10)
        else "%d %b"
    )
    lines = [
        "gantt",
        f"    title {text(plan.name)} maintenance plan (UTC)",
        f"    dateFormat {fmt}",
        f"    axisFormat {axis}",
    ]
    if level != "step":
        lines.append(f"    %% {len(plan.steps)} steps are too many for one chart: one bar per {level}")
    ids = _TaskIds()

    def bar(name: str, key: str, steps: Sequence[Step]) -> str:
        crit = "crit, " if any(s.id in timeline.critical for s in steps) else ""
        start = min(s.start for s in steps)
        end = max(s.end for s in steps)
        return f"    {task_text(name)} :{crit}{ids.new(key)}, {_utc(start, py_fmt)}, {_utc(end, py_fmt)}"

    for tier in timeline.tiers:
        lines.append(f"    section {text(tier.tier)}")
        if level == "tier":
            steps = tier.steps
            vms = sum(len(s.vms) for s in steps)
            lines.append(bar(f"{tier.tier} ({plural(len(steps), 'step')}, {_vms(vms)})", tier.tier, steps))
            continue
        for lane in tier.lanes:
            if level == "group":
                vms = sum(len(s.vms) for s in lane.steps)
                lines.append(
                    bar(
                        f"{lane.group} ({plural(len(lane.steps), 'step')}, {_vms(vms)})",
                        lane.group,
                        lane.steps,
                    )
                )
                continue
            for step in lane.steps:
                name = f"{_group_label(step)} {domain_label(step)} ({_vms(len(step.vms))})"
                lines.append(bar(name, step.id, (step,)))
    return "\n".join(lines) + "\n"


def text(value: str) -> str:
    """Text Mermaid's lexer accepts in a title, section or task name."""
    return " ".join(_REJECTED.sub(" ", value).split()) or "-"


def task_text(value: str) -> str:
    cleaned = text(value)
    return f"step {cleaned}" if _KEYWORD.match(cleaned) else cleaned


class _TaskIds:
    """Unique ids Mermaid accepts (letters, digits, ``_`` and ``-``), never a tag such as ``crit``."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def new(self, key: str) -> str:
        base = "s_" + re.sub(r"[^A-Za-z0-9_-]+", "_", key).strip("_")
        found, n = base, 1
        while found.lower() in self.taken:
            n += 1
            found = f"{base}_{n}"
        self.taken.add(found.lower())
        return found


def _group_label(step: Step) -> str:
    parts = step.id.split("/")
    return parts[1] if len(parts) > 1 else step.group


def _vms(n: int) -> str:
    return plural(n, "VM")


def _utc(at: dt.datetime, fmt: str) -> str:
    return at.astimezone(dt.timezone.utc).strftime(fmt)
