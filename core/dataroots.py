"""Which dataset folders the app may open: the app home and the folders the owner allows.

The Streamlit server may be reachable by other people, so a typed path must not
open arbitrary folders of the machine. Allowed are the app home's `datasets/`
folder (zip imports and downloads land there) and the folders listed in the
environment variable `LDL_ALLOWED_DIRS` (separated by the OS path separator,
`:` on Linux), e.g. `LDL_ALLOWED_DIRS=~/photos:../shared/datasets`.
"""

import os
from pathlib import Path

from core.errors import DatasetError
from core.i18n import _
from core.paths import app_subdir

ALLOWED_DIRS_ENV = "LDL_ALLOWED_DIRS"


def allowed_roots() -> list[Path]:
    """The folders under which datasets may be opened (resolved, existing or not)."""
    roots = [app_subdir("datasets")]
    for entry in os.environ.get(ALLOWED_DIRS_ENV, "").split(os.pathsep):
        if entry.strip():
            roots.append(Path(entry.strip()).expanduser().resolve())
    return roots


def check_allowed(path: str | os.PathLike) -> Path:
    """The resolved folder, if it lies under an allowed root.

    Args:
        path: the folder the user typed (`~` is expanded; symlinks are resolved,
            so a link cannot lead outside the allowed folders).

    Returns:
        The resolved path.

    Raises:
        DatasetError: the path holds a NUL character, is outside every allowed
            root, or is not a folder.
    """
    refuse_nul(path)
    folder = Path(path).expanduser().resolve()
    if not any(folder == root or root in folder.parents for root in allowed_roots()):
        raise DatasetError(
            _(
                "{folder} is outside the folders this app may open; "
                "add its parent to {variable} to allow it."
            ).format(folder=folder, variable=ALLOWED_DIRS_ENV)
        )
    if not folder.is_dir():
        raise DatasetError(_("{folder} is not a folder.").format(folder=folder))
    return folder


def refuse_nul(path: str | os.PathLike) -> None:
    """Raises a one-sentence `DatasetError` for a path holding a NUL byte (which no OS accepts)."""
    if "\0" in str(path):
        raise DatasetError(
            _("The path {path} contains a NUL character, which no file name can hold.").format(
                path=repr(str(path))
            )
        )


def local_datasets() -> list[Path]:
    """Candidate dataset folders: the sub-folders of every allowed root, sorted."""
    found = []
    for root in allowed_roots():
        if root.is_dir():
            found += sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return found
