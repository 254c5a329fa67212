"""Step hooks (before_step / after_step) and the placeholder expansion shared with command gates.

Hooks and command checks are argv lists run without a shell. Placeholders are replaced literally in
each argument, never through ``str.format`` or a shell, so a VM name cannot inject anything:

- ``{name}``, ``{resource_group}`` — the VM a check probes;
- ``{vms}`` — the step's VM names: an argument that is exactly ``{vms}`` becomes one argument per
  VM; inside a longer argument they are joined with commas;
- ``{step}``, ``{tier}`` — the step id and its tier.

A hook's environment carries the step too: ``UDROLL_STEP``, ``UDROLL_TIER``, ``UDROLL_HOOK``,
``UDROLL_VMS`` (names, space-separated), ``UDROLL_VM_IDS`` (ARM ids, space-separated),
``UDROLL_RESOURCE_GROUPS`` and ``UDROLL_JOURNAL``. Its output is kept in the journal.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

OUTPUT_LIMIT = 64 * 1024  # keep the journal small: a chatty hook keeps its last 64 KiB
HOOK_TIMEOUT_S = 30 * 60


def expand_argv(argv: Sequence[str], values: Mapping[str, str], vms: Sequence[str]) -> list[str]:
    """Substitute placeholders per argument (see the module docstring)."""
    out: list[str] = []
    for arg in argv:
        if arg == "{vms}":
            out.extend(vms)
            continue
        text = arg.replace("{vms}", ",".join(vms))
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        out.append(text)
    return out


def expand_text(text: str, values: Mapping[str, str]) -> str:
    """Substitute ``{name}``-style placeholders in a URL or host:port."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


@dataclass(frozen=True)
class HookResult:
    argv: tuple[str, ...]
    rc: int | None  # None: it could not be started or timed out
    output: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def describe(self) -> str:
        if self.rc is None:
            return f"{self.argv[0]} did not run to completion: {self.output.strip()[-300:]}"
        tail = self.output.strip()[-300:]
        return f"{self.argv[0]} exited {self.rc}" + (f": {tail}" if tail else "")


def run_command(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    timeout: float = HOOK_TIMEOUT_S,
    cwd: str | None = None,
) -> HookResult:
    """Run argv without a shell, stdout and stderr together; never raises for the command's failure.

    ``cwd`` is the spec's directory, so that ``scripts/drain`` in a spec means the script beside it.
    """
    full_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run(
            list(argv),
            env=full_env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        return HookResult(tuple(argv), None, f"command not found: {argv[0]}")
    except PermissionError:
        return HookResult(tuple(argv), None, f"not executable: {argv[0]}")
    except subprocess.TimeoutExpired as exc:
        output = (exc.output or b"").decode(errors="replace")
        return HookResult(tuple(argv), None, f"{output}\ntimed out after {timeout:g}s")
    output = done.stdout.decode(errors="replace")[-OUTPUT_LIMIT:]
    return HookResult(tuple(argv), done.returncode, output)


def hook_env(
    step: str,
    tier: str,
    which: str,
    names: Sequence[str],
    ids: Sequence[str],
    resource_groups: Sequence[str],
    journal: str,
) -> dict[str, str]:
    return {
        "UDROLL_STEP": step,
        "UDROLL_TIER": tier,
        "UDROLL_HOOK": which,
        "UDROLL_VMS": " ".join(names),
        "UDROLL_VM_IDS": " ".join(ids),
        "UDROLL_RESOURCE_GROUPS": " ".join(sorted(set(resource_groups))),
        "UDROLL_JOURNAL": journal,
    }


def run_hook(
    argv: Sequence[str],
    step: str,
    tier: str,
    which: str,
    names: Sequence[str],
    ids: Sequence[str],
    resource_groups: Sequence[str],
    journal: str,
    cwd: str | None = None,
) -> HookResult:
    expanded = expand_argv(argv, {"step": step, "tier": tier}, names)
    env = hook_env(step, tier, which, names, ids, resource_groups, journal)
    return run_command(expanded, env, cwd=cwd)
