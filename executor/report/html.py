"""`udroll report --journal DIR -o html`: the run as it happened, drawn over its plan.

Takes the report data of :func:`executor.report.text.build_report` (``udroll/report@1``) and returns one
self-contained page in the same style as the plan preview (it reuses the CSS and script of
planner.render.html_assets and the drawing helpers of planner.render.html_chart): per group lane,
each step's planned span as an outline and its actual span as a bar coloured by outcome, then the
failures by VM, the gate evidence, the hooks' output, and the VMs Azure will reschedule. A step
still running has no end yet: its bar runs for its planned duration, dashed, because the page never
reads the clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from planner.render.html_assets import BUTTONS, SCRIPT, esc, esc_code, head
from planner.render.html_chart import AXIS_H, LABEL_W, PAD, ROW_H, TIER_H, WIDTH, axis, chart_section, span
from planner.values import format_duration, parse_timestamp

STATES = ("done", "failed", "running", "waiting", "skipped", "unknown")
STOPPED = ("halted", "aborted")  # runs whose waiting steps are not waiting for anything
# a step's planned (start, end), actual (start, end) if it started, and whether it is still open
StepSpans = tuple[tuple[int, int], tuple[int, int] | None, bool]
Spans = dict[str, StepSpans]  # by step id
_REPORT_CSS = """
.planned{fill:none;stroke:#5b6573;stroke-width:1;stroke-dasharray:3 2}
.actual.done{fill:#2e8b57}.actual.failed{fill:#c0162b}.actual.running{fill:#3b6fb6;stroke:#1d2430;
stroke-dasharray:4 2}.actual.skipped{fill:#8b95a3}
.state{font-weight:600}.state.not-started{color:#5b6573;font-weight:normal;white-space:nowrap}.state.failed,.state.halted,.state.aborted{color:#c0162b}.state.done,.state.completed{color:#2e8b57}
.key i.planned-key{border:1px dashed #5b6573}.key i.done{background:#2e8b57}.key i.failed{background:#c0162b}
.key i.running{background:#3b6fb6}.key i.skipped{background:#8b95a3}
.alert{background:#eef6ef;border:1px solid #b9dcc0}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f8fa;border:1px solid #d8dde4;padding:6px;
margin:4px 0;font-size:12px}
"""


def render_html(report: dict[str, Any]) -> str:
    """The whole HTML document for a run's report."""
    # each step with the state it is shown in
    report = {**report, "steps": [{**s, "shown": _state(s, report)} for s in report["steps"]]}
    steps = report["steps"]
    origin = parse_timestamp(report["planned_start"])
    if report.get("actual_start"):
        origin = min(origin, parse_timestamp(report["actual_start"]))
    spans = {s["id"]: _spans(s, origin) for s in steps}
    end_s = max([1, *(max(p[1], a[1] if a else 0) for p, a, _ in spans.values())])
    scale = WIDTH / end_s
    return "".join(
        [
            head(f"udroll report: {report['name']}").replace("</style>", _REPORT_CSS + "</style>"),
            _header(report),
            _controls(),
            _chart(report, origin, spans, end_s, scale),
            _failures(report),
            _gates(report),
            _hooks(report),
            _vm_lists(report),
            _step_table(report),
            f"<script>{SCRIPT}</script>\n</body>\n</html>\n",
        ]
    )


def _spans(step: dict[str, Any], origin: dt.datetime) -> StepSpans:
    """Planned (start, end) and actual (start, end) in seconds after ``origin``; whether it is open."""

    def off(text: str) -> int:
        return int((parse_timestamp(text) - origin).total_seconds())

    planned = (off(step["planned_start"]), off(step["planned_end"]))
    if not step.get("actual_start"):
        return planned, None, False
    start = off(step["actual_start"])
    if step.get("actual_end"):
        return planned, (start, max(start, off(step["actual_end"]))), False
    return planned, (start, start + planned[1] - planned[0]), True


def _header(report: dict[str, Any]) -> str:
    steps = report["steps"]
    counts = {state: sum(1 for s in steps if s["state"] == state) for state in STATES}
    actual_label = "Actual so far" if counts["running"] or counts["waiting"] else "Actual makespan"
    shown: dict[str, int] = {}
    for step in steps:
        shown[step["shown"]] = shown.get(step["shown"], 0) + 1
    failed_vms = [v for s in steps for v in s["vms"] if v["state"] == "failed"]
    actual = report.get("actual_makespan_s")
    rows = [
        ("State", f'<span class="state {esc(report["state"])}">{esc(report["state"])}</span>'),
        ("Planned start", esc(_ts(report["planned_start"]))),
        ("Actual start", esc(_ts(report.get("actual_start")))),
        ("Planned makespan", esc(format_duration(report["planned_makespan_s"]))),
        (actual_label, esc(format_duration(actual)) if actual is not None else "–"),
        ("Steps", esc(", ".join(f"{n} {state}" for state, n in shown.items()) or "none")),
        ("VMs failed", str(len(failed_vms))),
        ("VMs Azure will reschedule", str(len(report.get("reschedule", ())))),
        ("Fingerprint", esc(report.get("fingerprint", ""))),
    ]
    figures = "".join(f"<div><dt>{esc(k)}</dt><dd>{v}</dd></div>" for k, v in rows)
    tone = "alert" if report["state"] in ("completed", "done") else "alert bad"
    message = f'<p class="{tone}">{esc_code(report["message"])}</p>' if report.get("message") else ""
    return (
        f"<header><h1>{esc(report['name'])} <small>run report</small></h1>"
        '<p class="note">All times are UTC. Dashed outlines are the plan; bars are what happened.</p>'
        f'<dl class="figures">{figures}</dl>{message}</header>\n'
    )


def _controls() -> str:
    keys = "".join(
        f'<span class="key"><i class="{cls}"></i>{label}</span>'
        for cls, label in (
            ("planned-key", "planned"),
            ("done", "done"),
            ("failed", "failed"),
            ("running", "running (no end yet)"),
            ("skipped", "skipped"),
        )
    )
    legend = f'<span class="legend">{keys}</span>'
    return f'<nav class="controls" aria-label="Timeline controls">{BUTTONS}{legend}</nav>\n'


def _lanes(report: dict[str, Any]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """tier -> group label -> steps, in the plan's order."""
    lanes: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for step in report["steps"]:
        parts = step["id"].split("/")
        group = parts[1] if len(parts) > 1 else step["id"]
        lanes.setdefault(step["tier"], {}).setdefault(group, []).append(step)
    return lanes


def _chart(report: dict[str, Any], origin: dt.datetime, spans: Spans, end_s: int, scale: float) -> str:
    """Tier and group labels on the left; on the right, each step's planned outline and actual bar."""
    if not report["steps"]:
        return '<section class="chart"><p class="note">The plan of this run has no steps.</p></section>\n'
    lanes = _lanes(report)
    height = AXIS_H + sum(TIER_H + len(groups) * ROW_H for groups in lanes.values()) + 8
    width = 2 * PAD + end_s * scale
    labels = [
        f'<svg id="labels" class="labels" width="{LABEL_W}" height="{height}" role="group" '
        'aria-label="Tiers and groups">',
        f'<text x="8" y="{AXIS_H - 12}" class="axis-title">tier / group</text>',
    ]
    chart = [
        f'<svg id="timeline" class="timeline" width="{width:.1f}" height="{height}" data-span="{end_s}" '
        f'data-scale="{scale:.6f}" data-origin="{int(origin.timestamp())}" data-pad="{PAD}" '
        f'data-axis="{AXIS_H}" data-tier-h="{TIER_H}" data-row-h="{ROW_H}" role="img" '
        'aria-label="Planned and actual step times; the same data is in the table below">',
        '<g id="axis">',
        *axis(origin, end_s, scale),
        "</g>",
    ]
    y = AXIS_H
    for tier, groups in lanes.items():
        labels.append(_tier_labels(tier, groups, y))
        chart.append(_tier_lanes(tier, groups, y, width, spans, scale))
        y += TIER_H + len(groups) * ROW_H
    return chart_section(labels, chart)


def _tier_labels(tier: str, groups: dict[str, list[dict[str, Any]]], y: int) -> str:
    """A tier's head (a toggle, as in the plan preview) and its groups' names."""
    vms = sum(len(s["vms"]) for steps in groups.values() for s in steps)
    title = f"{tier} · {len(groups)} group{'s' if len(groups) != 1 else ''}, {vms} VMs"
    out = [
        f'<g class="tier" data-tier="{esc(tier)}" transform="translate(0,{y})">'
        f'<g class="toggle" role="button" tabindex="0" aria-expanded="true" data-tier="{esc(tier)}">'
        f'<rect class="head" x="0" y="0" width="{LABEL_W}" height="{TIER_H}"/>'
        f'<text x="8" y="17" class="tier-label"><tspan class="arrow">▾</tspan> {esc(title)}</text></g>'
        f'<g class="lanes" transform="translate(0,{TIER_H})">'
    ]
    for i, group in enumerate(groups):
        label = f'<text x="20" y="16" class="lane-label">{esc(group)}</text>'
        out.append(f'<g class="lane" transform="translate(0,{i * ROW_H})">{label}</g>')
    out.append("</g></g>")
    return "".join(out)


def _tier_lanes(
    tier: str, groups: dict[str, list[dict[str, Any]]], y: int, width: float, spans: Spans, scale: float
) -> str:
    """A tier's band across the time area and a lane per group with its steps' bars."""
    out = [
        f'<g class="tier" data-tier="{esc(tier)}" transform="translate(0,{y})">'
        f'<rect class="head wide" x="0" y="0" width="{width:.1f}" height="{TIER_H}"/>'
        f'<g class="lanes" transform="translate(0,{TIER_H})">'
    ]
    for i, (group, steps) in enumerate(groups.items()):
        out.append(f'<g class="lane" data-group="{esc(group)}" transform="translate(0,{i * ROW_H})">')
        out.append(f'<line class="row wide" x1="0" x2="{width:.1f}" y1="{ROW_H}" y2="{ROW_H}"/>')
        out.extend(_bars(step, spans[step["id"]], scale) for step in steps)
        out.append("</g>")
    out.append("</g></g>")
    return "".join(out)


def _bars(step: dict[str, Any], spans: StepSpans, scale: float) -> str:
    planned, actual, is_open = spans
    shown = step["shown"]
    failed = [v for v in step["vms"] if v["state"] == "failed"]
    tip = (
        f"{step['id']}: {shown}\nplanned {_ts(step['planned_start'])} to {_ts(step['planned_end'])}\n"
        f"actual {_ts(step.get('actual_start'))} to {_ts(step.get('actual_end'))}"
        f" (start {_delay(step.get('start_delay_s'))}, end {_delay(step.get('end_delay_s'))})"
        + (f"\nerror: {step['error']}" if step.get("error") else "")
        + "".join(f"\n{_vm_name(v)}: {v['result'] or v['state']} {v['message'] or ''}" for v in failed)
    )
    out = [
        f'<g class="step {_css(shown)}" data-step="{esc(step["id"])}">',
        f'<rect class="planned" {span(planned[0], planned[1], scale)} y="2" height="{ROW_H - 4}" rx="2"/>',
    ]
    if actual:
        state = "running" if is_open else step["state"]
        out.append(
            f'<rect class="actual {esc(state)}" {span(actual[0], actual[1], scale)} y="6" '
            f'height="{ROW_H - 12}" rx="2"/>'
        )
    out.append(f"<title>{esc(tip)}</title></g>")
    return "".join(out)


def _failures(report: dict[str, Any]) -> str:
    rows = []
    for step in report["steps"]:
        if step["state"] == "failed" and step.get("error"):
            rows.append(
                f'<tr data-failed-step="{esc(step["id"])}"><th scope="row">{esc(step["id"])}</th>'
                f"<td>(the step)</td><td></td><td>{esc_code(step['error'])}</td></tr>"
            )
        for vm in step["vms"]:
            if vm["state"] == "failed":
                rows.append(
                    f'<tr data-failed-vm="{esc(vm["vm"])}"><th scope="row">{esc(step["id"])}</th>'
                    f"<td>{esc(_vm_name(vm))}</td><td>{esc(vm['result'] or '')}</td>"
                    f"<td>{esc(vm['message'] or '')} (attempts: {vm['attempts']})</td></tr>"
                )
    if not rows:
        return '<section class="tables"><h2 id="failures">Failures</h2><p>None.</p></section>\n'
    return (
        '<section class="tables"><h2 id="failures">Failures</h2><table class="failures"><thead><tr>'
        '<th scope="col">step</th><th scope="col">VM</th><th scope="col">result</th>'
        f'<th scope="col">what happened</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>\n'
    )


def _probe(gate: dict[str, Any]) -> str:
    """What a probe checked, named by its VM (an emulator's health URL encodes the VM's id: unreadable);
    the kind and target (URL, host:port) stay in the tooltip."""
    target = f"{gate.get('kind') or 'probe'} {gate.get('target') or ''}".strip()
    name = _vm_name({"vm": gate["vm"]}) if gate.get("vm") else str(gate.get("target") or "")
    detail = esc(str(gate.get("detail") or ""))
    return f'<span class="probe" title="{esc(target)}">{esc(name)}</span>: {detail}'


def _gates(report: dict[str, Any]) -> str:
    rows = []
    for step in report["steps"]:
        gates = step.get("gates") or {}
        if not gates.get("probes"):
            continue
        last = gates.get("last") or {}
        failures = "".join(
            f"<li>{esc(_ts(f.get('at')))} {_probe(f)}</li>" for f in gates.get("last_failures", ())
        )
        rows.append(
            f'<tr><th scope="row">{esc(step["id"])}</th><td>{gates["passed"]}/{gates["probes"]}</td>'
            f'<td class="vms">{_probe(last) if last else ""}</td>'
            f'<td class="vms">{f"<ul>{failures}</ul>" if failures else ""}</td></tr>'
        )
    if not rows:
        return (
            '<section class="tables"><h2 id="gates">Gate evidence</h2><p>No probes recorded.</p></section>\n'
        )
    return (
        '<section class="tables"><h2 id="gates">Gate evidence</h2><table><thead><tr><th scope="col">step</th>'
        '<th scope="col">probes passed</th><th scope="col">last probe</th><th scope="col">last failures</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>\n"
    )


def _hooks(report: dict[str, Any]) -> str:
    items = [
        f"<li><strong>{esc(step['id'])}</strong> {esc(str(h.get('which', '')))}: exit {esc(str(h.get('rc')))}"
        f"<pre>{esc((h.get('output') or '').strip()[-2000:])}</pre></li>"
        for step in report["steps"]
        for h in step.get("hooks", ())
    ]
    if not items:
        return ""
    return f'<section class="tables"><h2 id="hooks">Hooks</h2><ul>{"".join(items)}</ul></section>\n'


def _vm_lists(report: dict[str, Any]) -> str:
    names = {v["vm"]: _vm_name(v) for s in report["steps"] for v in s["vms"]}

    def name(vm: str) -> str:
        return names.get(vm) or vm.rsplit("/", 1)[-1]

    resched = "".join(
        f"<li>{esc(name(vm))} <small>{esc(vm)}</small></li>" for vm in report.get("reschedule", ())
    )
    out = [
        '<section class="tables"><h2 id="reschedule">VMs Azure will reschedule</h2>',
        f"<ul>{resched}</ul>" if resched else "<p>None.</p>",
    ]
    for key, title in (
        ("unschedulable", "Not scheduled (Azure will maintain them itself)"),
        ("skipped", "Skipped"),
    ):
        rows = "".join(
            f'<tr><th scope="row">{esc(name(u["vm"]))}</th><td>{esc(u.get("reason") or "")}</td></tr>'
            for u in report.get(key, ())
        )
        if rows:
            out.append(
                f'<h2 id="{key}">{title}</h2><table><thead><tr><th scope="col">VM</th>'
                f'<th scope="col">reason</th></tr></thead><tbody>{rows}</tbody></table>'
            )
    out.append("</section>\n")
    return "".join(out)


def _step_table(report: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr data-step="{esc(s["id"])}"><th scope="row">{esc(s["id"])}</th>'
        f"{_state_cell(s['shown'])}"
        f'<td class="t">{esc(_ts(s["planned_start"]))}</td>'
        f'<td class="t">{esc(_ts(s.get("actual_start")))}</td>'
        f"<td>{esc(_delay(s.get('start_delay_s')))}</td>"
        f'<td class="t">{esc(_ts(s["planned_end"]))}</td><td class="t">{esc(_ts(s.get("actual_end")))}</td>'
        f"<td>{esc(_delay(s.get('end_delay_s')))}</td><td>{len(s['vms'])}</td></tr>"
        for s in report["steps"]
    )
    return (
        '<section class="tables"><h2 id="steps">Steps</h2><table class="steps"><caption>Planned and actual '
        "times in UTC; a delay is actual minus planned.</caption><thead><tr>"
        '<th scope="col">step</th><th scope="col">state</th><th scope="col">planned start</th>'
        '<th scope="col">actual start</th><th scope="col">delay</th><th scope="col">planned end</th>'
        '<th scope="col">actual end</th><th scope="col">delay</th><th scope="col">VMs</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>\n"
    )


def _state(step: dict[str, Any], report: dict[str, Any]) -> str:
    """A step's state as shown: one still waiting when its run halted or was aborted is not waiting."""
    if step["state"] == "waiting" and report["state"] in STOPPED:
        return f"not started (run {report['state']})"
    return str(step["state"])


def _css(shown: str) -> str:
    return "not-started" if shown.startswith("not started") else esc(shown)


def _state_cell(shown: str) -> str:
    """The state in a table cell: "not started", the reason in parentheses as its tooltip."""
    short = shown.split(" (")[0]
    title = f' title="{esc(shown)}"' if short != shown else ""
    return f'<td class="state {_css(shown)}"{title}>{esc(short)}</td>'


def _vm_name(vm: dict[str, Any]) -> str:
    """``vmss-app/2`` for a scale set instance (its bare instance id says little), else the VM's name."""
    parts = vm["vm"].split("/")
    if (
        len(parts) >= 4
        and parts[-2].lower() == "virtualmachines"
        and parts[-4].lower() == "virtualmachinescalesets"
    ):
        return f"{parts[-3]}/{parts[-1]}"
    return str(vm.get("name") or parts[-1])


def _ts(text: str | None) -> str:
    if not text:
        return "–"
    return parse_timestamp(text).strftime("%Y-%m-%d %H:%MZ")


def _delay(seconds: int | None) -> str:
    if seconds is None:
        return "–"
    return ("+" if seconds >= 0 else "-") + format_duration(abs(seconds))
