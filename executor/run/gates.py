"""Health gates: probes (http, tcp, command) and the clock-driven gate that judges a VM healthy.

A probe is one look and never reads the clock; :class:`HealthGate` decides from probe outcomes and
times the runner gives it: no probe before ``wait`` has passed, healthy once probes have passed
continuously for ``healthy_for``, failed when ``timeout`` (counting only time the runner could
observe: a round it starts late, being busy or stalled, moves the deadline by as much) passes first.
A failing probe restarts the streak, so a flapping VM never gets through; so does a gap without
probes longer than max(3 × interval, 60 s): unobserved time never counts.

HTTP uses the standard library (http.client, keep-alive): TLS is verified unless a check sets
``verify: false``; ``ca_bundle`` names extra trusted roots (the emulator's test CA in simulation).
"""

from __future__ import annotations

import datetime as dt
import http.client
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from executor.run.hooks import UnsafeArgument, expand_argv, expand_text, run_command
from planner.spec import CommandCheck, HealthSettings, HttpCheck, TcpCheck
from planner.timefmt import duration

Check = HttpCheck | TcpCheck | CommandCheck
BODY_LIMIT = 256 * 1024
PROBE_THREADS = 32
REAL_GAP_S = 0.5  # real seconds a probe round may take before a fast simulation counts a gap


@dataclass(frozen=True)
class Probe:
    """The outcome of one check on one VM, kept as gate evidence."""

    kind: str  # http | tcp | command
    target: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Target:
    """What placeholders in a check resolve to for one VM."""

    name: str
    resource_group: str
    step_vms: tuple[str, ...] = ()
    workdir: str | None = None  # where command checks run: the spec's directory

    def values(self) -> dict[str, str]:
        return {"name": self.name, "resource_group": self.resource_group}


class _Connections:
    """Keep-alive HTTP(S) connections and TLS contexts, reused across probes (a probe every 15 s
    should not cost a TLS handshake each time: in a fast simulation that is minutes of clock time)."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str, int, bool, str | None], list[http.client.HTTPConnection]] = {}
        self._contexts: dict[tuple[bool, str | None], ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def _context(self, verify: bool, ca_bundle: str | None) -> ssl.SSLContext:
        key = (verify, ca_bundle)
        with self._lock:
            if key not in self._contexts:
                self._contexts[key] = (
                    ssl.create_default_context(cafile=ca_bundle)
                    if verify
                    else ssl._create_unverified_context()
                )  # the operator asked for verify: false
            return self._contexts[key]

    def get(self, url: str, check: HttpCheck) -> tuple[int, bytes]:
        parts = urllib.parse.urlsplit(url)
        https = parts.scheme == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if https else 80)
        key = (parts.scheme, host, port, check.verify, check.ca_bundle)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (0, 1):
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle and attempt == 0 else None
            reused = conn is not None
            if conn is None:
                conn = (
                    http.client.HTTPSConnection(
                        host,
                        port,
                        timeout=check.probe_timeout,
                        context=self._context(check.verify, check.ca_bundle),
                    )
                    if https
                    else http.client.HTTPConnection(host, port, timeout=check.probe_timeout)
                )
            try:
                conn.timeout = check.probe_timeout
                if conn.sock is not None:
                    conn.sock.settimeout(check.probe_timeout)
                conn.request("GET", path, headers={"User-Agent": "udroll-health-gate"})
                response = conn.getresponse()
                body = response.read(BODY_LIMIT)
                if response.will_close or response.length:
                    conn.close()
                else:
                    with self._lock:
                        self._idle.setdefault(key, []).append(conn)
                return response.status, body
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if not reused:
                    raise
            except BaseException:
                conn.close()
                raise
        raise ConnectionError("connection closed")  # pragma: no cover (the loop returns or raises)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


_CONNECTIONS = _Connections()


def close_connections() -> None:
    """Close the kept-alive probe connections (a run's end; the servers may go away)."""
    _CONNECTIONS.close()


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis in the middle (long health URLs)."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2 :]


def shown_url(url: str) -> str:
    """A health URL as people read it: host and path, at most 60 characters."""
    if len(url) <= 60:
        return url
    parts = urllib.parse.urlsplit(url)
    return shorten(f"{parts.netloc}{parts.path}" if parts.netloc else url)


def probe_http(check: HttpCheck, url: str) -> Probe:
    started = time.monotonic()
    shown = shown_url(url)
    try:
        status, body = _CONNECTIONS.get(url, check)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Probe("http", shown, False, f"no answer: {exc or type(exc).__name__}")
    took = f"{(time.monotonic() - started) * 1000:.0f}ms"
    if status not in check.status:
        return Probe("http", shown, False, f"status {status}, expected {list(check.status)} ({took})")
    if check.body is not None and not re.search(check.body, body.decode(errors="replace")):
        return Probe(
            "http", shown, False, f"status {status} but the body does not match {check.body!r} ({took})"
        )
    return Probe("http", shown, True, f"status {status} ({took})")


def probe_tcp(check: TcpCheck, target: str) -> Probe:
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=check.probe_timeout):
            return Probe("tcp", target, True, "connected")
    except (OSError, ValueError) as exc:
        return Probe("tcp", target, False, f"cannot connect: {exc}")


def probe_command(check: CommandCheck, argv: list[str], workdir: str | None = None) -> Probe:
    result = run_command(argv, timeout=check.probe_timeout, cwd=workdir, pass_env=check.env)
    shown = " ".join(argv)
    return Probe("command", shown, result.ok, result.describe() if not result.ok else "exit 0")


def probe(check: Check, target: Target) -> Probe:
    """Run one check against one VM (placeholders substituted per argument)."""
    values = target.values()
    if isinstance(check, HttpCheck):
        return probe_http(check, expand_text(check.http, values, _url_quote))
    if isinstance(check, TcpCheck):
        return probe_tcp(check, expand_text(check.tcp, values))
    try:
        argv = expand_argv(check.command, values, target.step_vms)
    except UnsafeArgument as exc:
        return Probe("command", check.command[0], False, str(exc))
    return probe_command(check, argv, target.workdir)


def _url_quote(value: str) -> str:
    """A VM name inside a URL: percent-encoded, so ``a/b?c#d`` cannot change the path or the host."""
    return urllib.parse.quote(value, safe="")


def probe_all(work: Mapping[str, tuple[Target, Sequence[Check]]]) -> dict[str, list[Probe]]:
    """Every check of every VM, in parallel threads (probes are I/O; none reads the clock)."""
    jobs = [(vm, target, check) for vm, (target, checks) in work.items() for check in checks]
    results: dict[str, list[Probe]] = {vm: [] for vm in work}
    if not jobs:
        return results
    with ThreadPoolExecutor(max_workers=min(PROBE_THREADS, len(jobs))) as pool:
        probes = list(pool.map(lambda job: probe(job[2], job[1]), jobs))
    for (vm, _, _), outcome in zip(jobs, probes, strict=True):
        results[vm].append(outcome)
    return results


class HealthGate:
    """One VM's gate: wait, then probes must pass continuously for healthy_for within timeout.

    Only observed time counts (DESIGN §11): a gap between two passing probes longer than
    ``max(3 × interval, 60 s)`` (the runner was busy, blocked or down) restarts the streak at the
    later probe, and the timeout counts only time the runner could observe: a round of probes that
    starts later than the gate asked for (``next_probe``: the first after ``wait``, then every
    ``interval``) moves the deadline by as much, and so does a round that takes longer than its
    checks' ``probe_timeout`` (the runner's threads were starved or stalled; a probe that hangs up to
    its timeout is the VM's own time), so a runner lagging behind its plan never fails a healthy VM
    (issue 18).

    ``speed`` is the clock's (a simulation runs ``speed`` times faster than real time): a round of
    probes takes real time, so a fast simulation cannot look more often than every
    ``REAL_GAP_S * speed`` seconds of its clock, and that is the least tolerance it gets (at 20,000x
    the emulator's 15 s interval passes in under a real millisecond; at 1x it changes nothing).
    """

    def __init__(self, settings: HealthSettings, started: dt.datetime, speed: float = 1.0):
        self.settings = settings
        self.started = started
        self.speed = speed
        self.next_probe = started + dt.timedelta(seconds=settings.wait)
        self.budget = probe_budget(settings)
        self.deadline = started + dt.timedelta(seconds=max(settings.timeout, settings.wait))
        self.streak_since: dt.datetime | None = None
        self.last_failure: str | None = None
        self.flaps = 0
        self.rounds = 0  # rounds of probes observed
        self.passed = 0  # of which every probe passed
        self.last_pass: dt.datetime | None = None
        self.gap_restarts = 0
        self.longest_gap = 0.0  # seconds, among the gaps that restarted the streak

    @property
    def tolerance(self) -> float:
        """The longest gap between two passing probes that keeps a streak going."""
        return tolerance(self.settings, self.speed)

    def observe(self, now: dt.datetime, probes: Sequence[Probe], began: dt.datetime | None = None) -> str:
        """Record one round of probes that began at ``began`` (default: ``now``) and ended at ``now``:
        'healthy', 'failed' or 'waiting'."""
        began = began or now
        # time the runner could not look (it began late, or the round outlasted its probes' timeouts)
        zero = dt.timedelta(0)
        self.deadline += max(zero, began - self.next_probe) + max(zero, now - began - self.budget)
        self.rounds += 1
        if all(p.ok for p in probes):
            self.passed += 1
            self._pass(now)
            if (now - self._since(now)).total_seconds() >= self.settings.healthy_for:
                return "healthy"
        else:
            if self.streak_since is not None:
                self.flaps += 1
            self.streak_since = None
            self.last_failure = "; ".join(f"{p.target}: {p.detail}" for p in probes if not p.ok)
        if now >= self.deadline:
            return "failed"
        self._schedule(now)
        return "waiting"

    def _pass(self, now: dt.datetime) -> None:
        if self.streak_since is not None and self.last_pass is not None:
            gap = (now - self.last_pass).total_seconds()
            if gap > self.tolerance:  # unobserved time: the streak starts again here
                self.gap_restarts += 1
                self.longest_gap = max(self.longest_gap, gap)
                self.streak_since = now
        if self.streak_since is None:
            self.streak_since = now
        self.last_pass = now

    def _since(self, now: dt.datetime) -> dt.datetime:
        return self.streak_since if self.streak_since is not None else now

    def _schedule(self, now: dt.datetime) -> None:
        self.next_probe = now + dt.timedelta(seconds=max(1, self.settings.interval))
        if self.streak_since is not None:
            # land exactly on the end of the streak, so a healthy VM ends when the plan says
            self.next_probe = min(
                self.next_probe, self.streak_since + dt.timedelta(seconds=self.settings.healthy_for)
            )
        self.next_probe = min(self.next_probe, self.deadline)

    def seen(self) -> str:
        """What the gate saw, e.g. '11/11 probes passed, but 3 min 20 s without a probe restarted
        the streak' (a round of a VM's checks counts as one probe)."""
        text = f"{self.passed}/{self.rounds} probes passed"
        if self.gap_restarts:
            times = "" if self.gap_restarts == 1 else f" ({self.gap_restarts} times)"
            text += f", but {duration(self.longest_gap)} without a probe restarted the streak{times}"
        return text

    def why_failed(self) -> str:
        timeout = self.settings.timeout
        if self.flaps:
            return (
                f"did not stay healthy for {duration(self.settings.healthy_for)} within {duration(timeout)}: "
                f"{self.seen()} "
                f"(became unhealthy again {self.flaps} times; last: {self.last_failure})"
            )
        if self.passed:
            return (
                f"did not stay healthy for {duration(self.settings.healthy_for)} within {duration(timeout)}: "
                f"{self.seen()}"
            )
        if not self.rounds:
            return f"no health probe was made within {duration(timeout)}"
        return f"never became healthy within {duration(timeout)}: {self.seen()} (last: {self.last_failure})"


def probe_budget(settings: HealthSettings) -> dt.timedelta:
    """How long a round of probes may take on the VMs' account: the slowest check's probe timeout
    (beyond it the runner was starved or stalled, and that time is not the VM's)."""
    return dt.timedelta(seconds=max((c.probe_timeout for c in settings.checks), default=10))


def tolerance(settings: HealthSettings, speed: float = 1.0) -> float:
    """How long a passing probe stands for continuous observation: ``max(3 × interval, 60 s)``, and
    in a fast simulation at least what a real half second of probing costs (see HealthGate)."""
    return max(3.0 * settings.interval, 60.0, REAL_GAP_S * speed)


class LastPass:
    """When each VM last passed every check of a probe round (gate or baseline), shared by a run's
    steps: a baseline takes a pass younger than the tolerance as the VM's state instead of probing it
    again. A failed round forgets the VM, so an unhealthy verdict always comes from a fresh probe."""

    def __init__(self) -> None:
        self._at: dict[str, dt.datetime] = {}
        self._lock = threading.Lock()

    def note(self, at: dt.datetime, results: Mapping[str, Sequence[Probe]]) -> None:
        with self._lock:
            for vm, probes in results.items():
                if probes and all(p.ok for p in probes):
                    self._at[vm] = at
                else:
                    self._at.pop(vm, None)

    def fresh(self, vm: str, now: dt.datetime, within: float) -> bool:
        at = self._at.get(vm)
        return at is not None and (now - at).total_seconds() < within
