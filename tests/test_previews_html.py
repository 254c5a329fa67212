"""The HTML timeline (`udroll plan -o html`): self-contained, escaped, deterministic, and drawn by a
real headless Chromium without a console error or a single network request."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import (
    WIDTHS,
    Browser,
    Browsers,
    PageReport,
    assert_clean,
    assert_fits,
    colour_census,
    require_chromium,
)
from hypothesis import given
from hypothesis import strategies as st
from previews_support import (
    EXAMPLES,
    HOSTILE,
    big_preview,
    empty_preview,
    example_preview,
    hostile_preview,
    risky_preview,
    standalone_preview,
    tier_deadlines_preview,
)

from planner.render import RENDERERS
from planner.render.html import render
from planner.render.html_assets import esc_code
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


@pytest.fixture(scope="module")
def browsers() -> Iterator[Browsers]:
    require_chromium()
    with Browsers() as b:
        yield b


def tier_bands(layout: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Each tier's rows, from the top of its head to the top of the next tier's (or the chart's end)."""
    tiers = layout["tiers"]
    ends = [t["head"]["top"] for t in tiers[1:]] + [layout["timeline"]["bottom"]]
    return {t["tier"]: (t["head"]["top"], end) for t, end in zip(tiers, ends, strict=True)}


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


PAGES: dict[str, Callable[[], Preview]] = {
    **{p.stem: (lambda p=p: example_preview(p)) for p in EXAMPLES},
    "tier-deadlines": tier_deadlines_preview,
}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(PAGES))
def test_fits_the_window_at_1400_and_800_px(
    browsers: Browsers, name: str, width: int, tmp_path: Path
) -> None:
    """Wide or narrow, the page never scrolls sideways (the timeline and wide tables scroll in their
    own boxes), every axis label (the last day's too) is inside the timeline; a screenshot is kept."""
    browser = browsers.at(width)
    assert_clean(open_page(browser, PAGES[name](), tmp_path))
    assert_fits(browser.layout(), f"{name} at {width} px")
    browser.keep_screenshot(f"plan-{name}-{width}")


@pytest.mark.parametrize("name", sorted(PAGES))
def test_axis_labels_stay_inside_without_the_script(browsers: Browsers, name: str, tmp_path: Path) -> None:
    """The page as drawn, before any script: the last day's label is moved in, not cut by the edge."""
    browser = browsers.at(1400)
    browser.scripts(False)
    try:
        open_page(browser, PAGES[name](), tmp_path)
        layout = browser.layout()
    finally:
        browser.scripts(True)
    svg = layout["timeline"]
    assert float(browser.evaluate("document.getElementById('timeline').getAttribute('width')")) < 1000
    cut = [lb for lb in layout["labels"] if lb["right"] > svg["right"] + 0.5]
    assert cut == [], f"labels past the timeline's right edge {svg['right']}: {cut}"


@pytest.mark.parametrize("width", WIDTHS)
def test_each_tier_draws_its_own_deadline(browsers: Browsers, width: int, tmp_path: Path) -> None:
    """db's and app's deadlines fall inside the span: each is a line in its own tier's rows only; every
    tier states its own earliest deadline and slack in its head, web's weeks away included."""
    browser = browsers.at(width)
    preview = tier_deadlines_preview()
    assert_clean(open_page(browser, preview, tmp_path))
    layout = browser.layout()
    bands = tier_bands(layout)
    tiers = {t["tier"]: t for t in layout["tiers"]}
    assert set(tiers) == {"db", "app", "web"}
    expected = {"db": "2026-11-24 05:00Z", "app": "2026-11-24 23:00Z", "web": "2026-12-24 00:00Z"}
    for name, tier in tiers.items():
        top, bottom = bands[name]
        (text,) = tier["deadline"]
        assert f"self-service ends {expected[name]}" in text["text"] and "slack" in text["text"]
        assert tier["head"]["top"] <= text["top"] and text["bottom"] <= tier["head"]["bottom"] + 1
        assert layout["timeline"]["left"] <= text["left"] and text["right"] <= layout["timeline"]["right"]
        lines = [m for m in tier["markers"] if "deadline" in m["cls"]]
        assert len(lines) == (0 if name == "web" else 1), f"{name}: {tier['markers']}"
        for line in lines:
            assert top - 0.5 <= line["top"] and line["bottom"] <= bottom + 0.5, (
                f"{name}'s line leaves its rows"
            )
    assert tiers["db"]["markers"][0]["left"] < tiers["app"]["markers"][0]["left"]  # earlier is further left
    assert layout["markers"] == 2  # and no line over every tier
    # collapsing app keeps its line in its (now one-row) band
    browser.evaluate(
        "document.querySelector('#labels .toggle[data-tier=app]').dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )
    collapsed = browser.layout()
    top, bottom = tier_bands(collapsed)["app"]
    (line,) = next(t for t in collapsed["tiers"] if t["tier"] == "app")["markers"]
    assert top - 0.5 <= line["top"] and line["bottom"] <= bottom + 0.5
    browser.keep_screenshot(f"plan-tier-deadlines-collapsed-{width}")


# --- the document ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("make", [big_preview, standalone_preview], ids=["mixed", "one-vm-groups"])
def test_ten_thousand_vms_stay_under_five_megabytes(make: Callable[[], Preview]) -> None:
    """10,000 VMs, as a realistic mix or as 10,000 one-VM groups, make a page under 5 MB."""
    preview = make()
    assert len(preview.fleet.vms) == 10_000
    assert len(render(preview).encode()) < MAX_BYTES


def test_registered_for_plan_output() -> None:
    """`udroll plan -o html|markdown|mermaid` find their renderers in the registry (imported lazily)."""
    preview = empty_preview()
    assert RENDERERS["html"](preview) == render(preview)
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


@given(st.text(alphabet=st.sampled_from("a `<>&\"'"), max_size=30))
def test_backticks_become_code_and_everything_else_stays_text(text: str) -> None:
    """esc_code: paired backticks become <code>, an unpaired one stays; no other markup ever appears."""
    out = esc_code(text)
    assert re.sub("</?code>", "", out).count("<") == 0
    pairs = text.count("`") // 2
    assert out.count("<code>") == pairs
    kept = text.count("`") - 2 * pairs
    assert html.unescape(re.sub("</?code>", "", out)).count("`") == kept
    assert html.unescape(re.sub("</?code>", "", out)).replace("`", "") == text.replace("`", "")
