"""Step hooks (before_step / after_step) and the placeholder expansion shared with command gates.

Hooks and command checks are argv lists run without a shell. Placeholders are replaced in one pass
(planner.placeholders), never through ``str.format`` or a shell, so a VM name cannot inject anything:

- ``{name}``, ``{resource_group}`` — the VM a check probes (percent-encoded inside an http URL);
- ``{vms}`` — the step's VM names: an argument that is exactly ``{vms}`` becomes one argument per
  VM; inside a longer argument they are joined with commas;
- ``{step}``, ``{tier}`` — the step id and its tier.

An argument that becomes an option only through a value (``{name}`` expanding to ``-rf``) is refused:
the command does not run, and the step or probe fails saying why.

Hooks and command checks get a minimal environment, not udroll's (which may hold
``AZURE_CLIENT_SECRET``): ``PATH``, ``HOME``, ``LANG``, ``LC_*``, ``TMPDIR``, the names the spec lists
under ``env:``, and for hooks the step: ``UDROLL_STEP``, ``UDROLL_TIER``, ``UDROLL_HOOK``,
``UDROLL_VMS`` (names, space-separated), ``UDROLL_VM_IDS`` (ARM ids, space-separated),
``UDROLL_RESOURCE_GROUPS`` and ``UDROLL_JOURNAL``. A hook's output is kept in the journal.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from planner.placeholders import expand
from planner.timefmt import duration

OUTPUT_LIMIT = 64 * 1024  # keep the journal small: a chatty hook keeps its last 64 KiB
HOOK_TIMEOUT_S = 30 * 60


BASE_ENV = ("PATH", "HOME", "LANG", "TMPDIR")  # and every LC_* variable


class UnsafeArgument(ValueError):
    """A placeholder's value would reach a command as an option."""


def expand_argv(argv: Sequence[str], values: Mapping[str, str], vms: Sequence[str]) -> list[str]:
    """Substitute placeholders per argument, in one pass (see the module docstring)."""
    out: list[str] = []
    every = {**values, "vms": ",".join(vms)}
    for arg in argv:
        produced = list(vms) if arg == "{vms}" else [expand(arg, every)]
        for text in produced:
            if text.startswith("-") and not arg.startswith("-"):
                raise UnsafeArgument(
                    f"refused to run {argv[0]}: {arg!r} became {text!r}, which a command would take "
                    "for an option; rename the VM or put the placeholder after a fixed prefix"
                )
        out.extend(produced)
    return out


def expand_text(text: str, values: Mapping[str, str], quote: Callable[[str], str] | None = None) -> str:
    """Substitute ``{name}``-style placeholders in a URL (``quote`` percent-encodes) or host:port."""
    return expand(text, values, quote)


def minimal_env(names: Sequence[str] = (), extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a hook or command check sees: the basics, the variables the spec lists, and ``extra``."""
    keep = set(BASE_ENV) | set(names)
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("LC_")}
    return {**env, **(extra or {})}


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
    pass_env: Sequence[str] = (),
) -> HookResult:
    """Run argv without a shell, stdout and stderr together; never raises for the command's failure.

    ``cwd`` is the spec's directory, so that ``scripts/drain`` in a spec means the script beside it.
    The command's environment is :func:`minimal_env` of ``pass_env`` plus ``env``.
    """
    try:
        done = subprocess.run(
            list(argv),
            env=minimal_env(pass_env, env),
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
        return HookResult(tuple(argv), None, f"{output}\ntimed out after {duration(timeout)}")
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
    pass_env: Sequence[str] = (),
) -> HookResult:
    try:
        expanded = expand_argv(argv, {"step": step, "tier": tier}, names)
    except UnsafeArgument as exc:
        return HookResult(tuple(argv), None, str(exc))
    env = hook_env(step, tier, which, names, ids, resource_groups, journal)
    return run_command(expanded, env, cwd=cwd, pass_env=pass_env)
