"""Health gates: http/tcp/command probes against local servers, placeholders, and the gate's clock logic."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from executor.run.gates import HealthGate, Probe, Target, close_connections, probe, probe_all
from executor.run.hooks import expand_argv, run_hook
from planner.spec import CommandCheck, HealthSettings, HttpCheck, TcpCheck

T0 = dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.timezone.utc)
TARGET = Target("web-1", "rg-web", ("web-1", "web-4"))


class _Handler(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, tuple[int, bytes]]] = {
        "/ok": (200, b'{"status": "ok"}'),
        "/degraded": (200, b'{"status": "degraded"}'),
        "/down": (503, b"rebooting"),
    }

    def do_GET(self) -> None:
        status, body = self.answers.get(self.path.split("?")[0], (404, b"no"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    close_connections()
    httpd.shutdown()
    httpd.server_close()


def http_check(url: str, **extra: object) -> HttpCheck:
    return HttpCheck.model_validate({"http": url, **extra})


def test_http_probe_checks_status_and_body(server: str) -> None:
    """An http check passes on a listed status whose body matches, and says why it fails otherwise."""
    body = r'"status":\s*"ok"'
    assert probe(http_check(f"{server}/ok", body=body), TARGET).ok
    degraded = probe(http_check(f"{server}/degraded", body=body), TARGET)
    assert not degraded.ok and "does not match" in degraded.detail
    down = probe(http_check(f"{server}/down"), TARGET)
    assert not down.ok and "status 503, expected [200]" in down.detail
    assert probe(http_check(f"{server}/down", status=[503]), TARGET).ok


def test_http_probe_substitutes_placeholders_and_reports_no_answer() -> None:
    """{name} lands in the URL; a closed port is a failed probe with the reason, not an exception."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = probe(http_check(f"http://127.0.0.1:{port}/{{name}}/health", probe_timeout="2s"), TARGET)
    assert result.target == f"http://127.0.0.1:{port}/web-1/health"
    assert not result.ok and "no answer" in result.detail


def test_https_is_verified_by_default(tmp_path: Path) -> None:
    """TLS is verified unless verify: false: a self-signed server fails, then passes with its CA bundle."""
    import ssl

    import trustme

    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{httpd.server_address[1]}/ok"
        assert not probe(http_check(url, probe_timeout="5s"), TARGET).ok
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        assert probe(http_check(url, ca_bundle=str(bundle)), TARGET).ok
        assert probe(http_check(url, verify=False), TARGET).ok
    finally:
        close_connections()
        httpd.shutdown()
        httpd.server_close()


def test_tcp_probe(server: str) -> None:
    """A tcp check passes when the port accepts a connection."""
    port = server.rsplit(":", 1)[1]
    assert probe(TcpCheck(tcp=f"127.0.0.1:{port}"), TARGET).ok
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert not probe(TcpCheck(tcp=f"127.0.0.1:{closed}"), TARGET).ok


def test_command_probe_gets_each_placeholder_as_one_argument(tmp_path: Path) -> None:
    """Placeholders are substituted per argument, never through a shell; {vms} alone expands to many."""
    out = tmp_path / "argv.txt"
    script = f"import sys, pathlib; pathlib.Path({str(out)!r}).write_text('|'.join(sys.argv[1:]))"
    check = CommandCheck(
        command=(sys.executable, "-c", script, "{name}", "{resource_group}", "{vms}", "x{vms}")
    )
    assert probe(check, TARGET).ok
    assert out.read_text() == "web-1|rg-web|web-1|web-4|xweb-1,web-4"
    evil = Target("a; rm -rf /", "rg", ())
    assert expand_argv(["echo", "{name}"], evil.values(), ()) == ["echo", "a; rm -rf /"]
    failing = probe(CommandCheck(command=(sys.executable, "-c", "import sys; sys.exit(1)")), TARGET)
    assert not failing.ok and "exited 1" in failing.detail


def test_probe_all_runs_every_check_of_every_vm(server: str) -> None:
    """probe_all returns one probe per check per VM, in the checks' order."""
    work = {"a": (TARGET, (http_check(f"{server}/ok"), http_check(f"{server}/down"))), "b": (TARGET, ())}
    results = probe_all(work)
    assert [p.ok for p in results["a"]] == [True, False] and results["b"] == []


def test_hooks_get_the_step_in_their_environment() -> None:
    """A hook sees UDROLL_STEP, UDROLL_TIER and UDROLL_VMS; its output comes back."""
    argv = (sys.executable, "-c", "import os; print(os.environ['UDROLL_STEP'], os.environ['UDROLL_VMS'])")
    result = run_hook(
        argv,
        "web/zonal/zone1",
        "web",
        "before_step",
        ["web-1", "web-4"],
        ["/id/1", "/id/4"],
        ["rg-web"],
        "/tmp/j",
    )
    assert result.ok and result.output.strip() == "web/zonal/zone1 web-1 web-4"
    missing = run_hook(("/nonexistent/drain",), "s", "t", "before_step", [], [], [], "/tmp/j")
    assert not missing.ok and "command not found" in missing.describe()


SETTINGS = HealthSettings(wait=60, timeout=600, healthy_for=120, interval=15, checks=())
OK, BAD = [Probe("http", "u", True, "200")], [Probe("http", "u", False, "503")]


def test_gate_waits_then_needs_a_continuous_healthy_streak() -> None:
    """No probe before wait; healthy exactly healthy_for after the first passing probe."""
    gate = HealthGate(SETTINGS, T0)
    assert gate.next_probe == T0 + dt.timedelta(seconds=60)
    now = gate.next_probe
    verdicts = []
    while True:
        verdict = gate.observe(now, OK)
        verdicts.append(verdict)
        if verdict != "waiting":
            break
        now = gate.next_probe
    assert verdict == "healthy" and now == T0 + dt.timedelta(seconds=180)


def test_gate_restarts_the_streak_on_a_failure_and_fails_at_the_timeout() -> None:
    """A flapping VM never completes its streak: the gate fails at the timeout and counts the flaps."""
    gate = HealthGate(SETTINGS, T0)
    now, flip, verdict = gate.next_probe, 0, "waiting"
    while verdict == "waiting":
        flip += 1
        verdict = gate.observe(now, OK if (flip // 4) % 2 == 0 else BAD)
        now = gate.next_probe
    assert verdict == "failed"
    assert gate.flaps > 0 and "did not stay healthy" in gate.why_failed()
    never, verdict = HealthGate(SETTINGS, T0), "waiting"
    while verdict == "waiting":  # probed on time: the timeout is up at T0 + 600 s
        now = never.next_probe
        verdict = never.observe(now, BAD)
    assert verdict == "failed" and now == T0 + dt.timedelta(seconds=600)
    assert "never became healthy" in never.why_failed()
