"""The plan's timeline as SVG: the horizon strip, then a lane per group under a head per tier.

Layout: a lane per group, tiers in dependency order, each step a bar labelled with its domain and VM
count (VM names in the bar's <title> and in the step table), the recovery gap after it hatched, the
operator's allowed hours shaded, the critical path outlined. Each tier has its own deadlines and
Azure's scheduled starts, as lines down its rows only, and states its earliest deadline and slack in
its head (a fleet's tiers rarely share one). Elements placed in time carry ``data-s``/``data-e``
(seconds after the plan's start; a step's group also ``data-g``, the end of its gap) so the script
can rescale them; the initial positions are computed here with the same rules, except in plans of
more than PLACED_STEPS steps, where only the script places bars (it keeps a 10,000-step page under
5 MB).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from planner.plan import Plan, Step
from planner.render._timeline import TierLanes, Timeline, domain_label
from planner.render._timeline import duration_text as _dur
from planner.render.html_assets import esc
from planner.values import format_timestamp

LABEL_W = 240  # the label column
AXIS_H = 44
TIER_H = 26
ROW_H = 24
PAD = 12  # left and right of the time area
WIDTH = 920  # the time area at zoom 1 (the script fits it to the page)
HORIZON_H = 70
TICKS = (900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
TICK_MIN_PX = 90
CHAR_PX = 6.6  # an estimate of the bar label font's average glyph width
DAY_CHAR_PX = 7.6  # ... and of the axis's day names (bold) and times, on the generous side
TICK_CHAR_PX = 6.8
LANE_CHARS = 32  # a longer group name is shown by its end
PLACED_STEPS = 3000  # above this, bars get their x and width from the script only (keeps 10k steps < 5 MB)


def draw_horizon(timeline: Timeline) -> str:
    """The whole horizon at a glance: the plan's span against the deadlines weeks ahead.

    Drawn in percentages of its width, so it fits any window (800 px as well as 1400 px) unscaled.
    """
    plan = timeline.plan
    last = max([timeline.end, *(m.at for m in timeline.markers)])
    span = max(1.0, (last - plan.start).total_seconds())

    def pct(at: dt.datetime) -> float:  # 1% margin each side: a line at 100% would be cut in half
        return 1 + (at - plan.start).total_seconds() / span * 98

    out = [
        '<div class="horizon"><span class="lane-label">horizon</span>'
        f'<svg width="100%" height="{HORIZON_H}" role="img" '
        'aria-label="The plan against the self-service deadlines and Azure\'s scheduled windows">',
    ]
    plan_w = max(0.3, pct(timeline.end) - pct(plan.start))
    out.append(
        f'<rect class="plan-span" x="{num(pct(plan.start), 2)}%" y="26" width="{num(plan_w, 2)}%" '
        'height="16">'
        f"<title>{esc('the plan: ' + ts(plan.start) + ' to ' + ts(timeline.end))}</title></rect>"
    )
    labelled: set[str] = set()
    for m in timeline.markers:
        mx = f"{num(pct(m.at), 2)}%"
        y_text = 14 if m.kind == "deadline" else 64
        what = "self-service ends" if m.kind == "deadline" else "Azure's scheduled window starts"
        label = f"{what} {ts(m.at)}"
        tip = f"{label}: {len(m.vms)} VM(s): " + ", ".join(timeline.vm_names(m.vms))
        anchor = "end" if pct(m.at) > 60 else "start"
        # only the earliest of each kind is labelled (labels of close dates would overlap)
        text = (
            ""
            if m.kind in labelled
            else f'<text x="{mx}" y="{y_text}" text-anchor="{anchor}">{esc(label)}</text>'
        )
        labelled.add(m.kind)
        out.append(
            f'<g class="marker {m.kind}"><line x1="{mx}" x2="{mx}" y1="18" y2="50"/>{text}'
            f"<title>{esc(tip)}</title></g>"
        )
    out.append("</svg></div>\n")
    return "".join(out)


@dataclass(frozen=True)
class _Canvas:
    """What every part of the timeline is drawn against."""

    timeline: Timeline
    span_s: int
    scale: float
    height: int
    width: str  # of the time area at this scale, as written in the SVG
    placed: bool  # bars get their x and width here too (else from the script only)


def draw_chart(
    timeline: Timeline,
    span_s: int,
    scale: float,
    collapsed: set[str],
    colours: dict[str, str],
    allowed: list[tuple[dt.datetime, dt.datetime]],
) -> str:
    """The tier and group labels on the left, the time area (which scrolls and zooms) on the right."""
    if not timeline.tiers:
        return '<section class="chart"><p class="note">This plan has no steps.</p></section>\n'
    plan = timeline.plan
    width = num(2 * PAD + span_s * scale)
    placed = len(plan.steps) <= PLACED_STEPS
    canvas = _Canvas(timeline, span_s, scale, _height(timeline, collapsed), width, placed)
    labels = [
        f'<svg id="labels" class="labels" width="{LABEL_W}" height="{canvas.height}" role="group" '
        f'aria-label="Tiers and groups" data-lane-chars="{LANE_CHARS}">',
        f'<text x="8" y="{AXIS_H - 12}" class="axis-title">tier / group</text>',
    ]
    chart = [_timeline_open(canvas), _allowed(canvas, allowed), '<g id="axis">']
    chart.extend(axis(plan.start, span_s, scale))
    chart.append("</g>")
    y = AXIS_H
    for tier in timeline.tiers:
        is_collapsed = tier.tier in collapsed
        labels.append(_tier_labels(tier, y, is_collapsed))
        chart.append(_tier_lanes(canvas, tier, y, is_collapsed, colours[tier.tier]))
        y += TIER_H + (ROW_H if is_collapsed else len(tier.lanes) * ROW_H)
    return chart_section(labels, chart)


def chart_section(labels: list[str], chart: list[str]) -> str:
    """The labels' <svg> beside the time area's, which scrolls (each list opens its <svg>; this closes it)."""
    return (
        '<section class="chart" aria-label="Timeline">'
        + "".join(labels)
        + '</svg><div class="scroll" id="scroll">'
        + "".join(chart)
        + "</svg></div></section>\n"
    )


def _timeline_open(canvas: _Canvas) -> str:
    """The time area's <svg> with what the script reads from it, its title and the gap's hatching."""
    timeline = canvas.timeline
    return (
        f'<svg id="timeline" class="timeline" width="{canvas.width}" height="{canvas.height}" '
        f'data-span="{canvas.span_s}" data-scale="{num(canvas.scale, 6)}" '
        f'data-origin="{int(timeline.plan.start.timestamp())}" '
        f'data-pad="{PAD}" data-axis="{AXIS_H}" data-tier-h="{TIER_H}" data-row-h="{ROW_H}" '
        f'data-char="{CHAR_PX}" '
        'role="img" aria-labelledby="timeline-title">'
        f'<title id="timeline-title">{esc(_chart_title(timeline))}</title>'
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" class="hatch-bg"/>'
        '<line x1="0" y1="0" x2="0" y2="6" class="hatch-line"/></pattern></defs>'
    )


def _allowed(canvas: _Canvas, allowed: list[tuple[dt.datetime, dt.datetime]]) -> str:
    """The operator's allowed hours, shaded over the whole height."""
    plan, out = canvas.timeline.plan, ['<g id="allowed">']
    for a, b in allowed:
        s, e = _offset(plan, a), _offset(plan, b)
        out.append(
            f'<rect class="allowed full" {span(s, e, canvas.scale)} y="{AXIS_H}" '
            f'height="{canvas.height - AXIS_H}">'
            f"<title>{esc('allowed: ' + ts(a) + ' to ' + ts(b))}</title></rect>"
        )
    out.append("</g>")
    return "".join(out)


def _tier_labels(tier: TierLanes, y: int, is_collapsed: bool) -> str:
    """A tier's head (a toggle that collapses or expands it) and its lanes' group names."""
    cls = "tier collapsed" if is_collapsed else "tier"
    vm_count = sum(len(s.vms) for s in tier.steps)
    head = f"{tier.tier} · {len(tier.lanes)} group{'s' if len(tier.lanes) != 1 else ''}, {vm_count} VMs"
    tier_attr = esc(tier.tier)
    arrow = "▸" if is_collapsed else "▾"
    out = [
        f'<g class="{cls}" data-tier="{tier_attr}" transform="translate(0,{y})">'
        f'<g class="toggle" role="button" tabindex="0" aria-expanded="{str(not is_collapsed).lower()}" '
        f'data-tier="{tier_attr}"><rect class="head" x="0" y="0" width="{LABEL_W}" height="{TIER_H}"/>'
        f'<text x="8" y="17" class="tier-label"><tspan class="arrow">{arrow}</tspan> '
        f'{esc(head)}</text></g><g class="lanes" transform="translate(0,{TIER_H})">'
    ]
    if not is_collapsed:  # the script labels a collapsed tier's lanes when it is expanded
        for i, lane in enumerate(tier.lanes):
            at = "" if i == 0 else f' transform="translate(0,{i * ROW_H})"'
            out.append(f'<g class="lane"{at}>{_lane_label(lane.group)}</g>')
    out.append("</g></g>")
    return "".join(out)


def _tier_lanes(canvas: _Canvas, tier: TierLanes, y: int, is_collapsed: bool, colour: str) -> str:
    """A tier's band across the time area, its span, and a lane of step bars per group."""
    cls = "tier collapsed" if is_collapsed else "tier"
    first = min(s.start_offset_s for s in tier.steps)
    last = max(s.end_offset_s for s in tier.steps)
    out = [
        f'<g class="{cls}" data-tier="{esc(tier.tier)}" transform="translate(0,{y})" fill="{colour}">'
        f'<rect class="head wide" x="0" y="0" width="{canvas.width}" height="{TIER_H}"/>'
        f'<rect class="tier-span" {span(first, last, canvas.scale)} y="{TIER_H - 7}" height="3"/>'
        f'<g class="lanes" transform="translate(0,{TIER_H})">'
    ]
    for i, lane in enumerate(tier.lanes):
        # lanes of a collapsed tier all sit in its one row: no offset to write
        at = "" if is_collapsed or i == 0 else f' transform="translate(0,{i * ROW_H})"'
        out.append(f'<g class="lane" data-group="{esc(lane.group)}"{at}>')
        out.extend(_bar(canvas.timeline, step, canvas.scale, canvas.placed) for step in lane.steps)
        out.append("</g>")
    out.append("</g>")
    out.append(_tier_markers(canvas, tier, TIER_H + (ROW_H if is_collapsed else len(tier.lanes) * ROW_H)))
    out.append("</g>")
    return "".join(out)


def _tier_markers(canvas: _Canvas, tier: TierLanes, height: int) -> str:
    """A tier's own deadlines and Azure's scheduled starts, as lines down its band only, and at the
    right of its head its earliest deadline and its slack (deadlines are often weeks after the span)."""
    timeline, out = canvas.timeline, []
    for m in tier.markers:
        s = _offset(timeline.plan, m.at)
        if 0 <= s <= canvas.span_s:
            what = "self-service window ends" if m.kind == "deadline" else "Azure's scheduled window starts"
            names = ", ".join(timeline.vm_names(m.vms))
            tip = f"{tier.tier}: {what} {ts(m.at)}: {len(m.vms)} VM(s): {names}"
            out.append(
                f'<line class="marker {m.kind} tier-marker" {at_line(s, canvas.scale)} y1="{TIER_H - 8}" '
                f'y2="{height}"><title>{esc(tip)}</title></line>'
            )
    deadline = tier.deadline
    if deadline is not None:
        slack = f" · slack {_dur(tier.slack_s)}" if tier.slack_s is not None else ""
        text = f"self-service ends {ts(deadline.at)}{slack}"
        tip = (
            f"{tier.tier}: the earliest self-service deadline of its {len(deadline.vms)} VM(s): "
            + ", ".join(timeline.vm_names(deadline.vms))
        )
        out.append(
            f'<text class="tier-deadline at-end" x="{num(float(canvas.width) - 4)}" y="15" '
            f'text-anchor="end">{esc(text)}<title>{esc(tip)}</title></text>'
        )
    return "".join(out)


def _bar(timeline: Timeline, step: Step, scale: float, placed: bool) -> str:
    """A step: its bar, the hatched recovery gap after it, its label when the bar is wide enough.

    The times sit on the group (``data-s``, ``data-e``, ``data-g`` for the gap's end) and the script
    places the children from them; it also creates the label when a zoom makes room for it.
    """
    s, e = step.start_offset_s, step.end_offset_s
    g = e + step.gap_after_s
    n = len(step.vms)
    crit = step.id in timeline.critical
    label = bar_label(step)
    end = ts(step.end)
    if step.end.date() == step.start.date():
        end = end.split(" ", 1)[1]
    tip = (
        f"{step.id}{' (critical path)' if crit else ''}\n{ts(step.start)} to {end} "
        f"({_dur(step.duration_s)}) + {_dur(step.gap_after_s)} gap\n"
        + (f"{n} VMs: " if n != 1 else "")
        + ", ".join(timeline.vm_names(step.vms))
    )
    if not placed:  # the script places it on load
        gap_at = bar_at = text = ""
    else:
        gap_at = f' x="{x_at(e, scale)}" width="{width_of(e, g, scale)}"'
        bar_at = f' x="{x_at(s, scale)}" width="{width_of(s, e, scale)}"'
        text = (
            f'<text class="blabel" x="{num(PAD + s * scale + 3)}" y="16">{esc(label)}</text>'
            if (e - s) * scale >= label_width(label)
            else ""
        )
    # the first rect is the gap, the second the bar (no class names: they would cost 10,000 times)
    return (
        f'<g{" class=crit" if crit else ""} data-step="{esc(step.id)}" data-s="{s}" data-e="{e}" '
        f'data-g="{g}" data-n="{n}"><rect{gap_at} y="6" height="{ROW_H - 12}"/>'
        f'<rect{bar_at} y="3" height="{ROW_H - 6}"/>'
        f"{text}<title>{esc(tip)}</title></g>"
    )


def bar_label(step: Step) -> str:
    """What a bar says (the script builds the same text): its domain and VM count."""
    n = len(step.vms)
    return f"{domain_label(step)} · {n} VM{'s' if n != 1 else ''}"


def label_width(label: str) -> int:
    return int(len(label) * CHAR_PX) + 6


def _lane_label(group: str) -> str:
    clipped = _clip(group, LANE_CHARS)
    title = f"<title>{esc(group)}</title>" if clipped != group else ""
    return f'<text x="20" y="16" class="lane-label">{esc(clipped)}{title}</text>'


def axis(origin: dt.datetime, span_s: int, scale: float) -> list[str]:
    """Ticks at round UTC times, as far apart as the zoom allows (the script redraws them on zoom).

    Each tick says its time; the first tick of each day also says the day, on the line above. A label
    that would run past the right edge ends at the edge instead (a day's name dropped if it would then
    cover the previous day's); the script measures the text, here its width is estimated.
    """
    step = next((t for t in TICKS if t * scale >= TICK_MIN_PX), TICKS[-1])
    base = int(origin.timestamp())
    right = 2 * PAD + span_s * scale - 2
    t, last_day, day_end = -(-base // step) * step, None, 0.0
    out = []
    while t <= base + span_s:
        at = dt.datetime.fromtimestamp(t, dt.timezone.utc)
        x = PAD + (t - base) * scale
        hm = at.strftime("%H:%M")
        day = ""
        if at.date() != last_day:
            name = at.strftime("%a %d %b")
            day_x = min(x, right - len(name) * DAY_CHAR_PX)
            if day_x >= day_end:
                day = f'<text class="tick-day" x="{num(day_x)}" y="{AXIS_H - 28}">{name}</text>'
                day_end = day_x + len(name) * DAY_CHAR_PX + 4
        last_day = at.date()
        out.append(
            f'<line class="tick{" day" if at.hour == 0 and at.minute == 0 else ""}" '
            f'x1="{num(x)}" x2="{num(x)}" y1="{AXIS_H - 8}" y2="{AXIS_H}"/>'
            f'<text class="tick-label" x="{num(min(x, right - len(hm) * TICK_CHAR_PX))}" '
            f'y="{AXIS_H - 13}">{hm}</text>{day}'
        )
        t += step
    return out


def _height(timeline: Timeline, collapsed: set[str]) -> int:
    rows = sum(TIER_H + (ROW_H if t.tier in collapsed else len(t.lanes) * ROW_H) for t in timeline.tiers)
    return AXIS_H + rows + 8


def _chart_title(timeline: Timeline) -> str:
    plan = timeline.plan
    return (
        f"Timeline of {len(plan.steps)} steps in {len(timeline.tiers)} tiers from {ts(plan.start)}; "
        "the same steps are listed in the table below."
    )


def _offset(plan: Plan, at: dt.datetime) -> int:
    return int((at - plan.start).total_seconds())


def span(s: int, e: int, scale: float) -> str:
    """Attributes of a rect from ``s`` to ``e`` seconds: where the script finds them, where they start."""
    return f'data-s="{s}" data-e="{e}" x="{x_at(s, scale)}" width="{width_of(s, e, scale)}"'


def at_line(s: int, scale: float) -> str:
    """Attributes of a vertical line at ``s`` seconds."""
    return f'data-s="{s}" x1="{x_at(s, scale)}" x2="{x_at(s, scale)}"'


def x_at(s: int, scale: float) -> str:
    return num(PAD + s * scale)


def width_of(s: int, e: int, scale: float) -> str:
    return num(max(1.0, (e - s) * scale))


def num(value: float, digits: int = 1) -> str:
    """A number as short text: SVG attributes need no more precision than a tenth of a pixel."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def ts(at: dt.datetime) -> str:
    return format_timestamp(at).replace("T", " ").replace(":00Z", "Z")


def _clip(text: str, size: int) -> str:
    """The end of a long name (its distinctive part), as the script clips it too."""
    return text if len(text) <= size else "…" + text[-(size - 1) :]
