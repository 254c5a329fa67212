"""`-o markdown`: a change-ticket document for the rollout, to paste or attach before anything reboots.

Summary, the timeline as a Mermaid gantt, every step, the risks (lint warnings, unschedulable and
skipped VMs), how to operate the run (status, pause, resume, abort) and the exact commands.
GitHub-flavoured Markdown that Azure DevOps renders too; every text from the spec or the fleet is
escaped so a VM name cannot break a table or inject markup.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import shlex

from planner.plan import Plan
from planner.render import mermaid
from planner.render._timeline import Timeline, build_timeline, domain_label, window_text
from planner.render._timeline import duration_text as _dur
from planner.render.preview import Preview
from planner.spec import Spec
from planner.summary import PlanSummary
from planner.timefmt import human_time, plural
from planner.values import format_timestamp

NAMES_IN_TABLE = 6  # more VM names than this are listed in the appendix only
_PUNCTUATION = re.compile(r"([\\`*_\[\]|#~!])")


def render(preview: Preview) -> str:
    """The whole Markdown document for ``udroll plan -o markdown``."""
    timeline = build_timeline(preview)
    summary = preview.summary
    plan = preview.plan
    # the CLI's Preview may carry the spec's path; without it the spec is named after the plan
    source = preview.source
    spec_path = source or f"{plan.name}.yaml"
    parts = [
        f"# Change: Azure maintenance rollout `{_code(plan.name)}`\n",
        _summary(timeline, preview.spec, summary, spec_path, preview.zone),
        _what_happens(timeline, preview.spec),
        _timeline(timeline),
        _steps(timeline, preview.zone),
        _risks(timeline, summary),
        _operate(spec_path, source is None, preview.fleet_path, plan),
        _appendix(timeline),
    ]
    return "\n".join(p for p in parts if p)


def _summary(timeline: Timeline, spec: Spec, s: PlanSummary, spec_path: str, zone: dt.tzinfo) -> str:
    plan = timeline.plan
    q = plan.optimality
    rows = [
        ("Spec", f"`{_code(spec_path)}`"),
        ("Plan fingerprint", f"`{_code(plan.fingerprint)}`"),
        ("Planned start", human_time(plan.start, zone)),
        ("Expected end", human_time(s.end, zone)),
        ("Makespan", f"{_dur(plan.makespan_s)} (lower bound {_dur(plan.lower_bound_s)}: {q.bound_basis})"),
        ("Plan quality", f"{q.describe(plan.makespan_s, plan.lower_bound_s)} ({q.method})"),
        *[("Relaxed dependency", _esc(r.describe())) for r in plan.relaxed],
        ("Steps", str(s.steps)),
        ("VMs to maintain", str(s.vms_planned)),
        ("Skipped (nothing to do)", str(s.skipped)),
        ("Unschedulable", f"**{s.unschedulable}**" if s.unschedulable else "0"),
        ("Lint warnings", str(s.warnings)),
        (
            "Earliest self-service deadline",
            human_time(s.earliest_deadline, zone) if s.earliest_deadline else "none",
        ),
        ("Slack to the deadlines", _dur(s.slack_s) if s.slack_s is not None else "n/a"),
        (
            "Latest start that still fits",
            human_time(s.latest_start, zone) if s.latest_start else "not searched",
        ),
        ("Operator window", _esc(window_text(spec))),
        ("Tier order", " → ".join(_esc(t.tier) for t in timeline.tiers) or "none"),
    ]
    table = "| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
    return "## Summary\n\n" + table


def _what_happens(timeline: Timeline, spec: Spec) -> str:
    plan = timeline.plan
    vms = sum(len(s.vms) for s in plan.steps)
    tiers = []
    for tier in timeline.tiers:
        st = spec.settings(tier.tier) if any(t.name == tier.tier for t in spec.tiers) else None
        detail = (
            f" (recovery gap {_dur(st.recovery_gap)}, at most {st.max_unavailable} of its VMs at once"
            + (f", after {', '.join(_esc(d) for d in st.depends_on)}" if st.depends_on else "")
            + ")"
            if st
            else ""
        )
        tiers.append(
            f"- **{_esc(tier.tier)}**: {plural(len(tier.steps), 'step')} in "
            f"{plural(len(tier.lanes), 'group')}{detail}"
        )
    return (
        "## What happens\n\n"
        f"udroll starts Azure's self-service maintenance (perform-maintenance) on {plural(vms, 'VM')} in "
        f"{plural(len(plan.steps), 'step')}, one domain of one group at a time, in tier order, with a "
        "recovery gap after each step and health gates before the next. Each VM is redeployed to an updated "
        "host: **it reboots, its temporary disk is wiped, and a dynamic public IP may change.**\n\n"
        + "\n".join(tiers)
        + "\n"
    )


def _timeline(timeline: Timeline) -> str:
    if not timeline.plan.steps:
        return ""
    chart = mermaid.fitting(timeline)
    return "## Timeline (UTC)\n\n```mermaid\n" + chart + "```\n\nCritical path steps are marked `crit`.\n"


def _steps(timeline: Timeline, zone: dt.tzinfo) -> str:
    rows = []
    for i, step in enumerate(timeline.steps(), 1):
        names = timeline.vm_names(step.vms)
        shown = ", ".join(_esc(n) for n in names[:NAMES_IN_TABLE])
        if len(names) > NAMES_IN_TABLE:
            shown += f", … {len(names) - NAMES_IN_TABLE} more (see appendix)"
        crit = " ★" if step.id in timeline.critical else ""
        rows.append(
            f"| {i} | `{_code(step.id)}`{crit} | {_esc(step.tier)} | {_esc(step.group)} | "
            f"{_esc(domain_label(step))} | {human_time(step.start, zone)} | {human_time(step.end, zone)} | "
            f"{_dur(step.gap_after_s)} | "
            f"{len(step.vms)} | {shown} |"
        )
    if not rows:
        return "## Steps\n\nThis plan has no steps: nothing will be triggered.\n"
    return (
        f"## Steps\n\nTimes in {zone}; ★ marks the critical path. A step starts only when the steps it "
        "waits for have ended and their recovery gap has passed, inside the operator window.\n\n"
        "| # | Step | Tier | Group | Domain | Start | End | Gap after | VMs | VM names |\n"
        "|---:|---|---|---|---|---|---|---|---:|---|\n" + "\n".join(rows) + "\n"
    )


def _risks(timeline: Timeline, s: PlanSummary) -> str:
    plan = timeline.plan
    out = ["## Risks\n"]
    out.append(
        "- Every VM in a step reboots; the step's domain is unavailable while it runs. Health gates must "
        "pass for the tier's `healthy_for` before the next step of the group starts."
    )
    if s.slack_s is not None and s.slack_s < 24 * 3600:
        out.append(
            f"- **Little slack**: only {_dur(s.slack_s)} between a step's end and its VMs' self-service "
            "deadline. A delay may push VMs into Azure's own scheduled maintenance."
        )
    for w in plan.warnings:
        vms = ""
        if w.vms:
            names = timeline.vm_names(w.vms)
            vms = (
                " (VMs: "
                + ", ".join(_esc(n) for n in names[:20])
                + (f", … {len(names) - 20} more" if len(names) > 20 else "")
                + ")"
            )
        out.append(f"- **{_esc(w.code)}**: {_esc(w.message)}{vms}")
    if plan.unschedulable:
        out.append(
            f"- **{plural(len(plan.unschedulable), 'VM')} cannot be maintained by this plan**; Azure will "
            "maintain them in its scheduled window, in an order we do not control:"
        )
        out.extend(f"  - {_esc(timeline.name(u.vm))}: {_esc(u.reason)}" for u in plan.unschedulable)
    if plan.skipped:
        out.append(f"- {plural(len(plan.skipped), 'selected VM')} skipped (nothing to do):")
        out.extend(f"  - {_esc(timeline.name(k.vm))}: {_esc(k.reason)}" for k in plan.skipped)
    return "\n".join(out) + "\n"


def _operate(spec_path: str, guessed: bool, fleet_path: str | None, plan: Plan) -> str:
    spec = shlex.quote(spec_path)
    journal = shlex.quote(f".udroll/{plan.name}")
    fleet = f" --fleet {shlex.quote(fleet_path)}" if fleet_path else ""
    when = format_timestamp(plan.start)
    guess = f"\n(`{_code(spec_path)}` stands for the spec file this plan was made from.)" if guessed else ""
    return f"""## Commands

Check the spec, write this exact plan (its fingerprint must be `{_code(plan.fingerprint)}`), then run it.
A plan file runs with the spec it was made from (the health gates and hooks are in the spec); the
runner refuses it if the spec or the fleet changed since.{guess}

```sh
udroll validate {spec}
udroll plan {spec}{fleet} --start {when} -o json --out plan.json
udroll run plan.json --spec {spec}{fleet} --journal {journal}
```

Rehearse it first against the built-in emulator, in compressed time (nothing in Azure is touched):

```sh
udroll run {spec} --simulate --yes
```

## Operating the run

From another terminal, against the same journal directory:

| To | Command | What it does |
|---|---|---|
| See progress | `udroll status --journal {journal}` | steps done, running and waiting; failures by VM |
| Pause | `udroll pause --journal {journal}` | no new step starts; running steps finish and are recorded |
| Resume | `udroll resume --journal {journal}` | continues a paused, halted or interrupted run |
| Retry failed steps | `udroll resume --journal {journal} --retry-failed` | maintained VMs are re-probed |
| Go on without a step | `udroll skip STEP --journal {journal}`, then resume | its VMs are left to Azure |
| Abort | `udroll abort --journal {journal}` | stops for good: no new triggers, in-flight VMs finish |
| Report | `udroll report --journal {journal}` | the run as it happened, step by step |

A failed step halts the run (exit code 4): no new VM is triggered and VMs already in maintenance
finish. Maintenance that has started cannot be undone; a VM whose maintenance was aborted by Azure
is rescheduled by Azure and is listed by VM in `udroll status`. A killed or crashed runner resumes
from the journal with `udroll resume` and never triggers a VM twice.
"""


def _appendix(timeline: Timeline) -> str:
    if not timeline.plan.steps:
        return ""
    lines = ["## Appendix: VMs by step\n"]
    for step in timeline.steps():
        lines.append(f"- `{_code(step.id)}`: " + ", ".join(_esc(n) for n in timeline.vm_names(step.vms)))
    return "\n".join(lines) + "\n"


# --- text --------------------------------------------------------------------------------------


def plain(text: object) -> str:
    """Plain text in Markdown: no markup, no HTML, no table breaks (also used by `udroll report`)."""
    flat = " ".join(str(text).split())
    return _PUNCTUATION.sub(r"\\\1", html.escape(flat, quote=False))


_esc = plain


def _code(text: str) -> str:
    """Text inside an inline code span: backticks and line breaks cannot appear there."""
    return " ".join(str(text).replace("`", "'").replace("|", "/").split())
