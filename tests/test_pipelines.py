"""The pipeline samples under examples/pipelines stay runnable: every `udroll` command they hold parses with
today's CLI, the workflows are scheduled and sign in without secrets, and the Dockerfile is linted (built
too when docker is on the machine)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from executor.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
PIPELINES = ROOT / "examples" / "pipelines"


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return [node] if isinstance(node, str) else []


def _commands(texts: list[str]) -> list[list[str]]:
    return [
        shlex.split(line.strip())
        for text in texts
        for line in text.splitlines()
        if line.strip().startswith("udroll ")
    ]


def _parses(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line is accepted by the CLI's parser (options exist, required ones given)."""
    assert argv[0] == "udroll"
    monkeypatch.setenv("UDROLL_JOURNAL", "https://acct.blob.core.windows.net/udroll/shop-prod")
    command = cli.get_command(None, argv[1])
    assert command is not None
    command.make_context(argv[1], argv[2:])


def _docker_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (PIPELINES / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_github_workflow_is_scheduled_with_oidc_and_resumes_until_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The GitHub Actions sample runs nightly, logs in with OIDC (id-token), and resumes with --until-idle."""
    data = yaml.safe_load((PIPELINES / "github-actions.yml").read_text())
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["schedule"][0]["cron"]
    assert data["permissions"]["id-token"] == "write"
    steps = data["jobs"]["rollout"]["steps"]
    assert any(str(s.get("uses", "")).startswith("azure/login@") for s in steps)
    assert not any("secrets." in s for s in _strings(data))  # OIDC: nothing secret is stored
    commands = _commands(_strings(steps))
    assert ["udroll", "resume", "--journal", "$UDROLL_JOURNAL", "--yes", "--until-idle"] in commands
    for argv in commands:
        _parses(argv, monkeypatch)


def test_azure_devops_pipeline_is_scheduled_and_resumes_until_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Azure DevOps sample runs nightly through a service connection and resumes with --until-idle."""
    data = yaml.safe_load((PIPELINES / "azure-pipelines.yml").read_text())
    assert data["schedules"][0]["cron"] and data["schedules"][0]["always"] is True
    steps = data["jobs"][0]["steps"]
    assert any(s.get("task") == "AzureCLI@2" and s["inputs"]["azureSubscription"] for s in steps)
    commands = _commands(_strings(steps))
    assert any(argv[1] == "resume" and "--until-idle" in argv for argv in commands)
    for argv in commands:
        _parses(argv, monkeypatch)


def test_dockerfile_is_slim_unprivileged_and_resumes_until_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Dockerfile: a pinned slim Python base, no downloads, a non-root user, and `udroll resume --until-idle`."""
    instructions = _docker_instructions()
    kinds = [kind for kind, _ in instructions]
    assert kinds[0] == "FROM" and re.fullmatch(r"python:3\.\d+-slim", instructions[0][1])
    assert set(kinds) <= {"FROM", "ENV", "COPY", "RUN", "USER", "WORKDIR", "ENTRYPOINT", "CMD"}
    assert not any(kind == "ADD" or "curl" in arg or "wget" in arg for kind, arg in instructions)
    copied = [arg.split()[0] for kind, arg in instructions if kind == "COPY"]
    assert all((ROOT / path).exists() for path in copied), copied  # the build context is the repository
    user = kinds.index("USER")
    assert instructions[user][1] not in ("root", "0") and user < kinds.index("ENTRYPOINT")
    entry = json.loads(dict(instructions)["ENTRYPOINT"]) + json.loads(dict(instructions)["CMD"])
    assert entry[:2] == ["udroll", "resume"] and "--until-idle" in entry
    _parses(entry, monkeypatch)


def _docker_usable() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _docker_usable(), reason="no usable docker here: the Dockerfile is only linted")
def test_dockerfile_builds() -> None:
    """With docker on the machine, the image builds from the repository."""
    subprocess.run(
        ["docker", "build", "-f", str(PIPELINES / "Dockerfile"), "-t", "udroll:test", str(ROOT)], check=True
    )
