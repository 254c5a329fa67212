"""Azurite (the Azure Storage emulator, npm `azurite`) for tests: blob, queue and table services on free
loopback ports with a temporary data directory. Used through the ``azurite`` fixture (tests/conftest.py),
which yields an :class:`Azurite` whose ``connection_string`` the storage SDKs take as is.

The binary comes from ``$UDROLL_AZURITE``, else ``node_modules/.bin/azurite`` under the repository or
under /work/azurite (``npm install --prefix DIR azurite@3.35.0``; .ci/run does it). Without it the tests
that need Azurite are skipped, with the reason in pytest's summary.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINNED = "3.35.0"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, in Azurite's README), not a secret
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SERVICES = ("queue", "table", "blob")  # BlobEndpoint last: tests read it off the end


def find_binary() -> str | None:
    """The azurite executable, or None."""
    candidates = [os.environ.get("UDROLL_AZURITE", "")]
    candidates += [str(d / "node_modules" / ".bin" / "azurite") for d in (ROOT, Path("/work/azurite"))]
    for path in candidates:
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which("azurite")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Azurite:
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    directory: Path

    def endpoint(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        ends = ";".join(f"{s.capitalize()}Endpoint={self.endpoint(s)}" for s in SERVICES)
        return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};{ends};"

    def queue_url(self, name: str) -> str:
        return f"{self.endpoint('queue')}/{name}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)


def start(binary: str, timeout: float = 60.0, debug_log: Path | None = None) -> Azurite:
    """Start Azurite and wait until every service listens (RuntimeError with its log if it does not)."""
    directory = Path(tempfile.mkdtemp(prefix="udroll-azurite-"))
    ports = {s: _free_port() for s in SERVICES}
    argv = [binary, "--location", str(directory), "--skipApiVersionCheck", "--loose"]
    # --debug keeps Azurite's request log: one line per storage transaction, how cost is measured
    argv += ["--debug", str(debug_log)] if debug_log else ["--silent"]
    for service, port in ports.items():
        argv += [f"--{service}Host", "127.0.0.1", f"--{service}Port", str(port)]
    with (directory / "azurite.log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
    found = Azurite(process, ports, directory)
    deadline = time.monotonic() + timeout
    while not all(_listening(p) for p in ports.values()):
        if process.poll() is not None or time.monotonic() > deadline:
            text = (directory / "azurite.log").read_text(errors="replace")[-2000:]
            found.stop()
            raise RuntimeError(f"azurite did not start ({binary}): {text}")
        time.sleep(0.1)
    return found


azurite_binary = find_binary


@contextlib.contextmanager
def running_azurite(where: Path | None = None, debug_log: Path | None = None) -> Iterator[str]:
    """Azurite until the block ends, for scripts outside pytest (benchmarks): its connection string."""
    binary = find_binary()
    if binary is None:
        raise FileNotFoundError(
            f"azurite is not installed: npm install azurite@{PINNED} (or set UDROLL_AZURITE)"
        )
    server = start(binary, debug_log=debug_log)
    try:
        yield server.connection_string
    finally:
        server.stop()
