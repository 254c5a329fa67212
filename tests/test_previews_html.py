"""The HTML timeline (`udroll plan -o html`): self-contained, escaped, deterministic, and drawn by a
real headless Chromium without a console error or a single network request."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chromium import Browser, PageReport, assert_clean, colour_census, require_chromium
from previews_support import (
    EXAMPLES,
    HOSTILE,
    big_preview,
    empty_preview,
    example_preview,
    hostile_preview,
    risky_preview,
    standalone_preview,
)

from planner.render import RENDERERS
from planner.render.html import render
from planner.render.preview import Preview

MAX_BYTES = 5 * 1024 * 1024
_EXTERNAL = re.compile(
    r"""(?:src|href|xlink:href|action)\s*=\s*["']?\s*(?:https?:|//|ftp:)|@import|url\(\s*["']?(?:https?:|//)""",
    re.I,
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with Browser(1280, 900) as b:
        yield b


def open_page(browser: Browser, preview: Preview, tmp_path: Path, name: str = "plan.html") -> PageReport:
    path = tmp_path / name
    path.write_text(render(preview), encoding="utf-8")
    return browser.open(path)


def dom_step_ids(browser: Browser, selector: str) -> set[str]:
    found = browser.evaluate(f"[...document.querySelectorAll({selector!r})].map(e => e.dataset.step)")
    return set(found)


def assert_drawn(browser: Browser) -> None:
    colours, ink = colour_census(browser.screenshot())
    assert colours >= 8, f"only {colours} colours: the page looks blank"
    assert ink >= 0.03, f"only {ink:.1%} of the pixels are not white"


# --- in the browser --------------------------------------------------------------------------------


def test_the_browser_check_sees_requests_and_errors(tmp_path: Path) -> None:
    """The checks below are not vacuous: a fetched image, a console error and an exception are caught."""
    require_chromium()
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><img src="https://example.invalid/x.png">'
        '<script>console.error("boom"); null.x;</script>',
        encoding="utf-8",
    )
    with Browser() as own:  # its own browser: late events of this page reach no other test
        report = own.open(page)
    assert report.foreign_requests == ["https://example.invalid/x.png"]
    assert "boom" in report.errors and any("TypeError" in e for e in report.errors)


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_renders_offline_without_errors(browser: Browser, spec: Path, tmp_path: Path) -> None:
    """Every bundled example opens in Chromium with no request, no error, every step drawn and listed."""
    preview = example_preview(spec)
    report = open_page(browser, preview, tmp_path)
    assert_clean(report)
    steps = {s.id for s in preview.plan.steps}
    assert dom_step_ids(browser, "#timeline [data-step]") == steps
    assert dom_step_ids(browser, "table.steps tr[data-step]") == steps
    assert_drawn(browser)


def test_hostile_names_stay_text_in_the_browser(browser: Browser, tmp_path: Path) -> None:
    """A VM name carrying markup is shown as text: no <img> is created and nothing is fetched."""
    report = open_page(browser, hostile_preview(), tmp_path)
    assert_clean(report)
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    assert browser.evaluate(f"document.body.textContent.includes({HOSTILE!r})")


def test_risky_plan_shows_its_unschedulable_vms(browser: Browser, tmp_path: Path) -> None:
    """Unschedulable VMs and warnings are on the page, with a clean console."""
    preview = risky_preview()
    assert preview.plan.unschedulable and preview.plan.warnings
    assert_clean(open_page(browser, preview, tmp_path))
    rows = browser.evaluate("document.querySelectorAll('#unschedulable + table tbody tr').length")
    assert rows == len(preview.plan.unschedulable)
    assert browser.evaluate("document.querySelector('.warnings').textContent").count("temp-disk") == 1


def test_a_plan_without_steps_renders_cleanly(browser: Browser, tmp_path: Path) -> None:
    """Nothing to do is still a page: the skipped VMs are listed and the script does not trip."""
    preview = empty_preview()
    assert not preview.plan.steps and preview.plan.skipped
    assert_clean(open_page(browser, preview, tmp_path))
    rows = browser.evaluate("document.querySelectorAll('#skipped + table tbody tr').length")
    assert rows == len(preview.plan.skipped)


@pytest.mark.slow
def test_ten_thousand_vms_render_collapsed_and_expand(browser: Browser, tmp_path: Path) -> None:
    """The 10,000-VM plan in Chromium: clean, tiers start collapsed, expand, zoom and toggles work."""
    preview = big_preview()
    assert len(preview.fleet.vms) == 10_000
    report = open_page(browser, preview, tmp_path, "big.html")
    assert_clean(report)
    steps = {s.id for s in preview.plan.steps}
    assert dom_step_ids(browser, "#timeline [data-step]") == steps
    assert dom_step_ids(browser, "table.steps tr[data-step]") == steps
    assert_drawn(browser)

    collapsed_h = browser.evaluate("+document.getElementById('timeline').getAttribute('height')")
    assert browser.evaluate("document.querySelectorAll('#timeline g.tier.collapsed').length") >= 1
    browser.evaluate("document.querySelector('[data-lanes=expand]').click()")
    expanded_h = browser.evaluate("+document.getElementById('timeline').getAttribute('height')")
    assert browser.evaluate("document.querySelectorAll('#timeline g.tier.collapsed').length") == 0
    assert expanded_h > collapsed_h
    lanes = sum(len({s.group for s in preview.plan.steps if s.tier == t.name}) for t in preview.spec.tiers)
    assert browser.evaluate("document.querySelectorAll('#labels g.lane').length") == lanes

    width = browser.evaluate("+document.getElementById('timeline').getAttribute('width')")
    browser.evaluate("document.querySelector('[data-zoom=in]').click()")
    assert browser.evaluate("+document.getElementById('timeline').getAttribute('width')") > width
    browser.evaluate(
        "document.querySelector('.toggle').dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )
    assert browser.evaluate("document.querySelectorAll('#timeline g.tier.collapsed').length") == 1
    assert_clean(browser.report(report.url))  # no error from the interactions either


@pytest.mark.slow
def test_ten_thousand_one_vm_groups_in_the_browser(browser: Browser, tmp_path: Path) -> None:
    """10,000 lanes of one step each: the script places every bar (the page leaves that to it) cleanly."""
    preview = standalone_preview()
    assert len(preview.plan.steps) == 10_000
    report = open_page(browser, preview, tmp_path, "standalone.html")
    assert_clean(report)
    assert dom_step_ids(browser, "#timeline [data-step]") == {s.id for s in preview.plan.steps}
    unplaced = browser.evaluate(
        "[...document.querySelectorAll('#timeline g[data-g] > rect')].filter(r => !r.getAttribute('x')).length"
    )
    assert unplaced == 0
    assert_drawn(browser)


# --- the document ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("make", [big_preview, standalone_preview], ids=["mixed", "one-vm-groups"])
def test_ten_thousand_vms_stay_under_five_megabytes(make: Callable[[], Preview]) -> None:
    """10,000 VMs, as a realistic mix or as 10,000 one-VM groups, make a page under 5 MB."""
    preview = make()
    assert len(preview.fleet.vms) == 10_000
    assert len(render(preview).encode()) < MAX_BYTES


def test_registered_for_plan_output() -> None:
    """`udroll plan -o html|markdown|mermaid` find their renderers in the registry."""
    assert RENDERERS["html"] is render
    assert {"markdown", "mermaid"} <= set(RENDERERS)


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_self_contained_and_deterministic(spec: Path) -> None:
    """No external reference of any kind, and the same plan gives the same bytes."""
    preview = example_preview(spec)
    document = render(preview)
    assert _EXTERNAL.search(document) is None
    assert "<script src" not in document and '<link rel="stylesheet"' not in document
    assert render(example_preview.__wrapped__(spec)) == document  # planned again, rendered again


def test_hostile_text_is_escaped() -> None:
    """Markup in a VM name never reaches the document unescaped."""
    document = render(hostile_preview())
    assert HOSTILE not in document
    assert "<img" not in document
    assert "&lt;img src=https://example.invalid/x.png" in document


def test_header_figures() -> None:
    """The header states makespan, lower bound, slack, skipped and unschedulable counts."""
    preview = example_preview(Path(EXAMPLES[0]).parent / "three-tier-shop.yaml")
    document = render(preview)
    for label in ("Makespan", "Lower bound", "Slack to the earliest deadline", "Skipped", "Unschedulable"):
        assert f"<dt>{label}</dt>" in document
    assert "<dt>Skipped</dt><dd>2</dd>" in document
