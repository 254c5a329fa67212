"""Azurite, the official Azure Storage emulator, as a pytest fixture: ``azurite`` yields a connection string.

The binary is found through ``UDROLL_AZURITE`` (what .ci/run exports), then ``node_modules/.bin/azurite``
under the repository, then ``/work/azurite/node_modules/.bin/azurite``; without one the test is skipped,
visibly. Each use starts Azurite (blob, queue and table services) on free loopback ports with an in-memory store and stops it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft; not a secret)
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_binary() -> str | None:
    candidates = [
        os.environ.get("UDROLL_AZURITE", ""),
        str(ROOT / "node_modules" / ".bin" / "azurite"),
        "/work/azurite/node_modules/.bin/azurite",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("azurite")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


def _wait_for(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"azurite exited with {proc.returncode}: {log.read_text(errors='replace')}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"azurite did not listen on {port} within 30 s")


@contextlib.contextmanager
def running_azurite(where: Path, debug_log: Path | None = None) -> Iterator[str]:
    """Azurite on free loopback ports with an in-memory store, until the block ends: its connection string.
    ``debug_log`` keeps Azurite's request log (one line per storage transaction: how cost is measured)."""
    binary = azurite_binary()
    if binary is None:
        raise FileNotFoundError("azurite is not installed: npm install azurite@3 (or set UDROLL_AZURITE)")
    blob, queue, table = _free_port(), _free_port(), _free_port()
    log = where / "azurite.log"
    args = [binary, "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1"]
    args += ["--queuePort", str(queue), "--tableHost", "127.0.0.1", "--tablePort", str(table)]
    args += ["--inMemoryPersistence", "--skipApiVersionCheck", "--loose"]
    args += ["--debug", str(debug_log)] if debug_log else ["--silent"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=where, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        _wait_for(blob, proc, log)
        yield connection_string(blob)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running Azurite (blob, queue and table services) on free loopback ports; yields its connection string."""
    if azurite_binary() is None:
        pytest.skip("azurite is not installed: npm install azurite@3 (or set UDROLL_AZURITE)")
    with running_azurite(tmp_path_factory.mktemp("azurite")) as connection:
        yield connection
