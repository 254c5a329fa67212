"""`udroll emulator serve`: serves until SIGTERM (exit 0), writes the ready file, refuses bad input (exit 2)."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from executor.cli.main import main
from executor.emulator.fleets import synthetic_fleet

SHOP = "plans/three-tier-shop.yaml"


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from executor.cli.main import main; main()", "emulator", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, process: subprocess.Popen[str]) -> dict:
    for _ in range(300):
        if path.exists():
            return json.loads(path.read_text())
        if process.poll() is not None:
            raise AssertionError(f"emulator exited early: {process.communicate()}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError("no ready file")


@pytest.mark.e2e
def test_serve_until_sigterm(tmp_path) -> None:
    """The ready file appears once the server accepts connections; SIGTERM stops it with exit 0."""
    ready_path, log_path, fleet_path = (
        tmp_path / "ready.json",
        tmp_path / "log.jsonl",
        tmp_path / "fleet.json",
    )
    fleet_path.write_text(synthetic_fleet(20).to_json())
    process = _serve(
        "--fleet",
        str(fleet_path),
        "--speed",
        "60",
        "--epoch",
        "2026-11-25T00:00:00Z",
        "--ready-file",
        str(ready_path),
        "--log",
        str(log_path),
    )
    try:
        ready = _wait_for(ready_path, process)
        assert ready["speed"] == 60.0 and ready["epoch"] == "2026-11-25T00:00:00Z"
        assert ready["subscription"] == "22222222-3333-4444-5555-666666666666"
        context = ssl.create_default_context(cafile=ready["ca_bundle"])
        with urllib.request.urlopen(f"{ready['base_url']}/_emulator/state", context=context) as answer:
            assert len(json.loads(answer.read())["vms"]) == 20
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "serving 20 VMs" in out and "stopped" in out
    assert not ready_path.exists()
    assert json.loads(log_path.read_text().splitlines()[0])["kind"] == "emulator"


@pytest.mark.e2e
def test_serve_until_ctrl_c(tmp_path) -> None:
    """Ctrl-C (SIGINT) also stops it with exit 0."""
    ready_path = tmp_path / "ready.json"
    process = _serve("--spec", SHOP, "--ready-file", str(ready_path))
    try:
        _wait_for(ready_path, process)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --fleet FILE or --spec FILE"),
        (["--spec", SHOP, "--fleet", SHOP], "give exactly one of --fleet FILE or --spec FILE"),
        (["--spec", SHOP, "--host", "0.0.0.0"], "loopback only"),
        (["--spec", SHOP, "--epoch", "tomorrow"], "--epoch: 'tomorrow' is not a timestamp"),
    ],
    ids=["neither", "both", "not-loopback", "bad-epoch"],
)
def test_bad_input_exits_2(args: list[str], message: str, capsys) -> None:
    """Bad options are an input error (exit 2) that says what to do."""
    with pytest.raises(SystemExit) as exit_info:
        main(["emulator", "serve", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_spec_without_inventory_exits_2(tmp_path, capsys) -> None:
    """--spec needs an inventory: the error says to add one or use --fleet."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nname: x\nwindow: {not_before: 2026-11-23T21:00:00Z}\n"
        "tiers:\n  - {name: a, select: {resource_group: rg}}\n"
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["emulator", "serve", "--spec", str(spec)])
    assert exit_info.value.code == 2
    assert "has no inventory: add one, or serve a fleet snapshot with --fleet" in capsys.readouterr().err


def test_invalid_faults_file_exits_2_with_places(tmp_path, capsys) -> None:
    """A faults file with problems is reported as file:line:col, exit 2, before anything is served."""
    faults = tmp_path / "faults.yaml"
    faults.write_text("version: 1\nlatency_ms: -5\nvms:\n  rg-shop-db/db-7: {abort: 1}\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["emulator", "serve", "--spec", SHOP, "--faults", str(faults)])
    assert exit_info.value.code == 2
    assert f"{faults}:2:13: latency_ms: input should be greater than or equal to 0" in capsys.readouterr().err


def test_bad_vm_ref_format(tmp_path, capsys) -> None:
    """A per-VM key that is not rg/name or rg/scale-set/instance is located and explained."""
    faults = tmp_path / "faults.yaml"
    faults.write_text("version: 1\nvms:\n  db-0: {abort: 1}\n")
    with pytest.raises(SystemExit):
        main(["emulator", "serve", "--spec", SHOP, "--faults", str(faults)])
    assert f"{faults}:3:3: vms: 'db-0' is not a VM ref: write rg/name" in capsys.readouterr().err


def test_help_has_an_example() -> None:
    """--help shows an example."""
    from click.testing import CliRunner

    from executor.cli.main import cli

    result = CliRunner().invoke(cli, ["emulator", "serve", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output
