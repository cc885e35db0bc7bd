"""Owned temporary folders and file locks, shared by the processes of one app home.

Datasets are written into a hidden temporary folder beside their destination and
renamed into place when complete. Each such folder records its owner (pid and
process start stamp) in a small file, so that one left behind by a process that
died (a crash, a kill, a closed laptop) can be told from one still being written
and removed later (`clean_stale`), with the same liveness check the run store
uses for runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

from core.paths import app_subdir
from core.store import _process_start, process_alive

OWNER_FILE = ".owner"
# Prefixes of the temporary folders written under `app_home()/datasets`.
TEMP_PREFIXES = (".import-", ".old-", ".demo-")
# A folder without an owner file is stale only once older than this: its
# owner may be between creating it and writing the file.
OWNERLESS_GRACE_S = 60.0


def owned_tempdir(parent: Path, prefix: str) -> Path:
    """A new hidden folder in `parent` whose owner file names this process."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    pid = os.getpid()
    (folder / OWNER_FILE).write_text(f"{pid} {_process_start(pid) or ''}\n")
    return folder


def owner_alive(folder: Path) -> bool:
    """Whether the process that created `folder` (per its owner file) still runs."""
    try:
        fields = (folder / OWNER_FILE).read_text().split()
        pid, started = int(fields[0]), (fields[1] if len(fields) > 1 else None)
    except (OSError, ValueError, IndexError):
        return _age(folder) < OWNERLESS_GRACE_S
    return process_alive(pid, started)


def clean_stale(parent: Path, prefixes: tuple[str, ...] = TEMP_PREFIXES) -> list[Path]:
    """Removes the temporary folders in `parent` whose owner has died.

    Returns:
        The folders removed.
    """
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefixes) or entry.is_symlink() or not entry.is_dir():
            continue
        if not owner_alive(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def clean_app_home() -> list[Path]:
    """Start-up housekeeping: the stale temporary folders under `app_home()/datasets`."""
    return clean_stale(app_subdir("datasets"))


@contextlib.contextmanager
def file_lock(path: Path):
    """Holds an exclusive `flock` on `path` (created) for the `with` block.

    The kernel drops the lock when the process dies, so a crash never leaves it held.
    """
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _age(folder: Path) -> float:
    try:
        return time.time() - folder.stat().st_mtime
    except OSError:
        return 0.0
