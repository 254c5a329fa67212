"""The run report as HTML (executor.report.html over executor.report.text.build_report): planned vs
actual, failures by VM and gate evidence, from a real journal of a scripted run, drawn by Chromium."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import Browser, assert_clean, colour_census, require_chromium
from executor_support import harness

from executor.report.html import render_html
from executor.report.text import build_report
from executor.run.scripted import VMScript

APP2 = "rg-shop-app/vmss-app/2"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with Browser(1280, 900) as b:
        yield b


def halted_report(tmp_path: Path) -> dict[str, Any]:
    """A run of the shop where Azure aborts one app instance's maintenance: the run halts."""
    h = harness(tmp_path, scripts={APP2: VMScript(abort=1)})
    assert h.run().state == "halted"
    return build_report(h.journal)


def test_halted_run_in_the_browser(browser: Browser, tmp_path: Path) -> None:
    """Every step is drawn and listed, the failed one marked, its VM named, nothing fetched or logged."""
    report = halted_report(tmp_path)
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    assert_clean(browser.open(path))
    steps = {s["id"] for s in report["steps"]}
    assert (
        set(
            browser.evaluate(
                "[...document.querySelectorAll('#timeline [data-step]')].map(e => e.dataset.step)"
            )
        )
        == steps
    )
    assert (
        set(
            browser.evaluate(
                "[...document.querySelectorAll('table.steps [data-step]')].map(e => e.dataset.step)"
            )
        )
        == steps
    )
    failed = browser.evaluate(
        "[...document.querySelectorAll('#timeline .step.failed')].map(e => e.dataset.step)"
    )
    assert failed == ["app/vmss-app/ud0/2"]
    failures = browser.evaluate("document.querySelector('table.failures').textContent")
    assert "vmss-app/2" in failures and "MaintenanceAborted" in failures
    colours, ink = colour_census(browser.screenshot())
    assert colours >= 8 and ink >= 0.03


def test_healthy_run_is_deterministic_and_has_no_failures(tmp_path: Path) -> None:
    """A run that went to plan reports no failure, and the same journal gives the same page."""
    h = harness(tmp_path)
    assert h.run().state == "completed"
    document = render_html(build_report(h.journal))
    assert '<h2 id="failures">Failures</h2><p>None.</p>' in document
    assert render_html(build_report(h.journal)) == document


def test_journal_text_is_escaped(tmp_path: Path) -> None:
    """Hook output and error messages from the journal are text, never markup."""
    report = copy.deepcopy(halted_report(tmp_path))
    evil = "<script>alert(1)</script><img src=https://example.invalid/x>"
    failed = next(s for s in report["steps"] if s["state"] == "failed")
    failed["error"] = evil
    failed["hooks"] = [{"step": failed["id"], "which": "after_step", "rc": 1, "output": evil}]
    document = render_html(report)
    assert evil not in document and "<img" not in document
    assert document.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2


def test_a_running_step_is_drawn_open_ended(tmp_path: Path) -> None:
    """A step with a start but no end yet is drawn for its planned length, marked running."""
    report = copy.deepcopy(halted_report(tmp_path))
    step = next(s for s in report["steps"] if s["actual_end"])
    step["state"], step["actual_end"], step["end_delay_s"] = "running", None, None
    document = render_html(report)
    assert f'data-step="{step["id"]}"' in document
    assert '<rect class="actual running"' in document


def test_udroll_report_writes_the_html_report(tmp_path: Path) -> None:
    """`udroll report --journal DIR -o html --out FILE` writes the same page as the renderer."""
    from executor_support import invoke

    h = harness(tmp_path)
    assert h.run().state == "completed"
    expected = render_html(build_report(h.journal))
    out = tmp_path / "report.html"
    code, output = invoke(["report", "--journal", str(h.journal.dir), "-o", "html", "--out", str(out)])
    assert code == 0, output
    assert out.read_text(encoding="utf-8") == expected
