"""What `udroll run/status/abort` tell people: hints that work, short gate messages, early input errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from executor_support import E2E_SPEC, SHOP, SHOP_START, fakes, harness, invoke

from executor.cli.run import _finish
from executor.report.text import RENDERERS as REPORTS
from executor.report.text import build_report
from executor.run.gates import Target, probe, shown_url
from executor.run.journal import Journal
from executor.run.runner import RunOutcome
from executor.run.scripted import VMScript
from planner.errors import Interrupted, RunHalted
from planner.spec import HttpCheck

START = SHOP_START


def test_a_halted_simulation_suggests_running_it_again_not_resume(tmp_path: Path) -> None:
    """A halted `run --simulate` (exit 4) says it cannot be resumed instead of suggesting `udroll resume`;
    neither its events nor its status name `udroll resume` or `udroll skip`."""
    spec = tmp_path / "e2e.yaml"
    spec.write_text(E2E_SPEC)
    faults = tmp_path / "faults.yaml"
    faults.write_text("version: 1\nvms: {rg-db/db-0: {abort: 1}}\n")
    args = ["run", str(spec), "--simulate", "--speed", "20000", "--faults", str(faults), "--yes"]
    code, out = invoke([*args, "--journal", str(tmp_path / "j")], {"tty": False, "live": False})
    assert code == 4, out
    final = out.strip().splitlines()[-1]
    assert "cannot be resumed" in final and "udroll resume" not in final, final
    journal = next(p.parent for p in (tmp_path / "j").rglob("events.jsonl"))
    events = (journal / "events.jsonl").read_text()
    assert "run-halted" in events and "udroll resume" not in events and "udroll skip" not in events
    code, status = invoke(["status", "--journal", str(journal)])
    assert "udroll resume" not in status and "cannot be resumed" in status


def test_a_paused_simulation_does_not_suggest_resume(tmp_path: Path) -> None:
    """Ctrl-C of a simulation (exit 130) names the re-run and the emulator route; real runs keep resume."""
    journal = Journal.create(tmp_path / "j", {"simulated": "1"}, [])
    outcome = RunOutcome("paused", "paused by Ctrl-C; continue with `udroll resume`")
    with pytest.raises(Interrupted) as simulated:
        _finish(outcome, journal, simulated=True)
    assert "cannot be resumed" in str(simulated.value) and "udroll resume" not in str(simulated.value)
    assert "udroll emulator serve" in str(simulated.value)
    with pytest.raises(Interrupted) as real:
        _finish(outcome, journal)
    assert f"udroll resume --journal {journal.dir}" in str(real.value)
    with pytest.raises(RunHalted) as halted:
        _finish(RunOutcome("halted", "1 step failed; fix the cause, then `udroll resume`"), journal, True)
    assert "udroll resume" not in str(halted.value)
    journal.close()


def test_a_bad_faults_file_is_refused_before_any_preview_or_journal(tmp_path: Path) -> None:
    """`run --simulate --faults BAD` exits 2 with the located problem, printing no plan, creating no journal."""
    faults = tmp_path / "bad.yaml"
    faults.write_text("version: 1\nvms: {rg-db/db-0: {abortt: 1}}\n")
    directory = tmp_path / "j"
    code, out = invoke(
        ["run", str(SHOP), "--simulate", "--faults", str(faults), "--yes", "--journal", str(directory)],
        {"tty": False, "live": False},
    )
    assert code == 2, out
    assert "bad.yaml" in out and "db/as-db" not in out and "Simulating" not in out
    assert not Journal.exists(directory)


def test_status_of_a_halted_run_shows_real_states_and_no_countdown(tmp_path: Path) -> None:
    """Status of a halted run: predecessors in their real state, no next-step countdown, a hint to go on."""
    obj = fakes({"rg-shop-db/db-1": VMScript(abort=1)})
    journal = str(tmp_path / "j")
    code, out = invoke(["run", str(SHOP), "--yes", "--journal", journal], obj)
    assert code == 4, out
    code, out = invoke(["status", "--journal", journal], obj)
    assert code == 0, out
    assert "(running)" not in out and "next step:" not in out, out
    assert "db/as-db/ud1 (failed)" in out, out
    assert f"halted: resume with udroll resume --journal {journal} --retry-failed" in out


def test_the_halt_hint_names_the_journal(tmp_path: Path) -> None:
    """The halt message's resume and skip hints carry --journal DIR."""
    obj = fakes({"rg-shop-db/db-1": VMScript(abort=1)})
    journal = str(tmp_path / "j")
    code, out = invoke(["run", str(SHOP), "--yes", "--journal", journal], obj)
    assert code == 4
    assert f"udroll resume --journal {journal} --retry-failed" in out
    assert f"udroll skip STEP --journal {journal}" in out


def test_abort_of_a_finished_run_has_nothing_to_abort(tmp_path: Path) -> None:
    """`udroll abort` on a completed or aborted run says there is nothing to abort and writes nothing."""
    obj = fakes()
    journal = str(tmp_path / "j")
    assert invoke(["run", str(SHOP), "--yes", "--journal", journal], obj)[0] == 0
    code, out = invoke(["abort", "--journal", journal], obj)
    assert code == 0 and "already completed" in out and "nothing to abort" in out
    opened = Journal.open(journal)
    assert opened.run_state == "completed"
    opened.set_run_state("aborted", START, "aborted")
    opened.close()
    code, out = invoke(["abort", "--journal", journal], obj)
    assert code == 0 and "was already aborted" in out


def test_long_health_urls_are_shortened_and_the_vm_is_named(tmp_path: Path) -> None:
    """A ~200-char health URL shows as host+path of at most 60 chars; a failed gate names its VM."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"https://127.0.0.1:{port}/_health/" + "A" * 200
    assert len(shown_url(url)) <= 60 and "…" in shown_url(url) and "https://" not in shown_url(url)
    check = HttpCheck.model_validate({"http": url, "status": [200], "probe_timeout": "2s"})
    result = probe(check, Target("web-1", "rg-web"))
    assert not result.ok and len(result.target) <= 60
    h = harness(tmp_path, scripts={"rg-shop-db/db-1": VMScript(health="never")})
    h.run()
    failed = [v for v in h.journal.vms() if v.state == "failed"]
    assert failed and failed[0].message.startswith("db-1: ")
    markdown = REPORTS["markdown"](build_report(h.journal), None)
    assert any(line.startswith("  - failed ") and " db-1 " in line for line in markdown.splitlines())
