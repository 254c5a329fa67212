"""Shared pytest fixtures. Each section is owned by one area; keep sections self-contained."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# --- emulator fixtures (owner: emulator) -------------------------------------------------------

_SHOP_SPEC = Path(__file__).resolve().parent.parent / "plans" / "three-tier-shop.yaml"
# inside the shop's self-service window
EMULATOR_EPOCH = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Any]]:
    """Start emulators (default: the three-tier shop at 6000x from EMULATOR_EPOCH); all stop after the test.

    ``make_emulator(fleet=None, **kwargs)`` takes the keyword arguments of executor.emulator.Emulator.
    """
    from executor.emulator import Emulator
    from planner.load import load_spec

    started: list[Any] = []

    def make(fleet: Any = None, **kwargs: Any) -> Any:
        if fleet is None:
            fleet = load_spec(_SHOP_SPEC).inventory
        kwargs.setdefault("epoch", EMULATOR_EPOCH)
        if "clock" not in kwargs:
            kwargs.setdefault("speed", 6000.0)  # a 10-minute maintenance takes 0.1 s
        emu = Emulator(fleet, **kwargs).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(make_emulator: Callable[..., Any]) -> Any:
    """A running emulator over plans/three-tier-shop.yaml's inventory at 6000x, from 2026-11-23T22:00Z."""
    return make_emulator()


@pytest.fixture
def compute_client() -> Iterator[Callable[..., Any]]:
    """``compute_client(emu, **kwargs)``: a real ComputeManagementClient talking to ``emu`` over HTTPS."""
    from azure.mgmt.compute import ComputeManagementClient

    clients: list[Any] = []

    def make(emu: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("polling_interval", 0.02)
        kwargs.setdefault("retry_backoff_factor", 0.01)
        client = ComputeManagementClient(
            emu.credential, emu.subscription, base_url=emu.base_url, connection_verify=emu.ca_bundle, **kwargs
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --- Azurite, the Azure Storage emulator (owner: notifications; reused by storage tests) -----------


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[Any]:
    """A running Azurite (tests/azurite.py) for the whole session; skips visibly when not installed."""
    import shutil

    from azurite import find_binary, start

    binary = find_binary()
    if binary is None:
        pytest.skip(
            "azurite not found: set UDROLL_AZURITE or `npm install --prefix /work/azurite azurite@3.35.0`"
        )
    if shutil.which("node") is None:
        pytest.skip("azurite needs node, which is not installed (apt-get install nodejs)")
    server = start(binary)
    yield server
    server.stop()


@pytest.fixture
def azurite(azurite_server: Any) -> str:
    """The connection string of a running Azurite (blob, queue and table on loopback ports)."""
    return str(azurite_server.connection_string)


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's fleet locks live in a state directory of its own (never the user's)."""
    monkeypatch.setenv("UDROLL_STATE_DIR", str(tmp_path_factory.mktemp("state")))
