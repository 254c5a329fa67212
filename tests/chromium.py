"""A headless Chromium for tests: open a local file, record what the page did, take a screenshot.

The browser is driven over the Chrome DevTools Protocol on ``--remote-debugging-pipe`` (fd 3 in,
fd 4 out, NUL-terminated JSON messages), so no port, no websocket library and nothing to discover.
The page's own requests (``Network.requestWillBeSent``), console calls (``Runtime.consoleAPICalled``),
uncaught exceptions (``Runtime.exceptionThrown``) and browser log entries (``Log.entryAdded``) are
recorded as CDP events: the honest way to see that a preview stays offline and error free.

Tests call :func:`require_chromium` to skip cleanly where Debian's ``chromium`` is not installed.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import itertools
import json
import os
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
)
TIMEOUT_S = 60.0
# Chromium reads DevTools commands from fd 3 and writes to fd 4: this puts the pipe ends there, then
# becomes Chromium (a shell cannot: dash refuses fd numbers above 9)
_ON_FDS_3_AND_4 = (
    "import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); os.dup2(r, 3); os.dup2(w, 4); "
    "os.close(r); os.close(w); os.execv(sys.argv[3], sys.argv[3:])"
)


def require_chromium() -> str:
    """The Chromium binary, or skip the calling test with the reason and the fix."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent: install it with `apt-get install -y chromium`")
    return CHROMIUM


class CDPError(RuntimeError):
    pass


ARTIFACTS_ENV = "UDROLL_TEST_ARTIFACTS"


def artifacts_dir() -> Path:
    """Where tests keep what a person may want to look at (screenshots): $UDROLL_TEST_ARTIFACTS, else
    tests/artifacts/ (ignored by git; .ci/run prints where they are)."""
    path = Path(os.environ.get(ARTIFACTS_ENV) or Path(__file__).resolve().parent / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


# What a layout check needs from a udroll page, measured by the browser after layout and scripts:
# the document's width against the window's, the timeline's box, every axis label's box, and per tier
# its head row, its own marker lines and the deadline text in its head.
LAYOUT_JS = r"""(() => {
  const box = e => { const r = e.getBoundingClientRect();
    return {left: r.left + scrollX, right: r.right + scrollX, top: r.top + scrollY, bottom: r.bottom + scrollY}; };
  const doc = document.documentElement, tl = document.getElementById("timeline");
  const out = {scrollWidth: doc.scrollWidth, clientWidth: doc.clientWidth, timeline: null, labels: [], tiers: []};
  if (!tl) return out;
  out.timeline = box(tl);
  out.labels = [...tl.querySelectorAll("#axis text")].map(t => ({cls: t.getAttribute("class"),
    text: t.textContent, ...box(t)}));
  out.tiers = [...tl.querySelectorAll(":scope > g.tier")].map(g => ({
    tier: g.dataset.tier,
    head: box(g.querySelector(":scope > rect.head")),
    lanes: box(g.querySelector(":scope > g.lanes")),
    markers: [...g.querySelectorAll(".tier-marker")].map(m => ({cls: m.getAttribute("class"), ...box(m)})),
    deadline: [...g.querySelectorAll(".tier-deadline")].map(t => ({text: t.firstChild.textContent, ...box(t)})),
  }));
  out.markers = tl.querySelectorAll(".marker").length;
  return out;
})()"""


@dataclass
class PageReport:
    """What happened while a page loaded, and what it looks like."""

    url: str
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    console: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    exceptions: list[str] = field(default_factory=list)
    log_entries: list[tuple[str, str]] = field(default_factory=list)  # (level, text) from Log
    screenshot: bytes = b""

    @property
    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors, as text."""
        out = [text for level, text in self.console if level in ("error", "assert")]
        out += self.exceptions
        out += [text for level, text in self.log_entries if level == "error"]
        return out

    @property
    def foreign_requests(self) -> list[str]:
        """Requests other than the page's own document."""
        return [u for u in self.requests if u != self.url]


def assert_clean(report: PageReport) -> None:
    """The page fetched nothing but itself and logged no error."""
    assert report.foreign_requests == [], f"the page asked the network for {report.foreign_requests}"
    assert report.errors == [], f"the page logged errors: {report.errors}"


class Browser:
    """One headless Chromium process with one page, driven over the DevTools pipe."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        binary = require_chromium()
        self._profile = tempfile.mkdtemp(prefix="udroll-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # the child's ends move above fd 9 first, so putting them on 3 and 4 cannot clobber one another
        child_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
        child_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
        for fd in (to_child_r, from_child_w):
            os.close(fd)
        argv = [binary, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"]
        self._log_path = Path(self._profile) / "chromium.log"
        with open(self._log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _ON_FDS_3_AND_4, str(child_r), str(child_w), *argv],
                pass_fds=(child_r, child_w),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: close() can end all of Chromium
            )
        os.close(child_r)
        os.close(child_w)
        self._buffer = b""
        self._scripts = True
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.argv = shlex.join(argv)
        try:
            self._attach(width, height)
        except BaseException:
            self.close()
            raise

    def _attach(self, width: int, height: int) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    # --- protocol -------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            written = os.write(self._to_child, data)
            data = data[written:]

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"Chromium did not answer within {TIMEOUT_S}s ({self.argv})")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise CDPError(f"Chromium closed the DevTools pipe ({self.argv}):\n{self._log_tail()}")
                self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)  # type: ignore[no-any-return]

    def _log_tail(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: bool = False) -> Any:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        self._send(message)
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        """Block until an event of ``method`` arrives on our page (or was already kept)."""
        for event in self._events:
            if event["method"] == method:
                return event
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._receive(deadline)
            if "method" in reply:
                self._events.append(reply)
                if reply["method"] == method:
                    return reply

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression evaluated in the page."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    # --- the page -------------------------------------------------------------------------------

    def open(self, path: Path) -> PageReport:
        """Load a local file, wait for its load event and let its scripts settle."""
        url = path.resolve().as_uri()
        self._events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_for("Page.loadEventFired")
        if (
            self._scripts
        ):  # a round trip through the page's event loop: late errors from load handlers arrive first
            self.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 50)))")
        return self.report(url)

    def report(self, url: str) -> PageReport:
        report = PageReport(url=url)
        for event in self._events:
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                report.requests.append(params["request"]["url"])
            elif method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
                report.console.append((params["type"], text))
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                report.exceptions.append(details.get("exception", {}).get("description", details["text"]))
            elif method == "Log.entryAdded":
                entry = params["entry"]
                report.log_entries.append((entry["level"], f"{entry.get('url', '')}: {entry['text']}"))
        return report

    def screenshot(self, scale: float = 0.5, full_page: bool = False) -> bytes:
        """A PNG of the viewport (or the whole page), at half scale by default: enough to tell blank
        from drawn; ``scale=1`` for a screenshot a person reads."""
        metrics = self.call("Page.getLayoutMetrics", session=True)
        view = metrics["cssVisualViewport"]
        height = metrics["cssContentSize"]["height"] if full_page else view["clientHeight"]
        clip = {"x": 0, "y": 0, "width": view["clientWidth"], "height": height, "scale": scale}
        params = {"format": "png", "clip": clip, "captureBeyondViewport": full_page}
        data = self.call("Page.captureScreenshot", params, session=True)["data"]
        return base64.b64decode(data)

    def scripts(self, enabled: bool) -> None:
        """Run the pages' scripts or not (a page must read well without them too)."""
        self.call("Emulation.setScriptExecutionDisabled", {"value": not enabled}, session=True)
        self._scripts = enabled  # (the page's timers do not run either: open() cannot wait on them)

    def layout(self) -> dict[str, Any]:
        """Where things landed after layout (see LAYOUT_JS): boxes in CSS pixels of the page."""
        return self.evaluate(LAYOUT_JS)  # type: ignore[no-any-return]

    def keep_screenshot(self, name: str) -> Path:
        """The whole page at full scale as a test artifact ``NAME.png`` (see artifacts_dir)."""
        path = artifacts_dir() / f"{name}.png"
        path.write_bytes(self.screenshot(scale=1.0, full_page=True))
        return path

    def close(self) -> None:
        with contextlib.suppress(CDPError, OSError):
            self.call("Browser.close")
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


WIDTHS = (1400, 800)  # a wide screen, and half a laptop's


class Browsers:
    """A browser per window width, started when first asked for; all closed at the end."""

    def __init__(self) -> None:
        self._open: dict[int, Browser] = {}

    def at(self, width: int) -> Browser:
        if width not in self._open:
            self._open[width] = Browser(width, 900)
        return self._open[width]

    def __enter__(self) -> Browsers:
        return self

    def __exit__(self, *exc: object) -> None:
        for b in self._open.values():
            b.close()


def assert_fits(layout: dict[str, Any], what: str) -> None:
    """No horizontal scrolling of the page, and no axis label cut by the timeline's edges or on another."""
    assert layout["scrollWidth"] <= layout["clientWidth"], (
        f"{what}: the page is {layout['scrollWidth']} px wide in a {layout['clientWidth']} px window"
    )
    svg = layout["timeline"]
    assert svg is not None and layout["labels"], f"{what}: no timeline axis"
    cut = [
        lb for lb in layout["labels"] if lb["left"] < svg["left"] - 0.5 or lb["right"] > svg["right"] + 0.5
    ]
    assert cut == [], (
        f"{what}: axis labels cut by the timeline's edges ({svg['left']}..{svg['right']}): {cut}"
    )
    days = [lb for lb in layout["labels"] if lb["cls"] == "tick-day"]
    assert days, f"{what}: no day on the axis"
    for a, b in itertools.pairwise(days):
        assert a["right"] <= b["left"], f"{what}: day labels overlap: {a} and {b}"


# --- reading a screenshot ---------------------------------------------------------------------


def png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGB(A) rows of an 8-bit truecolour PNG (what Chromium writes)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, b"", 0
    height = bit_depth = colour = 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, bit_depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
    if bit_depth != 8 or colour not in (2, 6):
        raise ValueError(f"unsupported PNG: bit depth {bit_depth}, colour type {colour}")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        _unfilter(kind, line, prev, bpp)
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> None:
    n = len(line)
    if kind == 0:
        return
    if kind == 2:
        for i in range(n):
            line[i] = (line[i] + prev[i]) & 0xFF
        return
    for i in range(n):
        a = line[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + a) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + ((a + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            line[i] = (line[i] + pred) & 0xFF
        else:
            raise ValueError(f"unknown PNG filter {kind}")


def colour_census(png: bytes) -> tuple[int, float]:
    """How many distinct colours a PNG has and the share of its pixels that are not white."""
    width, height, rows = png_pixels(png)
    bpp = len(rows[0]) // width if rows else 3
    colours: set[bytes] = set()
    non_white = 0
    for row in rows:
        for x in range(0, len(row), bpp):
            px = row[x : x + 3]
            colours.add(px)
            if px != b"\xff\xff\xff":
                non_white += 1
    return len(colours), non_white / max(1, width * height)
