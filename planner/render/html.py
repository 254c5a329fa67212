"""The plan as one self-contained HTML page: a timeline to review with a team before anything reboots.

Everything is inline (CSS, SVG, a little JavaScript): the file opens offline, from a change ticket or
a mail attachment, and asks nothing of the network. Without JavaScript it is a static picture plus
the accessible tables below it; with it, lanes collapse and expand per tier and the time axis zooms.

Big plans stay readable: tiers with many lanes start collapsed to one row (each expands on a click),
the step table of a plan with more than OPEN_TABLE_ROWS steps starts folded (a closed <details> is
not laid out until opened, so the page loads in seconds), and the time axis zooms (buttons, or
Ctrl+wheel) around the middle of the view.

The page's parts live in three modules: this one (the header, legend and tables), html_chart (the
SVG timeline) and html_assets (the inline style and script, shared with the run report).

Pure and deterministic: the page says nothing about when it was made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from planner.plan import Plan
from planner.render._timeline import Timeline, build_timeline, domain_label, local_text, window_text
from planner.render._timeline import duration_text as _dur
from planner.render.html_assets import BUTTONS, SCRIPT, esc, head
from planner.render.html_chart import WIDTH, draw_chart, draw_horizon, ts
from planner.render.preview import Preview
from planner.spec import Spec
from planner.summary import PlanSummary
from planner.windows import allowed_intervals

COLLAPSE_LANES = 6  # a tier with more lanes than this starts collapsed in a big plan...
COLLAPSE_TOTAL = 40  # ...one with more lanes than this in all
PALETTE = ("#3b6fb6", "#2e8b57", "#c46a1b", "#7b4fb3", "#b03a5b", "#1f8a99", "#8a7a12", "#5a6270")
NAMES_INLINE = 8  # more VM names than this fold into a <details> in the step table
OPEN_TABLE_ROWS = 1000  # a longer step table starts folded


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
        draw_horizon(timeline),
        draw_chart(timeline, span_s, scale, collapsed, colours, allowed),
        _tables(timeline),
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n",
    ]
    return "".join(parts)


# --- the page's parts ------------------------------------------------------------------------------


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


def _with_local(at: dt.datetime, timezone: str) -> str:
    local = local_text(at, timezone)
    return f"{ts(at)} ({local})" if local else ts(at)


def _critical_text(path: tuple[str, ...]) -> str:
    if not path:
        return "none"
    if len(path) == 1:
        return f"1 step: {path[0]}"
    return f"{len(path)} steps: {path[0]} → {path[-1]}"
