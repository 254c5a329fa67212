"""The Mermaid gantt (`udroll plan -o mermaid`) parses under Mermaid's gantt grammar, line by line.

The checker below follows Mermaid's ``gantt.jison`` lexer (statements, and which characters end a
task's text) and ``ganttDb`` (task metadata: tags, then ``[id,] start, end|duration`` where start is
a date in ``dateFormat`` or ``after id...``), and parses dates strictly as dayjs would.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from previews_support import (
    EXAMPLES,
    HOSTILE,
    big_preview,
    empty_preview,
    example_preview,
    hostile_preview,
    standalone_preview,
)

from planner.render import mermaid
from planner.render.preview import Preview

TAGS = ("active", "done", "crit", "milestone")
KEYWORD = re.compile(
    r"^(gantt|dateformat\s|inclusiveenddates|topaxis|axisformat\s|tickinterval\s|includes\s|excludes\s|"
    r"todaymarker\s|weekday\s|title\s|accdescription\s|acctitle|accdescr|section\s|click\s|href\s|call\s|"
    r"\d{4}-\d{2}-\d{2})",
    re.IGNORECASE,
)
DAYJS = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
DURATION = re.compile(r"^\d+(?:\.\d+)?(?:ms|[Mdhmswy])$")
TASK_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class GanttError(ValueError):
    pass


@dataclass
class Task:
    section: str
    text: str
    id: str
    tags: list[str]
    start: dt.datetime
    end: dt.datetime | None  # None when given as a duration


@dataclass
class Gantt:
    title: str = ""
    date_format: str = ""
    axis_format: str = ""
    sections: list[str] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)


def parse_gantt(source: str) -> Gantt:
    """Parse a Mermaid gantt as Mermaid would, or raise GanttError naming the line."""
    lines = source.split("\n")
    chart = Gantt()
    seen_header = False
    py_format = ""
    ids: dict[str, Task] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("%%"):
            continue
        where = f"line {number}: {raw!r}"
        if not seen_header:
            if line != "gantt":
                raise GanttError(f"{where}: a gantt starts with 'gantt'")
            seen_header = True
            continue
        keyword = line.split(None, 1)[0].lower()
        rest = line.split(None, 1)[1] if " " in line else ""
        if keyword in ("title", "dateformat", "axisformat", "section"):
            forbidden = "#;:" if keyword == "section" else "#;"
            if not rest or any(c in rest for c in forbidden):
                raise GanttError(f"{where}: {keyword} needs text without {forbidden!r}")
            if keyword == "title":
                chart.title = rest
            elif keyword == "dateformat":
                chart.date_format = rest
                py_format = _strptime_format(rest, where)
            elif keyword == "axisformat":
                if not re.fullmatch(r"(?:%[a-zA-Z]|[^%])+", rest):
                    raise GanttError(f"{where}: axisFormat is a d3 time format")
                chart.axis_format = rest
            else:
                chart.sections.append(rest)
            continue
        if KEYWORD.match(line):
            raise GanttError(f"{where}: starts with a keyword Mermaid would read as a statement")
        text, colon, data = line.partition(":")
        if not colon or not text.strip() or not data.strip():
            raise GanttError(f"{where}: a task is 'text :metadata'")
        if any(c in text for c in "#;%"):
            raise GanttError(f"{where}: '#', ';' or '%' in a task's text ends the task there")
        if any(c in data for c in "#;"):
            raise GanttError(f"{where}: '#' or ';' in task metadata")
        if not py_format:
            raise GanttError(f"{where}: task before dateFormat")
        if not chart.sections:
            raise GanttError(f"{where}: task outside a section")
        task = _task(chart.sections[-1], text.strip(), data, py_format, ids, where)
        ids[task.id] = task
        chart.tasks.append(task)
    if not seen_header:
        raise GanttError("empty diagram")
    return chart


def _strptime_format(date_format: str, where: str) -> str:
    out, rest = "", date_format
    while rest:
        token = next((t for t in DAYJS if rest.startswith(t)), None)
        if token:
            out, rest = out + DAYJS[token], rest[len(token) :]
        elif rest[0] in "-:/ .,T":
            out, rest = out + rest[0], rest[1:]
        else:
            raise GanttError(f"{where}: dateFormat token {rest!r} not understood")
    return out


def _task(section: str, text: str, data: str, fmt: str, ids: dict[str, Task], where: str) -> Task:
    items = [item.strip() for item in data.split(",")]
    tags = []
    while items and items[0] in TAGS:
        tags.append(items.pop(0))
    if not 1 <= len(items) <= 3:
        raise GanttError(f"{where}: metadata needs [id,] start, end")
    if len(items) == 1:
        raise GanttError(f"{where}: a task without a start follows the previous one; udroll states starts")
    task_id = items[0] if len(items) == 3 else f"task{len(ids) + 1}"
    if not TASK_ID.match(task_id) or task_id.lower() in TAGS:
        raise GanttError(f"{where}: task id {task_id!r} is not a plain identifier")
    if task_id in ids:
        raise GanttError(f"{where}: task id {task_id!r} used twice")
    start_text, end_text = items[-2], items[-1]
    if start_text.startswith("after "):
        after = start_text.split()[1:]
        missing = [a for a in after if a not in ids]
        if missing:
            raise GanttError(f"{where}: after names unknown tasks {missing}")
        ends = [ids[a].end for a in after]
        start = max(e for e in ends if e is not None)
    else:
        start = _strict_date(start_text, fmt, where)
    end = None
    if not DURATION.match(end_text):
        end = _strict_date(end_text, fmt, where)
        if end < start:
            raise GanttError(f"{where}: ends before it starts")
    return Task(section, text, task_id, tags, start, end)


def _strict_date(text: str, fmt: str, where: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, fmt)
    except ValueError:
        raise GanttError(f"{where}: {text!r} is not a date in the chart's dateFormat") from None


def _utc_naive(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.timezone.utc).replace(tzinfo=None)


def check_chart(preview: Preview, source: str) -> Gantt:
    """The chart parses and shows every step of the plan at its time, critical ones marked."""
    chart = parse_gantt(source)
    assert chart.date_format and chart.axis_format and chart.title
    plan = preview.plan
    critical = set(preview.summary.critical_path)
    assert chart.sections == list(dict.fromkeys(s.tier for s in _tier_ordered(preview)))
    assert len(chart.tasks) == len(plan.steps)
    by_time = sorted((t.start, t.end, "crit" in t.tags) for t in chart.tasks)
    expected = sorted((_utc_naive(s.start), _utc_naive(s.end), s.id in critical) for s in plan.steps)
    assert by_time == expected
    return chart


def _tier_ordered(preview: Preview) -> list:
    from planner.render._timeline import build_timeline

    return build_timeline(preview).steps()


# --- the renderer ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_parse_as_gantt(spec: Path) -> None:
    """Each bundled example's chart parses, with a section per tier and a task per step."""
    preview = example_preview(spec)
    check_chart(preview, mermaid.render(preview))


def test_a_plan_without_steps_is_an_empty_gantt() -> None:
    """No step, no section: the header alone still parses."""
    chart = parse_gantt(mermaid.render(empty_preview()))
    assert chart.tasks == [] and chart.date_format


def test_hostile_names_cannot_break_the_grammar() -> None:
    """A VM name full of Mermaid's special characters does not reach a task line unsanitised."""
    preview = hostile_preview()
    source = mermaid.render(preview)
    check_chart(preview, source)
    assert HOSTILE not in source


@pytest.mark.slow
def test_ten_thousand_vms_fit_mermaids_size_limit() -> None:
    """The 10,000-VM chart stays under Mermaid's 50,000-character limit and still parses."""
    preview = big_preview()
    source = mermaid.render(preview)
    assert len(source) <= mermaid.MAX_TEXT
    chart = parse_gantt(source)
    assert chart.sections and chart.tasks


def test_group_bars_when_steps_are_too_many() -> None:
    """The per-group fallback spans each group from its first start to its last end."""
    from planner.render._timeline import build_timeline

    preview = example_preview(Path(EXAMPLES[0]).parent / "render-farm.yaml")
    timeline = build_timeline(preview)
    chart = parse_gantt(mermaid.gantt(timeline, level="group"))
    lanes = [lane for tier in timeline.tiers for lane in tier.lanes]
    assert len(chart.tasks) == len(lanes)
    for task, lane in zip(chart.tasks, lanes, strict=True):
        assert task.start == _utc_naive(lane.steps[0].start)
        assert task.end == _utc_naive(max(s.end for s in lane.steps))


@pytest.mark.slow
def test_ten_thousand_groups_fall_back_to_a_bar_per_tier() -> None:
    """10,000 one-VM groups are too many even per group: the chart has one bar per tier and parses."""
    preview = standalone_preview()
    source = mermaid.render(preview)
    assert len(source) <= mermaid.MAX_TEXT
    assert "one bar per tier" in source
    chart = parse_gantt(source)
    assert [t.section for t in chart.tasks] == ["w"]
    assert chart.tasks[0].start == _utc_naive(preview.plan.start)


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_text_becomes_a_valid_task_line(name: str) -> None:
    """Whatever a group or tier is called, its task and section lines parse."""
    source = (
        "gantt\n    dateFormat YYYY-MM-DD HH:mm\n    axisFormat %H:%M\n    title x\n"
        f"    section {mermaid.text(name)}\n"
        f"    {mermaid.task_text(name)} :crit, s_1, 2026-11-23 21:00, 2026-11-23 21:22\n"
    )
    chart = parse_gantt(source)
    assert len(chart.tasks) == 1 and chart.tasks[0].tags == ["crit"]


# --- the checker itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "    db ud0 # x :crit, a, 2026-11-23 21:00, 2026-11-23 21:22",  # '#' in the text
        "    db ud0 :crit, a, 2026-11-23T21:00, 2026-11-23 21:22",  # not the dateFormat
        "    db ud0 :crit, crit2 x, 2026-11-23 21:00, 1h",  # id with a space
        "    db ud0 :a, b, c, 2026-11-23 21:00, 1h",  # too many items
        "    db ud0 :a, 2026-11-23 21:22, 2026-11-23 21:00",  # ends before it starts
        "    db ud0 :a, after nothing, 1h",  # unknown task in after
        "    title: x",  # title needs a space, then it is a task without metadata
        "    db ud0 crit, a, 2026-11-23 21:00, 1h",  # no colon
    ],
)
def test_checker_rejects_broken_lines(line: str) -> None:
    """The checker is strict: each of these lines would fail or misrender in Mermaid."""
    source = "gantt\n    dateFormat YYYY-MM-DD HH:mm\n    section db\n" + line + "\n"
    with pytest.raises(GanttError):
        parse_gantt(source)


def test_checker_accepts_after_and_durations() -> None:
    """The checker accepts Mermaid's other task forms: after ids, durations, auto ids."""
    source = (
        "gantt\n    dateFormat YYYY-MM-DD HH:mm\n    axisFormat %H:%M\n    section db\n"
        "    one :a1, 2026-11-23 21:00, 2026-11-23 21:22\n"
        "    two :crit, a2, after a1, 30m\n"
        "    three :2026-11-23 23:00, 1h\n"
    )
    chart = parse_gantt(source)
    assert [t.id for t in chart.tasks] == ["a1", "a2", "task3"]
    assert chart.tasks[1].start == dt.datetime(2026, 11, 23, 21, 22)
