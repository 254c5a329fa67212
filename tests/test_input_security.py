"""Security around hostile input (issue 14): a private journal, credential-free continuation tokens,
escaped Markdown reports, hooks without udroll's secrets, one-pass placeholders, an exact custom role."""

from __future__ import annotations

import base64
import copy
import json
import os
import pickle
import re
import stat
import sys
from pathlib import Path

import pytest
from executor_support import harness, shop
from markdown_it import MarkdownIt

from executor.azure.tokens import check_token, require_safe_azure_core
from executor.report.text import build_report, render_markdown
from executor.run.events import JsonLinesReporter
from executor.run.gates import Target, probe
from executor.run.hooks import expand_argv, run_hook
from executor.run.scripted import VMScript
from planner.errors import AzureError, InputError
from planner.spec import CommandCheck, HttpCheck

ROOT = Path(__file__).resolve().parent.parent


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_journal_directory_and_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """With umask 000 the journal directory is 0700 and journal.db, its WAL, lock, events.jsonl 0600."""
    old = os.umask(0)
    try:
        h = harness(tmp_path)
        assert h.run().state == "completed"
        JsonLinesReporter(h.directory / "events.jsonl").close()  # the runner's trail, created if absent
    finally:
        os.umask(old)
    assert mode(h.directory) == 0o700
    names = ["journal.db", "lock", "events.jsonl"] + [
        n for n in ("journal.db-wal", "journal.db-shm") if (h.directory / n).exists()
    ]
    assert {name: mode(h.directory / name) for name in names} == dict.fromkeys(names, 0o600)


def token(state: dict) -> str:
    return base64.b64encode(json.dumps({"version": 1, "data": state}).encode()).decode()


def test_a_token_carrying_an_authorization_header_is_refused() -> None:
    """A JSON token with an Authorization header (any case, any depth) is refused with a clear message."""
    clean = {"request": {"method": "POST", "url": "https://x", "headers": {"x-ms-client-request-id": "1"}}}
    assert check_token(token(clean), "op") == token(clean)
    leaky = copy.deepcopy(clean)
    leaky["request"]["headers"]["authorization"] = "Bearer eyJ0eXAi..."
    with pytest.raises(InputError, match="carries an Authorization header"):
        check_token(token(leaky), "op")


class _Trap:
    def __reduce__(self) -> tuple:
        return (Path.touch, (Path(os.environ["UDROLL_TRAP"]),))


def test_a_pickled_token_is_refused_and_never_unpickled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old azure-core's pickle token (or a tampered journal's) is refused without being loaded."""
    trap = tmp_path / "unpickled"
    monkeypatch.setenv("UDROLL_TRAP", str(trap))
    evil = base64.b64encode(pickle.dumps(_Trap())).decode()
    with pytest.raises(InputError, match="never loads"):
        check_token(evil, "op")
    assert not trap.exists()


def test_an_azure_core_that_pickles_tokens_is_refused() -> None:
    """azure-core 1.37 (pickled tokens with the bearer token) is refused; the installed one is fine."""
    with pytest.raises(AzureError, match=r"azure-core>=1\.38"):
        require_safe_azure_core("1.37.0")
    require_safe_azure_core()
    assert re.search(r'"azure-core>=1\.38"', (ROOT / "pyproject.toml").read_text())


def test_udroll_code_never_unpickles() -> None:
    """No module of udroll imports pickle (journal content is only ever read as JSON or text)."""
    sources = [p for p in (ROOT / "executor").rglob("*.py")] + list((ROOT / "planner").rglob("*.py"))
    assert [
        p.name for p in sources if re.search(r"^\s*(import|from)\s+(c?pickle|shelve)\b", p.read_text(), re.M)
    ] == []


EVIL = "<img src=x onerror=alert(1)> | **bold** [link](javascript:alert(1)) `code` <script>x</script>"


def test_markdown_report_escapes_everything_from_the_journal(tmp_path: Path) -> None:
    """Rendered by CommonMark, a report full of hostile names and output has no HTML or links."""
    h = harness(tmp_path, scripts={"rg-shop-app/vmss-app/2": VMScript(abort=1)})
    assert h.run().state == "halted"
    report = copy.deepcopy(build_report(h.journal))
    report["name"] = report["message"] = EVIL
    report["reschedule"] = [EVIL]
    report["unschedulable"] = [{"vm": EVIL, "reason": EVIL}]
    for step in report["steps"]:
        step["error"] = EVIL
        step["hooks"] = [{"step": step["id"], "which": "after_step", "rc": 1, "output": EVIL}]
        for vm in step["vms"]:
            vm["name"] = vm["message"] = EVIL
        if step["gates"]["last"]:
            step["gates"]["last"] = {**step["gates"]["last"], "target": EVIL, "detail": EVIL}
    document = render_markdown(report)
    html = MarkdownIt("commonmark").enable("table").render(document)
    assert "<img" not in html and "<script" not in html and "<a " not in html
    assert "<strong>bold</strong>" not in html and "<code>code</code>" not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 8
    vm_rows = [line for line in document.splitlines() if line.startswith("| ") and "onerror" in line]
    assert vm_rows and all(line.count(" | ") == 5 for line in vm_rows)  # pipes cannot add cells


def test_hooks_get_a_minimal_environment_plus_what_the_spec_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hook sees PATH, UDROLL_* and the spec's env: names, never AZURE_CLIENT_SECRET."""
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("KUBECONFIG", "/etc/kube")
    script = tmp_path / "env.py"
    script.write_text("import os\nprint(sorted(k for k in os.environ if not k.startswith('LC_')))\n")
    argv = json.dumps([sys.executable, str(script)])
    loaded = shop(
        **{
            "  max_unavailable: 1\n": f"  max_unavailable: 1\n  hooks: {{before_step: {argv}, env: [KUBECONFIG]}}\n"
        }
    )
    h = harness(tmp_path, loaded)
    assert h.run().state == "completed"
    seen = set(json.loads(h.journal.hooks("db/as-db/ud2")[0]["output"].replace("'", '"')))
    assert "AZURE_CLIENT_SECRET" not in seen
    assert {"KUBECONFIG", "PATH", "UDROLL_STEP", "UDROLL_VMS", "UDROLL_JOURNAL"} <= seen
    assert seen <= {"PATH", "HOME", "LANG", "TMPDIR", "KUBECONFIG"} | {
        k for k in seen if k.startswith("UDROLL_")
    }


def test_command_checks_get_a_minimal_environment_plus_their_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command check passes only if the secret is absent and its env: name is present."""
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("VAULT_ADDR", "https://vault")
    code = "import os, sys; sys.exit('AZURE_CLIENT_SECRET' in os.environ or 'VAULT_ADDR' not in os.environ)"
    check = CommandCheck(command=(sys.executable, "-c", code), env=("VAULT_ADDR",))
    assert probe(check, Target("web-1", "rg")).ok
    assert not probe(CommandCheck(command=(sys.executable, "-c", code)), Target("web-1", "rg")).ok


def test_placeholders_expand_in_one_pass() -> None:
    """A VM name containing {step} is inserted as it is, not expanded again."""
    argv = expand_argv(["drain", "--vm={vms}", "{step}"], {"step": "db/ud1", "tier": "db"}, ["a{step}", "b"])
    assert argv == ["drain", "--vm=a{step},b", "db/ud1"]


def test_a_value_that_would_become_an_option_never_reaches_a_hook(tmp_path: Path) -> None:
    """A VM named `-rf` for "{vms}" refuses the hook (it does not run) with a clear message."""
    marker = tmp_path / "ran"
    argv = (sys.executable, "-c", f"open({str(marker)!r}, 'w')", "{vms}")
    result = run_hook(argv, "s", "t", "before_step", ["-rf"], ["id"], ["rg"], str(tmp_path))
    assert not result.ok and "which a command would take for an option" in result.describe()
    assert not marker.exists()
    allowed = run_hook(argv[:3] + ("--vm={vms}",), "s", "t", "before_step", ["-rf"], ["id"], ["rg"], "j")
    assert allowed.ok and marker.exists()  # the spec's own option prefix is fine


def test_values_inside_an_http_url_are_percent_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A VM name with / ? # @ cannot change an http check's host or path: it is percent-encoded."""
    seen: list[str] = []
    monkeypatch.setattr("executor.run.gates.probe_http", lambda check, url: seen.append(url))
    probe(HttpCheck(http="https://{name}.shop/{resource_group}/health"), Target("a/b?c#d@e", "rg 1"))
    assert seen == ["https://a%2Fb%3Fc%23d%40e.shop/rg%201/health"]


def test_the_documented_role_lists_exactly_the_actions_udroll_calls() -> None:
    """README's custom role = the actions named by executor/azure's calls, and says which scope -g needs."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"### Permissions: a custom role.*?```json\n(.*?)```", readme, re.S)
    assert block is not None
    documented = set(json.loads(block.group(1))["Actions"])
    errors = (ROOT / "executor" / "azure" / "errors.py").read_text()
    constants = dict(re.findall(r'^([A-Z_]+) = \(?\s*"(Microsoft\.Compute/[^"]+)"', errors, re.M))
    # permissions.py lists them all for `udroll check`: the calls are what proves each one is needed
    skip = ("errors.py", "permissions.py")
    code = "".join(p.read_text() for p in (ROOT / "executor" / "azure").glob("*.py") if p.name not in skip)
    used = {action for name, action in constants.items() if re.search(rf"\b{name}\b", code)}
    assert documented == used
    from executor.azure.permissions import ROLE_ACTIONS

    assert set(ROLE_ACTIONS) == documented  # what `udroll check` verifies is the documented role
    assert "Without `-g`" in readme and "subscription" in readme


def test_tightening_a_journal_whose_files_vanish_is_not_an_error(tmp_path: Path) -> None:
    """SQLite removes journal.db-shm/-wal when its last connection closes, possibly while another
    process opens the journal: a file that is gone needs no tightening, and no traceback follows."""
    from executor.run.private import _chmod, tighten

    tmp_path.chmod(0o755)
    tighten(tmp_path, ("journal.db", "journal.db-shm", "journal.db-wal"))  # none of them exist
    _chmod(tmp_path / "vanished-between-look-and-chmod", 0o600)
    assert tmp_path.stat().st_mode & 0o777 == 0o700
