"""The change-ticket Markdown (`udroll plan -o markdown`): every step, the risks, how to operate the
run, the exact commands, and text from the fleet that cannot break a table or inject markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from previews_support import EXAMPLES, HOSTILE, empty_preview, example_preview, hostile_preview, risky_preview
from test_previews_mermaid import check_chart

from planner.render import markdown
from planner.render.preview import Preview


def section(document: str, title: str) -> str:
    """The text of one `## title` section."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", document, re.M | re.S)
    assert match, f"no section {title!r}"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Cells of the Markdown table rows in ``text``, split on unescaped pipes."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-:| ]+\|$", line):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_step_and_vm_is_in_the_ticket(spec: Path) -> None:
    """The step table has one row per step, in order, and the appendix names every planned VM."""
    preview = example_preview(spec)
    document = markdown.render(preview)
    rows = table_rows(section(document, "Steps"))[1:]  # without the header
    assert len(rows) == len(preview.plan.steps)
    assert {r[1].split("`")[1] for r in rows} == {s.id for s in preview.plan.steps}
    appendix = section(document, "Appendix: VMs by step")
    for step in preview.plan.steps:
        for vm in step.vms:
            assert preview.vm_name(vm) in appendix


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_operating_commands_and_exact_run_commands(spec: Path) -> None:
    """Pause, abort, resume and status are given against one journal, and the run commands are exact."""
    preview = example_preview(spec)
    document = markdown.render(preview)
    journal = f".udroll/{preview.plan.name}"
    for verb in ("status", "pause", "resume", "abort"):
        assert f"`udroll {verb} --journal {journal}`" in document
    commands = section(document, "Commands")
    start = preview.plan.start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"udroll plan {preview.plan.name}.yaml --start {start} -o json --out plan.json" in commands
    assert f"udroll run plan.json --spec {preview.plan.name}.yaml --journal {journal}" in commands
    assert preview.plan.fingerprint in commands


def test_summary_figures() -> None:
    """The summary table gives the makespan, lower bound, counts and the deadline slack."""
    preview = example_preview(Path(EXAMPLES[0]).parent / "three-tier-shop.yaml")
    summary = dict((r[0], r[1]) for r in table_rows(section(markdown.render(preview), "Summary")))
    assert summary["Steps"] == "10"
    assert summary["Skipped (nothing to do)"] == "2"
    assert summary["Unschedulable"] == "0"
    assert summary["Tier order"] == "db → app → web"
    assert summary["Makespan"].endswith(")") and "lower bound" in summary["Makespan"]


def test_risks_list_warnings_and_unschedulable_vms() -> None:
    """Lint warnings and every unschedulable VM with its reason are under Risks."""
    preview = risky_preview()
    risks = section(markdown.render(preview), "Risks")
    for warning in preview.plan.warnings:
        assert f"**{warning.code}**" in risks
    for u in preview.plan.unschedulable:
        if preview.vm_name(u.vm) != HOSTILE:
            assert f"{preview.vm_name(u.vm)}:" in risks
    count = len(preview.plan.unschedulable)
    assert f"{count} VM{'s' if count != 1 else ''} cannot be maintained" in risks


def test_hostile_text_cannot_break_tables_or_inject_html() -> None:
    """A VM name with pipes, markup and backticks stays inside its cell as plain text."""
    preview: Preview = hostile_preview()
    document = markdown.render(preview)
    assert HOSTILE not in document
    assert "<img" not in document
    rows = table_rows(section(document, "Steps"))
    assert len({len(r) for r in rows}) == 1, "a row has more cells than the header"
    assert "&lt;img" in section(document, "Steps")


def test_embedded_gantt_parses() -> None:
    """The ticket's mermaid block is the same valid gantt as `-o mermaid`."""
    preview = example_preview(Path(EXAMPLES[0]).parent / "three-tier-shop.yaml")
    block = re.search(r"```mermaid\n(.*?)```", markdown.render(preview), re.S)
    assert block
    check_chart(preview, block.group(1))


def test_a_plan_without_steps_says_so() -> None:
    """With nothing to do the ticket says no VM will be triggered and lists the skipped VMs."""
    preview = empty_preview()
    document = markdown.render(preview)
    assert "nothing will be triggered" in section(document, "Steps")
    count = len(preview.plan.skipped)
    assert f"{count} selected VM{'s' if count != 1 else ''} skipped" in section(document, "Risks")
