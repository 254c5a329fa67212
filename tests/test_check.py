"""`udroll check SPEC` end to end: the real azure-mgmt-compute client against the emulator over HTTPS
(sign-in, the role's actions through Microsoft.Authorization/permissions, every VM, health endpoint
and hook), a ✓/✗ table with a fix under each ✗, and the documented exit codes (issue 15)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from executor_support import E2E_SPEC, invoke

from executor.azure.permissions import allowed
from executor.emulator import Faults
from planner.load import parse_spec

pytestmark = pytest.mark.e2e

HOOKS = "defaults:\n  hooks: {before_step: [scripts/drain, '{vms}'], after_step: [scripts/undrain]}\n"
PERFORM = "Microsoft.Compute/virtualMachines/performMaintenance/action"


def _spec(tmp_path: Path, text: str = E2E_SPEC, executable: bool = True) -> Path:
    """The e2e spec with two hooks beside it (undrain executable or not)."""
    spec = tmp_path / "e2e.yaml"
    spec.write_text(text.replace("defaults:\n", HOOKS, 1))
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for name in ("drain", "undrain"):
        (scripts / name).write_text("#!/bin/sh\nexit 0\n")
        (scripts / name).chmod(0o755 if executable or name == "drain" else 0o644)
    return spec


def _emulator(make_emulator: Callable[..., Any], tmp_path: Path, spec: Path, **kwargs: Any) -> Path:
    loaded = parse_spec(spec.read_text(), str(spec))
    emu = make_emulator(loaded.inventory, speed=60.0, **kwargs)
    ready = tmp_path / "emu.json"
    emu.write_ready_file(ready)
    return ready


def _rows(out: str) -> dict[tuple[str, str], str]:
    """(area, subject) -> the ✓/✗ mark of each table line."""
    rows = {}
    for line in out.splitlines():
        if line[:1] in "✓✗" and line[1:2] == " ":
            mark, area, subject = line.split()[:3]
            rows[(area, subject)] = mark
    return rows


def test_a_ready_rollout_passes_every_check(make_emulator: Callable[..., Any], tmp_path: Path) -> None:
    """Everything in order: sign-in, permissions per group, 4 VMs, windows, probes, hooks all ✓, exit 0."""
    spec = _spec(tmp_path)
    ready = _emulator(make_emulator, tmp_path, spec)
    code, out = invoke(["check", str(spec), "--emulator", str(ready)])
    assert code == 0, out
    rows = _rows(out)
    assert set(rows.values()) == {"✓"}
    assert {("permissions", "rg-db"), ("permissions", "rg-web"), ("sign-in", "Resource")} <= set(rows)
    assert ("hook", "scripts/drain") in rows and ("hook", "scripts/undrain") in rows
    assert sum(1 for area, _ in rows if area == "health") == 4 and sum(1 for a, _ in rows if a == "vm") == 4
    assert "web: self-service window open, ends Thu 12-24 00:00 UTC" in out
    assert "checks: " in out and ", 0 failed" in out


def test_a_hook_that_is_not_executable_fails_with_its_fix(
    make_emulator: Callable[..., Any], tmp_path: Path
) -> None:
    """A hook without its execute bit is ✗ with `chmod +x PATH` as the fix; exit 2."""
    spec = _spec(tmp_path, executable=False)
    ready = _emulator(make_emulator, tmp_path, spec)
    code, out = invoke(["check", str(spec), "--emulator", str(ready)])
    assert code == 2, out
    assert _rows(out)[("hook", "scripts/undrain")] == "✗"
    assert f"fix: chmod +x {tmp_path / 'scripts' / 'undrain'}" in out
    assert "Error: 1 of" in out and "checks failed" in out


def test_a_role_without_perform_maintenance_fails_permissions(
    make_emulator: Callable[..., Any], tmp_path: Path
) -> None:
    """The identity's permissions (Microsoft.Authorization/permissions) lack an action: ✗ per group, exit 5."""
    spec = _spec(tmp_path)
    ready = _emulator(make_emulator, tmp_path, spec, faults=Faults(denied_actions=(PERFORM,)))
    code, out = invoke(["check", str(spec), "--emulator", str(ready), "-o", "json"])
    assert code == 5, out
    checks = json.loads(out[: out.rindex("}") + 1])["checks"]
    lacking = [c for c in checks if c["area"] == "permissions"]
    assert {c["subject"] for c in lacking} == {"rg-db", "rg-web"}
    assert all(not c["ok"] and PERFORM in c["detail"] and "README" in c["fix"] for c in lacking)


def test_a_vm_whose_window_has_closed_cannot_be_scheduled(
    make_emulator: Callable[..., Any], tmp_path: Path
) -> None:
    """A selected VM whose self-service window ended is ✗ with the planner's reason; exit 3."""
    closed = '["2026-11-01T00:00:00Z", "2026-11-10T00:00:00Z"]'
    lines = E2E_SPEC.splitlines()
    at = next(i for i, line in enumerate(lines) if "name: web-2" in line)
    lines[at + 1] = lines[at + 1].replace('["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"]', closed)
    spec = _spec(tmp_path, "\n".join(lines) + "\n")
    ready = _emulator(make_emulator, tmp_path, spec)
    code, out = invoke(["check", str(spec), "--emulator", str(ready)])
    assert code == 3, out
    assert "self-service window closed Tue 11-10 00:00 UTC" in out and "--allow-partial" in out
    assert _rows(out)[("vm", "rg-web/web-2")] == "✗"
    failing = out[out.index("✗ vm") :].splitlines()
    assert "rg-web/web-2" in failing[0] and failing[1].strip().startswith("fix: ")


def test_no_credential_is_a_failed_sign_in_with_how_to_sign_in(
    make_emulator: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a usable credential, sign-in is ✗ with how to sign in, nothing else is tried; exit 5."""
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    spec = _spec(tmp_path)
    loaded = parse_spec(spec.read_text(), str(spec))
    emu = make_emulator(loaded.inventory, speed=60.0)
    args = ["check", str(spec), "--endpoint", emu.base_url, "--ca-bundle", emu.ca_bundle]
    code, out = invoke(args)
    assert code == 5, out
    assert list(_rows(out).items()) == [(("sign-in", "Resource"), "✗")]
    assert "could not sign in to Azure to list the VMs" in out and "fix: sign in with `az login`" in out


def test_an_unreachable_resource_manager_is_a_failed_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Resource Manager endpoint nobody answers on is ✗ with what to check, not a traceback; exit 5."""
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    spec = _spec(tmp_path)
    code, out = invoke(["check", str(spec), "--endpoint", "https://127.0.0.1:9/"])
    assert code == 5, out
    assert list(_rows(out).items()) == [(("azure", "Resource"), "✗")]
    assert "fix: check the network, --endpoint and --ca-bundle" in out


def test_rbac_wildcards_and_not_actions() -> None:
    """An action is allowed when an entry's actions name it (wildcards, any case) and its notActions do not."""
    owner = [{"actions": ["*"], "notActions": []}]
    no_perform = [
        {"actions": ["Microsoft.Compute/*"], "notActions": ["microsoft.compute/*/performMaintenance/action"]}
    ]
    assert allowed(owner, PERFORM)
    assert allowed(no_perform, "Microsoft.Compute/virtualMachines/read")
    assert not allowed(no_perform, PERFORM)
    assert not allowed([{"actions": ["Microsoft.Storage/*"], "notActions": []}], PERFORM)
