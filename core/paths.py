"""Where the app keeps its files, and where the shared read-only data lives."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def app_home() -> Path:
    """The folder for everything the app writes: datasets, caches, runs.

    `./.littledata` (relative to the working directory) unless the environment
    variable `LDL_HOME` names another folder. Created on first use.
    """
    home = Path(os.environ.get("LDL_HOME") or ".littledata").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def app_subdir(name: str) -> Path:
    """A named sub-folder of the app home (`datasets`, `cache`, `runs`...), created."""
    path = app_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_dir() -> Path:
    """The read-only development data: `LDL_SHARED`, by default `../shared` beside the project."""
    return Path(os.environ.get("LDL_SHARED") or PROJECT_ROOT.parent / "shared").resolve()
