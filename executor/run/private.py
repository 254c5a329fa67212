"""A journal holds the spec, the fleet, hook output and operation handles: only its owner may read it.

The directory is 0700 and every file udroll creates in it 0600, whatever the umask (SQLite gives its
-wal and -shm files the database file's mode).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if needed and make it 0700 when it is ours."""
    path.mkdir(parents=True, exist_ok=True)
    _chmod(path, DIR_MODE)


def open_private(path: Path, flags: int) -> int:
    """``os.open`` that creates the file 0600, and makes an existing file of ours 0600 too."""
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    with contextlib.suppress(PermissionError):
        os.fchmod(fd, FILE_MODE)
    return fd


def tighten(directory: Path, names: tuple[str, ...]) -> None:
    """Make a journal created by an older udroll private: the directory and the named files in it."""
    _chmod(directory, DIR_MODE)
    for name in names:
        _chmod(directory / name, FILE_MODE)


def _chmod(path: Path, mode: int) -> None:
    # not ours (a shared parent): leave it to its owner; gone (SQLite removes its -shm and -wal files
    # when the last connection closes, even between a look and the chmod): nothing to tighten
    with contextlib.suppress(PermissionError, FileNotFoundError):
        if path.stat().st_uid == os.getuid():
            os.chmod(path, mode)
