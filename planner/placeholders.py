"""Placeholders in checks and hooks (``{name}``, ``{vms}``, ...): which exist where, and one-pass expansion.

Only ``{identifier}`` is a placeholder, so JSON or regular expressions in an argument stay as written.
The spec is validated against the names each place knows (an unknown one is a located error, with a
"did you mean"), and expansion is a single pass: a value that itself contains ``{step}`` is inserted
as it is, never expanded again.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

URL_CHECK = ("name", "resource_group")  # http and tcp checks
COMMAND_CHECK = ("name", "resource_group", "vms")
HOOK = ("vms", "step", "tier")


def names_in(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def validator(allowed: tuple[str, ...]) -> Callable[[str], str]:
    """A pydantic after-validator: the text may only use placeholders in ``allowed``."""

    def check(text: str) -> str:
        for name in names_in(text):
            if name not in allowed:
                near = difflib.get_close_matches(name, allowed, n=1)
                hint = f"did you mean {{{near[0]}}}?" if near else "remove it"
                known = ", ".join("{" + a + "}" for a in allowed)
                raise ValueError(f"unknown placeholder {{{name}}} (known here: {known}): {hint}")
        return text

    return check


def expand(text: str, values: Mapping[str, str], quote: Callable[[str], str] | None = None) -> str:
    """``text`` with each known placeholder replaced once (``quote`` applied to the value)."""

    def one(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None:
            return match.group(0)
        return quote(value) if quote else value

    return PLACEHOLDER.sub(one, text)
