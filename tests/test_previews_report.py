"""The run report as HTML (executor.report.html over executor.report.text.build_report): planned vs
actual, failures by VM and gate evidence, from a real journal of a scripted run, drawn by Chromium."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import WIDTHS, Browser, Browsers, assert_clean, assert_fits, colour_census, require_chromium
from executor_support import E2E_SPEC, harness

from executor import rollout
from executor.emulator.faults import parse_faults
from executor.report.html import render_html
from executor.report.text import build_report
from executor.run.events import Event
from executor.run.journal import Journal
from executor.run.scripted import VMScript
from planner.load import parse_spec

APP2 = "rg-shop-app/vmss-app/2"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with Browser(1280, 900) as b:
        yield b


@pytest.fixture(scope="module")
def browsers() -> Iterator[Browsers]:
    require_chromium()
    with Browsers() as b:
        yield b


@pytest.fixture(scope="module")
def simulated_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A simulated run (the SDK against the emulator over HTTPS, so its probes are the emulator's health
    URLs) where Azure aborts db-1's maintenance: db-0 done, db-1 failed, the web steps never start."""
    journal = tmp_path_factory.mktemp("simulated") / "j"
    faults = parse_faults("version: 1\nvms:\n  rg-db/db-1: {abort: 1}\n", "faults.yaml")
    outcome = rollout.simulate(
        parse_spec(E2E_SPEC, "e2e.yaml"), journal_dir=str(journal), speed=3000, faults=faults
    )
    assert outcome.state == "halted", outcome
    return build_report(Journal.open(journal))


def aborted_report(tmp_path: Path) -> dict[str, Any]:
    """A run of the shop aborted from another terminal as its first VM is triggered."""
    h = harness(tmp_path)
    other = Journal.open(h.directory)

    def abort(event: Event) -> None:
        if event.kind == "vm-triggered":
            other.request("abort", None, event.at)

    h.reporter.on_event = abort
    assert h.run().state == "aborted"
    return build_report(h.journal)


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
    failed["gates"] = {"probes": 1, "passed": 0, "last": None, "last_failures": []}
    failed["gates"]["last"] = {
        "at": None,
        "vm": None,
        "kind": evil,
        "target": evil,
        "ok": False,
        "detail": evil,
    }
    failed["gates"]["last_failures"] = [failed["gates"]["last"]]
    report["message"] = f"`{evil}` {evil}"
    document = render_html(report)
    assert evil not in document and "<img" not in document
    assert document.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8


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


def texts(browser: Browser, selector: str) -> list[str]:
    return browser.evaluate(f"[...document.querySelectorAll({selector!r})].map(e => e.textContent)")  # type: ignore[no-any-return]


@pytest.mark.e2e
@pytest.mark.parametrize("width", WIDTHS)
def test_simulated_run_report_at_1400_and_800_px(
    browsers: Browsers, simulated_report: dict[str, Any], width: int, tmp_path: Path
) -> None:
    """The report of a halted simulation: gate evidence names VMs (the health URL only as a tooltip), the
    steps that never ran say "not started", the page never scrolls sideways; a screenshot is kept."""
    report = simulated_report
    urls = [s["gates"]["last"]["target"] for s in report["steps"] if s["gates"]["last"]]
    assert urls and all("/_health/" in u for u in urls)  # what the page must not show as text
    browser = browsers.at(width)
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    assert_clean(browser.open(path))
    assert_fits(browser.layout(), f"the run report at {width} px")
    gates = browser.evaluate("document.querySelector('#gates + table').innerText")
    assert "_health" not in gates and "db-0: status 200" in gates and "db-1: status 200" in gates
    titles = browser.evaluate("[...document.querySelectorAll('#gates + table .probe')].map(e => e.title)")
    assert titles and all("/_health/" in t for t in titles)
    states = dict(
        browser.evaluate(
            "[...document.querySelectorAll('table.steps tr[data-step]')].map(r => [r.dataset.step, "
            "r.querySelector('.state').textContent + '|' + (r.querySelector('.state').title || '')])"
        )
    )
    assert states["db/as-db/ud0"] == "done|" and states["db/as-db/ud1"] == "failed|"
    web = [v for k, v in states.items() if k.startswith("web/")]
    assert web and all(v == "not started|not started (run halted)" for v in web)
    browser.keep_screenshot(f"report-halted-simulation-{width}")


def test_steps_left_after_an_abort_are_not_started(browser: Browser, tmp_path: Path) -> None:
    """After an abort, the steps that never ran say "not started (run aborted)", in the header, the
    step table and the timeline, and nothing says "waiting"."""
    report = aborted_report(tmp_path)
    left = [s["id"] for s in report["steps"] if s["state"] == "waiting"]
    assert len(left) == len(report["steps"]) - 1
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    assert_clean(browser.open(path))
    steps = browser.evaluate(
        "[...document.querySelectorAll('dt')].find(d => d.textContent == 'Steps').nextSibling.textContent"
    )
    assert steps == f"1 done, {len(left)} not started (run aborted)"
    cells = browser.evaluate(
        "[...document.querySelectorAll('table.steps td.state.not-started')].map(e => e.title)"
    )
    assert cells == ["not started (run aborted)"] * len(left)
    bars = browser.evaluate(
        "[...document.querySelectorAll('#timeline .step.not-started')].map(e => e.dataset.step)"
    )
    assert bars == left
    assert "waiting" not in browser.evaluate("document.body.innerText")


def test_a_paused_run_still_shows_waiting_steps(tmp_path: Path) -> None:
    """Only a run that halted or was aborted has steps that will not start: a paused run's wait."""
    report = copy.deepcopy(aborted_report(tmp_path))
    report["state"] = "paused"
    document = render_html(report)
    assert "not started" not in document and '<td class="state waiting">waiting</td>' in document


def test_banner_backticks_become_code(tmp_path: Path) -> None:
    """The run's message shows its `commands` as code, escaped; the backticks themselves are gone."""
    report = copy.deepcopy(halted_report(tmp_path))
    report["message"] = "halted; then `udroll resume --journal <j>` or `udroll skip STEP`"
    document = render_html(report)
    banner = document.split('<p class="alert bad">', 1)[1].split("</p>", 1)[0]
    assert banner == (
        "halted; then <code>udroll resume --journal &lt;j&gt;</code> or <code>udroll skip STEP</code>"
    )
