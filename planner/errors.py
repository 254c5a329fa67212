"""The one error tree of udroll. Each class carries the exit code the CLI returns for it.

    UdrollError                 1  (only ever a bug when it reaches the user unclassified)
    ├── InputError              2  bad spec, fleet, plan or command-line input
    │   └── SpecError           2  every problem of one or more files, each with file:line:col
    ├── UnschedulableError      3  some selected VMs cannot be maintained in their self-service window
    ├── RunHalted               4  a step failed, or the run was aborted
    ├── AzureError              5  Azure (or the emulator) could not be reached or refused us
    │   ├── AuthenticationError 5
    │   ├── AuthorizationError  5
    │   ├── NotEligibleError    5  409 OperationNotAllowed on perform-maintenance
    │   └── VMGoneError         5  404 for a VM the plan names
    └── Interrupted           130  paused (Ctrl-C, `udroll pause`, a declined confirmation): resumable

The CLI boundary (executor.cli.main.main) prints ``<prefix><message>`` and exits with ``exit_code``;
the prefix is ``Error: `` except for a pause, which is asked for and is no error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class UdrollError(Exception):
    exit_code = 1
    prefix = "Error: "


class InputError(UdrollError):
    exit_code = 2


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file, where it is and how to fix it."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        if self.line == 0:  # about the file as a whole (it cannot be read): no position to give
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class SpecError(InputError):
    """All problems found in one or more input files, reported together."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = tuple(sorted(set(problems)))
        count = len(self.problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} found:\n{lines}")


class UnschedulableError(UdrollError):
    exit_code = 3


class RunHalted(UdrollError):
    exit_code = 4


class AzureError(UdrollError):
    exit_code = 5


class AuthenticationError(AzureError):
    pass


class AuthorizationError(AzureError):
    pass


class NotEligibleError(AzureError):
    pass


class VMGoneError(AzureError):
    pass


class Interrupted(UdrollError):
    exit_code = 130
    prefix = ""
