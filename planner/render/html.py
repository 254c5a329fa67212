"""The plan as one self-contained HTML page: a timeline to review with a team before anything reboots.

Everything is inline (CSS, SVG, a little JavaScript): the file opens offline, from a change ticket or
a mail attachment, and asks nothing of the network. Without JavaScript it is a static picture plus
the accessible tables below it; with it, lanes collapse and expand per tier and the time axis zooms.

Layout: a lane per group, tiers in dependency order, each step a bar labelled with its domain and VM
count (VM names in the bar's <title> and in the step table), the recovery gap after it hatched, the
operator's allowed hours shaded, deadlines and Azure's scheduled starts as lines, the critical path
outlined. Elements placed in time carry ``data-s``/``data-e`` (seconds after the plan's start; a
step's group also ``data-g``, the end of its gap) so the script can rescale them; the initial
positions are computed here with the same rules, except in plans of more than PLACED_STEPS steps,
where only the script places bars (it keeps a 10,000-step page under 5 MB).

Big plans stay readable: tiers with many lanes start collapsed to one row (each expands on a click),
the step table of a plan with more than OPEN_TABLE_ROWS steps starts folded (a closed <details> is
not laid out until opened, so the page loads in seconds), and the time axis zooms (buttons, or
Ctrl+wheel) around the middle of the view.

Pure and deterministic: the page says nothing about when it was made.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable

from planner.plan import Plan, Step
from planner.render._timeline import Timeline, build_timeline, domain_label, local_text, window_text
from planner.render._timeline import duration_text as _dur
from planner.render.preview import Preview
from planner.spec import Spec
from planner.summary import PlanSummary
from planner.values import format_timestamp
from planner.windows import allowed_intervals

LABEL_W = 240  # the label column
AXIS_H = 44
TIER_H = 26
ROW_H = 24
PAD = 12  # left and right of the time area
WIDTH = 920  # the time area at zoom 1 (the script fits it to the page)
HORIZON_H = 70
COLLAPSE_LANES = 6  # a tier with more lanes than this starts collapsed in a big plan...
COLLAPSE_TOTAL = 40  # ...one with more lanes than this in all
TICKS = (900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
TICK_MIN_PX = 90
PALETTE = ("#3b6fb6", "#2e8b57", "#c46a1b", "#7b4fb3", "#b03a5b", "#1f8a99", "#8a7a12", "#5a6270")
NAMES_INLINE = 8  # more VM names than this fold into a <details> in the step table
CHAR_PX = 6.6  # an estimate of the bar label font's average glyph width
LANE_CHARS = 32  # a longer group name is shown by its end
OPEN_TABLE_ROWS = 1000  # a longer step table starts folded
PLACED_STEPS = 3000  # above this, bars get their x and width from the script only (keeps 10k steps < 5 MB)
BUTTONS = (  # what the script listens to in nav.controls
    '<button type="button" data-zoom="out" title="Zoom out">&minus;</button>'
    '<button type="button" data-zoom="in" title="Zoom in">+</button>'
    '<button type="button" data-zoom="fit" title="Fit the whole timeline to the window">Fit</button>'
    '<button type="button" data-lanes="expand">Expand all</button>'
    '<button type="button" data-lanes="collapse">Collapse all</button>'
)


def render(preview: Preview) -> str:
    """The whole HTML document for ``udroll plan -o html``."""
    plan, spec = preview.plan, preview.spec
    timeline = build_timeline(preview)
    span_s = max(1, int((timeline.end - plan.start).total_seconds()))
    scale = WIDTH / span_s
    lanes_total = sum(len(t.lanes) for t in timeline.tiers)
    collapsed = {
        t.tier for t in timeline.tiers if lanes_total > COLLAPSE_TOTAL and len(t.lanes) > COLLAPSE_LANES
    }
    colours = {t.tier: PALETTE[i % len(PALETTE)] for i, t in enumerate(timeline.tiers)}
    allowed = allowed_intervals(spec.window, plan.start, timeline.end)
    parts = [
        head(f"udroll plan: {plan.name}"),
        _header(plan, spec, preview.summary),
        _controls(timeline, colours),
        _horizon(timeline),
        _chart(timeline, span_s, scale, collapsed, colours, allowed),
        _tables(timeline),
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n",
    ]
    return "".join(parts)


# --- the page's parts ------------------------------------------------------------------------------


def head(title_text: str) -> str:
    """The document up to <body>: inline style, a policy that forbids fetching anything."""
    title = esc(title_text)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # nothing may be fetched: no scripts, styles, fonts or images from anywhere
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
        '<link rel="icon" href="data:,">\n'
        f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
    )


def _header(plan: Plan, spec: Spec, f: PlanSummary) -> str:
    rows = [
        ("Start", _with_local(plan.start, spec.window.timezone)),
        ("Expected end", _with_local(f.end, spec.window.timezone)),
        ("Makespan", _dur(plan.makespan_s)),
        ("Lower bound", _dur(plan.lower_bound_s) + (" (met)" if f.lower_bound_met else "")),
        ("Earliest self-service deadline", ts(f.earliest_deadline) if f.earliest_deadline else "none"),
        ("Slack to the earliest deadline", _dur(f.slack_s) if f.slack_s is not None else "n/a"),
        ("Latest start that still fits", ts(f.latest_start) if f.latest_start else "not searched"),
        ("Steps", str(len(plan.steps))),
        ("Critical path", _critical_text(f.critical_path)),
        ("VMs planned", str(f.vms_planned)),
        ("Skipped", str(len(plan.skipped))),
        ("Unschedulable", str(len(plan.unschedulable))),
        ("Warnings", str(len(plan.warnings))),
        ("Operator window", window_text(spec)),
        ("Fingerprint", plan.fingerprint),
    ]
    figures = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in rows)
    alerts = []
    if plan.unschedulable:
        alerts.append(
            f'<p class="alert bad">{len(plan.unschedulable)} VM(s) cannot be maintained in their '
            "self-service window; Azure will maintain them in its scheduled window. See "
            '<a href="#unschedulable">Unschedulable</a>.</p>'
        )
    if f.slack_s is not None and f.slack_s < 0:
        alerts.append('<p class="alert bad">The plan ends after the earliest self-service deadline.</p>')
    warnings = ""
    if plan.warnings:
        items = "".join(
            f'<li><span class="code">{esc(w.code)}</span> {esc(w.message)}'
            + (f" ({len(w.vms)} VM{'s' if len(w.vms) != 1 else ''})" if w.vms else "")
            + "</li>"
            for w in plan.warnings
        )
        warnings = (
            f'<section class="warnings" aria-label="Warnings"><h2>Warnings</h2><ul>{items}</ul></section>'
        )
    return (
        f"<header><h1>{esc(plan.name)} <small>maintenance plan</small></h1>"
        f'<p class="note">All times are UTC. The operator window\'s hours are local to '
        f"{esc(spec.window.timezone)}.</p>"
        f'<dl class="figures">{figures}</dl>{"".join(alerts)}{warnings}</header>\n'
    )


def _controls(timeline: Timeline, colours: dict[str, str]) -> str:
    tiers = "".join(
        f'<span class="key"><i style="background:{c}"></i>{esc(t)}</span>' for t, c in colours.items()
    )
    return (
        f'<nav class="controls" aria-label="Timeline controls">{BUTTONS}'
        f'<span class="legend">{tiers}'
        '<span class="key"><i class="crit"></i>critical path</span>'
        '<span class="key"><i class="gap"></i>recovery gap</span>'
        '<span class="key"><i class="allowed"></i>allowed hours</span>'
        '<span class="key"><i class="deadline"></i>self-service deadline</span>'
        '<span class="key"><i class="scheduled"></i>Azure scheduled window starts</span>'
        "</span></nav>\n"
    )


def _horizon(timeline: Timeline) -> str:
    """The whole horizon at a glance: the plan's span against the deadlines weeks ahead."""
    plan = timeline.plan
    last = max([timeline.end, *(m.at for m in timeline.markers)])
    span = max(1.0, (last - plan.start).total_seconds())
    width = LABEL_W + WIDTH + 2 * PAD

    def x(at: dt.datetime) -> float:
        return LABEL_W + PAD + (at - plan.start).total_seconds() / span * WIDTH

    out = [
        f'<svg class="horizon" width="{width}" height="{HORIZON_H}" role="img" '
        'aria-label="The plan against the self-service deadlines and Azure\'s scheduled windows">',
        '<text x="8" y="36" class="lane-label">horizon</text>',
    ]
    plan_w = max(2.0, x(timeline.end) - x(plan.start))
    out.append(
        f'<rect class="plan-span" x="{num(x(plan.start))}" y="26" width="{num(plan_w)}" height="16">'
        f"<title>{esc('the plan: ' + ts(plan.start) + ' to ' + ts(timeline.end))}</title></rect>"
    )
    labelled: set[str] = set()
    for m in timeline.markers:
        mx = num(x(m.at))
        y_text = 14 if m.kind == "deadline" else 64
        what = "self-service ends" if m.kind == "deadline" else "Azure's scheduled window starts"
        label = f"{what} {ts(m.at)}"
        tip = f"{label}: {len(m.vms)} VM(s): " + ", ".join(timeline.vm_names(m.vms))
        anchor = "end" if x(m.at) > width * 0.6 else "start"
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
    out.append("</svg>\n")
    return "".join(out)


def _chart(
    timeline: Timeline,
    span_s: int,
    scale: float,
    collapsed: set[str],
    colours: dict[str, str],
    allowed: list[tuple[dt.datetime, dt.datetime]],
) -> str:
    if not timeline.tiers:
        return '<section class="chart"><p class="note">This plan has no steps.</p></section>\n'
    plan = timeline.plan
    height = _height(timeline, collapsed)
    width = num(2 * PAD + span_s * scale)
    labels = [
        f'<svg id="labels" class="labels" width="{LABEL_W}" height="{height}" role="group" '
        f'aria-label="Tiers and groups" data-lane-chars="{LANE_CHARS}">',
        f'<text x="8" y="{AXIS_H - 12}" class="axis-title">tier / group</text>',
    ]
    chart = [
        f'<svg id="timeline" class="timeline" width="{width}" height="{height}" '
        f'data-span="{span_s}" data-scale="{num(scale, 6)}" data-origin="{int(plan.start.timestamp())}" '
        f'data-pad="{PAD}" data-axis="{AXIS_H}" data-tier-h="{TIER_H}" data-row-h="{ROW_H}" '
        f'data-char="{CHAR_PX}" '
        'role="img" aria-labelledby="timeline-title">',
        f'<title id="timeline-title">{esc(_chart_title(timeline))}</title>',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" class="hatch-bg"/>'
        '<line x1="0" y1="0" x2="0" y2="6" class="hatch-line"/></pattern></defs>',
        '<g id="allowed">',
    ]
    for a, b in allowed:
        s, e = _offset(plan, a), _offset(plan, b)
        chart.append(
            f'<rect class="allowed full" {span(s, e, scale)} y="{AXIS_H}" height="{height - AXIS_H}">'
            f"<title>{esc('allowed: ' + ts(a) + ' to ' + ts(b))}</title></rect>"
        )
    chart.append('</g><g id="axis">')
    chart.extend(axis(plan.start, span_s, scale))
    chart.append("</g>")
    y = AXIS_H
    placed = len(plan.steps) <= PLACED_STEPS
    for tier in timeline.tiers:
        is_collapsed = tier.tier in collapsed
        cls = "tier collapsed" if is_collapsed else "tier"
        steps = tier.steps
        first = min(s.start_offset_s for s in steps)
        last = max(s.end_offset_s for s in steps)
        vm_count = sum(len(s.vms) for s in steps)
        head = f"{tier.tier} · {len(tier.lanes)} group{'s' if len(tier.lanes) != 1 else ''}, {vm_count} VMs"
        tier_attr = esc(tier.tier)
        arrow = "▸" if is_collapsed else "▾"
        labels.append(
            f'<g class="{cls}" data-tier="{tier_attr}" transform="translate(0,{y})">'
            f'<g class="toggle" role="button" tabindex="0" aria-expanded="{str(not is_collapsed).lower()}" '
            f'data-tier="{tier_attr}"><rect class="head" x="0" y="0" width="{LABEL_W}" height="{TIER_H}"/>'
            f'<text x="8" y="17" class="tier-label"><tspan class="arrow">{arrow}</tspan> '
            f'{esc(head)}</text></g><g class="lanes" transform="translate(0,{TIER_H})">'
        )
        chart.append(
            f'<g class="{cls}" data-tier="{tier_attr}" transform="translate(0,{y})" '
            f'fill="{colours[tier.tier]}">'
            f'<rect class="head wide" x="0" y="0" width="{width}" height="{TIER_H}"/>'
            f'<rect class="tier-span" {span(first, last, scale)} y="{TIER_H - 7}" height="3"/>'
            f'<g class="lanes" transform="translate(0,{TIER_H})">'
        )
        for i, lane in enumerate(tier.lanes):
            # lanes of a collapsed tier all sit in its one row: no offset to write
            at = "" if is_collapsed or i == 0 else f' transform="translate(0,{i * ROW_H})"'
            if not is_collapsed:  # the script labels a collapsed tier's lanes when it is expanded
                labels.append(f'<g class="lane"{at}>{_lane_label(lane.group)}</g>')
            chart.append(f'<g class="lane" data-group="{esc(lane.group)}"{at}>')
            for step in lane.steps:
                chart.append(_bar(timeline, step, scale, placed))
            chart.append("</g>")
        chart.append("</g></g>")
        labels.append("</g></g>")
        y += TIER_H + (ROW_H if is_collapsed else len(tier.lanes) * ROW_H)
    chart.append('<g id="markers">')
    for m in timeline.markers:
        s = _offset(plan, m.at)
        if 0 <= s <= span_s:
            what = "self-service window ends" if m.kind == "deadline" else "Azure's scheduled window starts"
            tip = f"{what} {ts(m.at)}: {len(m.vms)} VM(s): " + ", ".join(timeline.vm_names(m.vms))
            chart.append(
                f'<line class="marker {m.kind} full" {at_line(s, scale)} y1="{AXIS_H}" y2="{height}">'
                f"<title>{esc(tip)}</title></line>"
            )
    chart.append("</g></svg>")
    labels.append("</svg>")
    return (
        '<section class="chart" aria-label="Timeline">'
        + "".join(labels)
        + '<div class="scroll" id="scroll">'
        + "".join(chart)
        + "</div></section>\n"
    )


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

    Each tick says its time; the first tick of each day also says the day, on the line above.
    """
    step = next((t for t in TICKS if t * scale >= TICK_MIN_PX), TICKS[-1])
    base = int(origin.timestamp())
    t, last_day = -(-base // step) * step, None
    out = []
    while t <= base + span_s:
        at = dt.datetime.fromtimestamp(t, dt.timezone.utc)
        x = x_at(t - base, scale)
        day = ""
        if at.date() != last_day:
            day = f'<text class="tick-day" x="{x}" y="{AXIS_H - 28}">{at.strftime("%a %d %b")}</text>'
        last_day = at.date()
        out.append(
            f'<line class="tick{" day" if at.hour == 0 and at.minute == 0 else ""}" '
            f'x1="{x}" x2="{x}" y1="{AXIS_H - 8}" y2="{AXIS_H}"/>'
            f'<text class="tick-label" x="{x}" y="{AXIS_H - 13}">{at.strftime("%H:%M")}</text>{day}'
        )
        t += step
    return out


def _tables(timeline: Timeline) -> str:
    plan = timeline.plan
    rows = []
    for step in timeline.steps():
        names = esc(", ".join(timeline.vm_names(step.vms)))
        if len(step.vms) > NAMES_INLINE:
            names = f"<details><summary>{len(step.vms)} VMs</summary>{names}</details>"
        crit = step.id in timeline.critical
        rows.append(
            f'<tr data-step="{esc(step.id)}"{" class=crit" if crit else ""}><th>{esc(step.id)}'
            f"{' ★' if crit else ''}</th><td>{esc(step.tier)}</td><td>{esc(step.group)}</td>"
            f"<td>{esc(domain_label(step))}</td><td>{esc(ts(step.start))}</td><td>{esc(ts(step.end))}</td>"
            f"<td>{esc(_dur(step.gap_after_s))}</td><td>{len(step.vms)}</td><td>{names}</td></tr>"
        )
    out = [
        '<section class="tables"><h2 id="steps">Steps</h2>',
        # a browser lays out a closed <details> only when it is opened: 10,000 rows load fast folded
        f'<details class="steps"{" open" if len(rows) <= OPEN_TABLE_ROWS else ""}>'
        f"<summary>{len(rows)} steps</summary>",
        '<table class="steps"><caption>Every step in start order per tier and group; times in UTC; '
        "★ marks the critical path.</caption><thead><tr>"
        '<th scope="col">step</th><th scope="col">tier</th><th scope="col">group</th>'
        '<th scope="col">domain</th><th scope="col">start</th><th scope="col">end</th>'
        '<th scope="col">gap after</th><th scope="col">VMs</th><th scope="col">VM names</th></tr></thead>'
        "<tbody>",
        *rows,
        "</tbody></table></details>",
    ]
    out.append(
        _vm_table("unschedulable", "Unschedulable", timeline, ((u.vm, u.reason) for u in plan.unschedulable))
    )
    out.append(_vm_table("skipped", "Skipped", timeline, ((s.vm, s.reason) for s in plan.skipped)))
    if plan.warnings:
        out.append(
            '<h2 id="warnings">Warnings in detail</h2><table><thead><tr><th scope="col">code</th>'
            '<th scope="col">message</th><th scope="col">VMs</th></tr></thead><tbody>'
        )
        for w in plan.warnings:
            out.append(
                f"<tr><td>{esc(w.code)}</td><td>{esc(w.message)}</td>"
                f'<td class="vms">{esc(", ".join(timeline.vm_names(w.vms)))}</td></tr>'
            )
        out.append("</tbody></table>")
    out.append("</section>\n")
    return "".join(out)


def _vm_table(anchor: str, title: str, timeline: Timeline, items: Iterable[tuple[str, str]]) -> str:
    rows = "".join(
        f'<tr><th scope="row">{esc(timeline.name(vm))}</th><td>{esc(reason)}</td></tr>'
        for vm, reason in items
    )
    if not rows:
        return f'<h2 id="{anchor}">{title}</h2><p>None.</p>'
    return (
        f'<h2 id="{anchor}">{title}</h2><table><thead><tr><th scope="col">VM</th><th scope="col">reason</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


# --- helpers -----------------------------------------------------------------------------------


def _height(timeline: Timeline, collapsed: set[str]) -> int:
    rows = sum(TIER_H + (ROW_H if t.tier in collapsed else len(t.lanes) * ROW_H) for t in timeline.tiers)
    return AXIS_H + rows + 8


def _with_local(at: dt.datetime, timezone: str) -> str:
    local = local_text(at, timezone)
    return f"{ts(at)} ({local})" if local else ts(at)


def _critical_text(path: tuple[str, ...]) -> str:
    if not path:
        return "none"
    if len(path) == 1:
        return f"1 step: {path[0]}"
    return f"{len(path)} steps: {path[0]} → {path[-1]}"


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


def esc(text: str) -> str:
    return html.escape(text, quote=True)


CSS = """
:root{--ink:#1d2430;--muted:#5b6573;--line:#d8dde4;--bg:#fff;--band:#f3f5f8;--crit:#c0162b;
--deadline:#d0021b;--scheduled:#7b2cbf;--allowed:#e3f4e6}
*{box-sizing:border-box}
body{margin:0;padding:16px 20px;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--ink);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h1 small{font-weight:normal;color:var(--muted);font-size:15px}
h2{font-size:17px;margin:22px 0 8px}
.note{color:var(--muted);margin:2px 0 10px}
dl.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:6px 16px;margin:8px 0}
dl.figures div{border-left:3px solid var(--line);padding-left:8px}
dt{color:var(--muted);font-size:12px}dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.alert{padding:6px 10px;border-radius:4px}.alert.bad{background:#fde8ea;border:1px solid #f1a7b0}
.warnings ul{margin:4px 0;padding-left:20px}.code{font-family:ui-monospace,Menlo,Consolas,monospace;
background:#fff4d6;padding:0 4px;border-radius:3px}
.controls{display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin:12px 0 6px}
.controls button{font:inherit;padding:2px 10px;border:1px solid #aab3bf;border-radius:4px;background:#f7f8fa;
cursor:pointer}.controls button:focus{outline:2px solid #3b6fb6}
.legend{display:flex;flex-wrap:wrap;gap:10px;margin-left:12px;color:var(--muted);font-size:12px}
.key i{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle;border-radius:2px}
.key i.crit{border:2px solid var(--crit)}
.key i.gap{background:repeating-linear-gradient(45deg,#fff 0 2px,#8b95a3 2px 3px)}
.key i.allowed{background:var(--allowed)}.key i.deadline{width:3px;background:var(--deadline)}
.key i.scheduled{width:3px;background:var(--scheduled)}
.chart{display:flex;border:1px solid var(--line);border-radius:4px;background:#fff}
.scroll{overflow-x:auto;flex:1}
svg text{font-size:12px;fill:var(--ink)}
svg .lane-label{fill:var(--muted)}svg .tier-label{font-weight:600}
svg .axis-title{fill:var(--muted);font-size:11px}
.horizon{display:block;margin:4px 0 8px}.horizon .plan-span{fill:#3b6fb6;opacity:.85}
.horizon text{font-size:11px}
.head{fill:var(--band)}.toggle{cursor:pointer}.toggle:focus{outline:none}.toggle:focus rect{stroke:#3b6fb6}
.row{stroke:#eef0f3}
.allowed{fill:var(--allowed)}
.tick{stroke:#8b95a3}.tick.day{stroke:var(--ink);stroke-width:2}.tick-label{font-size:11px;fill:var(--muted)}
.tick-day{font-size:11px;font-weight:600}
g[data-g]>rect+rect{stroke:rgba(0,0,0,.25);stroke-width:1}
g[data-g].crit>rect+rect{stroke:var(--crit);stroke-width:2.5}
g[data-g]>rect:first-child{fill:url(#hatch);stroke:#8b95a3;stroke-width:.5}
.hatch-bg{fill:#fff}.hatch-line{stroke:#8b95a3;stroke-width:2}
.blabel{fill:#fff;font-size:11px;pointer-events:none}
g[data-g]:hover>rect+rect{filter:brightness(1.15)}
.marker line,line.marker{stroke-width:2}
.marker.deadline line,line.marker.deadline{stroke:var(--deadline)}
.marker.scheduled line,line.marker.scheduled{stroke:var(--scheduled);stroke-dasharray:5 3}
.marker.deadline text{fill:var(--deadline)}.marker.scheduled text{fill:var(--scheduled)}
.tier.collapsed .lane .lane-label,.tier.collapsed .blabel{display:none}
.tier.collapsed g[data-g]>rect+rect{opacity:.7}
table{border-collapse:collapse;margin:6px 0 14px;font-size:13px;width:100%}
caption{text-align:left;color:var(--muted);padding:2px 0 6px}
th,td{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top}
thead th{background:var(--band)}tr.crit th{color:var(--crit)}
td.t,table.steps td:nth-child(5),table.steps td:nth-child(6){white-space:nowrap}
summary{cursor:pointer;font-family:system-ui,sans-serif}details.steps>summary{margin:4px 0;color:var(--muted)}
td.vms,table.steps td:nth-child(9){font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;
overflow-wrap:anywhere}
@media print{.controls{display:none}.scroll{overflow:visible}}
"""

# The script only rearranges what the page already drew: zoom rescales every element with data-s,
# the tier toggles move lanes. It uses no data that is not in the DOM.
SCRIPT = r"""
(function () {
  "use strict";
  var tl = document.getElementById("timeline"), lb = document.getElementById("labels");
  if (!tl || !lb) return;
  var NS = "http://www.w3.org/2000/svg";
  var PAD = +tl.dataset.pad, AXIS = +tl.dataset.axis, TIER = +tl.dataset.tierH, ROW = +tl.dataset.rowH;
  var span = +tl.dataset.span, origin = +tl.dataset.origin, scroll = document.getElementById("scroll");
  var fit = Math.max(+tl.dataset.scale, (scroll.clientWidth - 2 * PAD - 2) / span), scale = fit;
  var TICKS = [900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
  var DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  var MONTHS = ["Jan","Feb","Mar","Apr","May","Jun","Jul","Aug","Sep","Oct","Nov","Dec"];
  var timed = tl.querySelectorAll("[data-s]:not(g)");
  var steps = tl.querySelectorAll("g[data-g]");
  var CHAR = +tl.dataset.char, LANE_CHARS = +lb.dataset.laneChars;
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function px(s) { return PAD + s * scale; }
  function axis() {
    var g = document.getElementById("axis");
    while (g.firstChild) g.removeChild(g.firstChild);
    var step = TICKS[TICKS.length - 1];
    for (var i = 0; i < TICKS.length; i++) { if (TICKS[i] * scale >= 90) { step = TICKS[i]; break; } }
    var lastDay = null;
    for (var t = Math.ceil(origin / step) * step; t <= origin + span; t += step) {
      var d = new Date(t * 1000), x = px(t - origin), day = d.toISOString().slice(0, 10);
      var midnight = d.getUTCHours() === 0 && d.getUTCMinutes() === 0;
      var tick = {"class": midnight ? "tick day" : "tick", x1: x, x2: x, y1: AXIS - 8, y2: AXIS};
      g.appendChild(svg("line", tick));
      var hm = two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
      g.appendChild(svg("text", {"class": "tick-label", x: x, y: AXIS - 13}, hm));
      if (day !== lastDay) {
        var name = DAYS[d.getUTCDay()] + " " + two(d.getUTCDate()) + " " + MONTHS[d.getUTCMonth()];
        g.appendChild(svg("text", {"class": "tick-day", x: x, y: AXIS - 28}, name));
      }
      lastDay = day;
    }
  }
  function svg(tag, attrs, text) {
    var el = document.createElementNS(NS, tag);
    for (var k in attrs) el.setAttribute(k, attrs[k]);
    if (text) el.textContent = text;
    return el;
  }
  function barLabel(g) {
    var parts = g.dataset.step.split("/"), n = +g.dataset.n;
    return (parts.length > 2 ? parts.slice(2).join("/") : "vm") + " \u00b7 " + n + (n === 1 ? " VM" : " VMs");
  }
  function placeStep(g) {
    var s = +g.dataset.s, e = +g.dataset.e, end = +g.dataset.g;
    var gap = g.children[0], bar = g.children[1], label = g.querySelector(".blabel");
    gap.setAttribute("x", px(e)); gap.setAttribute("width", Math.max(1, (end - e) * scale));
    bar.setAttribute("x", px(s)); bar.setAttribute("width", Math.max(1, (e - s) * scale));
    var text = label ? label.textContent : barLabel(g);
    var fits = (e - s) * scale >= Math.floor(text.length * CHAR) + 6;
    if (fits && !label) {
      label = svg("text", {"class": "blabel", y: 16}, text);
      g.insertBefore(label, bar.nextSibling);
    }
    if (label) { label.setAttribute("x", px(s) + 3); label.style.display = fits ? "" : "none"; }
  }
  function labelLanes(tier, head) {
    // a tier that started collapsed has no lane labels yet: write them from the lanes' groups
    var into = head.querySelector(":scope > g.lanes");
    if (into.firstChild) return;
    var lanes = tier.querySelectorAll(":scope > g.lanes > g.lane");
    for (var i = 0; i < lanes.length; i++) {
      var name = lanes[i].dataset.group, g = svg("g", {"class": "lane"});
      var clipped = name.length <= LANE_CHARS ? name : "\u2026" + name.slice(name.length - LANE_CHARS + 1);
      var text = svg("text", {x: 20, y: 16, "class": "lane-label"}, clipped);
      if (clipped !== name) text.appendChild(svg("title", {}, name));
      g.appendChild(text);
      into.appendChild(g);
    }
  }
  function rescale() {
    var width = 2 * PAD + span * scale;
    tl.setAttribute("width", width);
    for (var i = 0; i < timed.length; i++) {
      var el = timed[i], s = +el.dataset.s, tag = el.tagName;
      if (tag === "line") { el.setAttribute("x1", px(s)); el.setAttribute("x2", px(s)); }
      else if (tag === "text") el.setAttribute("x", px(s) + 3);
      else {
        el.setAttribute("x", px(s));
        el.setAttribute("width", Math.max(1, (+el.dataset.e - s) * scale));
      }
    }
    for (var n = 0; n < steps.length; n++) placeStep(steps[n]);
    var wide = tl.querySelectorAll(".wide");
    for (var j = 0; j < wide.length; j++) {
      wide[j].setAttribute(wide[j].tagName === "line" ? "x2" : "width", width);
    }
    axis();
  }
  function zoom(to) {
    // keep the time in the middle of the view where it is
    var mid = (scroll.scrollLeft + scroll.clientWidth / 2 - PAD) / scale;
    scale = Math.min(fit * 4096, Math.max(fit / 64, to));
    rescale();
    scroll.scrollLeft = Math.max(0, mid * scale + PAD - scroll.clientWidth / 2);
  }
  function relayout() {
    var y = AXIS, tiers = tl.querySelectorAll("g.tier"), heads = lb.querySelectorAll("g.tier");
    for (var i = 0; i < tiers.length; i++) {
      var collapsed = tiers[i].classList.contains("collapsed");
      if (!collapsed) labelLanes(tiers[i], heads[i]);
      tiers[i].setAttribute("transform", "translate(0," + y + ")");
      heads[i].setAttribute("transform", "translate(0," + y + ")");
      heads[i].classList.toggle("collapsed", collapsed);
      var toggle = heads[i].querySelector(".toggle");
      toggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
      toggle.querySelector(".arrow").textContent = collapsed ? "\u25b8" : "\u25be";
      var lanes = tiers[i].querySelectorAll(":scope > g.lanes > g.lane");
      var labels = heads[i].querySelectorAll(":scope > g.lanes > g.lane");
      for (var k = 0; k < lanes.length; k++) {
        var t = "translate(0," + (collapsed ? 0 : k * ROW) + ")";
        lanes[k].setAttribute("transform", t);
        if (labels[k]) labels[k].setAttribute("transform", t);
      }
      y += TIER + (collapsed ? ROW : lanes.length * ROW);
    }
    var h = y + 8;
    tl.setAttribute("height", h); lb.setAttribute("height", h);
    var full = tl.querySelectorAll(".full");
    for (var m = 0; m < full.length; m++) {
      if (full[m].tagName === "line") full[m].setAttribute("y2", h);
      else full[m].setAttribute("height", h - AXIS);
    }
  }
  function toggle(name, collapse) {
    var tiers = tl.querySelectorAll("g.tier");
    for (var i = 0; i < tiers.length; i++) {
      if (name === null || tiers[i].dataset.tier === name) {
        var now = tiers[i].classList.contains("collapsed");
        tiers[i].classList.toggle("collapsed", collapse === null ? !now : collapse);
      }
    }
    relayout();
  }
  lb.addEventListener("click", function (ev) {
    var t = ev.target.closest(".toggle"); if (t) toggle(t.dataset.tier, null);
  });
  lb.addEventListener("keydown", function (ev) {
    var t = ev.target.closest(".toggle");
    if (t && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); toggle(t.dataset.tier, null); }
  });
  document.querySelector(".controls").addEventListener("click", function (ev) {
    var b = ev.target.closest("button"); if (!b) return;
    if (b.dataset.lanes) { toggle(null, b.dataset.lanes === "collapse"); return; }
    zoom(b.dataset.zoom === "in" ? scale * 1.6 : b.dataset.zoom === "out" ? scale / 1.6 : fit);
  });
  scroll.addEventListener("wheel", function (ev) {
    if (!ev.ctrlKey) return;
    ev.preventDefault();
    zoom(ev.deltaY < 0 ? scale * 1.25 : scale / 1.25);
  }, {passive: false});
  rescale();
  relayout();
})();
"""
