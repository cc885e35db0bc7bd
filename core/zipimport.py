"""Safe import of a zipped dataset (as uploaded through the browser).

Every member is checked before anything is written: no absolute paths, no `..`
traversal, no symlinks, no encrypted members, and limits on the file count, the
total uncompressed size and each member's compression ratio (zip bombs). The
archive is extracted into a temporary folder beside the destination and moved
into place only once it is complete and holds a usable dataset layout; an
existing dataset of the same name is replaced only when asked, and two imports
never delete each other's result.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from core.datasets import load_dataset
from core.errors import DatasetError, ZipImportError
from core.i18n import _
from core.paths import app_home, app_subdir
from core.tempdirs import OWNER_FILE, clean_stale, file_lock, owned_tempdir

# Clutter added by macOS and Windows archivers, never data.
_JUNK_FOLDER = "__MACOSX"
_JUNK_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}
_MAX_NAME_BYTES = 255  # one path component, on every common file system


@dataclass(frozen=True)
class ZipLimits:
    """What an archive may hold. Members of under `ratio_floor` bytes skip the ratio check."""

    max_files: int = 20_000
    max_total_bytes: int = 2 * 2**30
    max_ratio: float = 200.0
    ratio_floor: int = 1 * 2**20


DEFAULT_LIMITS = ZipLimits()


def import_zip(
    source: str | os.PathLike | BinaryIO,
    name: str | None = None,
    *,
    limits: ZipLimits = DEFAULT_LIMITS,
    overwrite: bool = False,
) -> Path:
    """Extracts a zipped dataset into `app_home()/datasets/<name>`.

    Args:
        source: the archive: a path or a binary file object (for example
            Streamlit's `UploadedFile`).
        name: the dataset folder's name; by default the archive's file name.
        limits: the safety limits.
        overwrite: replace an existing dataset of the same name.

    Returns:
        The dataset root inside the extracted folder, ready for `load_dataset`.

    Raises:
        ZipImportError: the archive is not a zip, has an unsafe member, exceeds
            a limit, holds no usable dataset, or the name is taken.
    """
    label = _label(source)
    folder_name = _safe_name(name or Path(label).stem, label)
    datasets = app_subdir("datasets")
    clean_stale(datasets)  # what imports killed mid-way left behind
    dest = datasets / folder_name
    if _exists(dest) and not overwrite:
        raise _name_taken(folder_name)
    tmp = owned_tempdir(datasets, f".import-{folder_name}-")
    try:
        extract_safely(source, tmp, limits=limits, label=label)
        try:
            root = load_dataset(tmp).root.relative_to(tmp.resolve())
        except DatasetError as exc:
            reason = str(exc).replace(str(tmp.resolve()), label)
            message = _("{archive} does not hold a usable dataset: {reason}")
            raise ZipImportError(message.format(archive=label, reason=reason)) from exc
        _move_into_place(tmp, dest, overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    (dest / OWNER_FILE).unlink(missing_ok=True)
    return dest / root


def free_name(name: str) -> str:
    """`name` made safe, or the first of `name-2`, `name-3`... that no dataset uses yet."""
    base = _safe_name(name, name)
    datasets = app_subdir("datasets")
    candidate, number = base, 1
    while _exists(datasets / candidate):
        number += 1
        candidate = f"{base[:75]}-{number}"
    return candidate


def _move_into_place(tmp: Path, dest: Path, overwrite: bool) -> None:
    """Renames the complete extraction to `dest`, atomically with respect to other imports.

    Under a lock shared by every import of this app home, the name is checked
    again (another import may have taken it meanwhile) and an old copy is moved
    aside before the rename, then removed: a reader sees the old dataset or the
    new one, never a half-written one, and no import deletes another's result.
    """
    aside = None
    try:
        with file_lock(app_home() / "import.lock"):
            if _exists(dest):
                if not overwrite:
                    raise _name_taken(dest.name)
                aside = owned_tempdir(dest.parent, f".old-{dest.name}-")
                dest.rename(aside / "dataset")
            tmp.rename(dest)
    finally:
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _name_taken(folder_name: str) -> ZipImportError:
    return ZipImportError(
        _(
            "A dataset named '{name}' already exists; import it under another name "
            "(for example '{free}') or choose to replace it."
        ).format(name=folder_name, free=free_name(folder_name))
    )


def extract_safely(
    source: str | os.PathLike | BinaryIO,
    dest: Path,
    *,
    limits: ZipLimits = DEFAULT_LIMITS,
    label: str | None = None,
) -> list[str]:
    """Checks every member of an archive, then extracts the safe ones into `dest`.

    macOS and Windows clutter (`__MACOSX/`, `.DS_Store`...) is left out.

    Returns:
        The extracted member names.

    Raises:
        ZipImportError: naming the archive (and member) and the problem.
    """
    label = label or _label(source)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        message = _("{archive} is not a readable zip archive ({reason}).")
        raise ZipImportError(message.format(archive=label, reason=exc)) from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not _is_junk(m.filename)]
        _check(members, label, limits)
        for member in members:
            _extract_one(archive, member, dest, label)
    return [m.filename for m in members]


def _check(members: list[zipfile.ZipInfo], label: str, limits: ZipLimits) -> None:
    if len(members) > limits.max_files:
        raise ZipImportError(
            _("{archive} holds {n} files, more than the limit of {limit}.").format(
                archive=label, n=f"{len(members):,}", limit=f"{limits.max_files:,}"
            )
        )
    total = 0
    folders = {prefix for member in members for prefix in _prefixes(member)}
    for member in members:
        where = {"archive": label, "member": _short(member.filename)}
        parts = _parts(member.filename)
        if member.filename.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", member.filename):
            message = _("{archive}: member '{member}' has an absolute path, which is not allowed.")
            raise ZipImportError(message.format(**where))
        if ".." in parts:
            message = _(
                "{archive}: member '{member}' points outside the archive ('..'), "
                "which is not allowed."
            )
            raise ZipImportError(message.format(**where))
        if stat.S_ISLNK(member.external_attr >> 16):
            message = _("{archive}: member '{member}' is a symbolic link, which is not allowed.")
            raise ZipImportError(message.format(**where))
        if parts in folders:
            message = _(
                "{archive}: member '{member}' is both a file and a folder in the archive; "
                "rename one of them."
            )
            raise ZipImportError(message.format(**where))
        long_part = next((p for p in parts if len(os.fsencode(p)) > _MAX_NAME_BYTES), None)
        if long_part is not None:
            message = _(
                "{archive}: member '{member}' has a name part of {n} bytes, "
                "longer than the {limit} a file name may have."
            )
            raise ZipImportError(
                message.format(**where, n=len(os.fsencode(long_part)), limit=_MAX_NAME_BYTES)
            )
        if member.flag_bits & 0x1:
            message = _(
                "{archive}: member '{member}' is encrypted; "
                "re-create the archive without a password."
            )
            raise ZipImportError(message.format(**where))
        if member.file_size >= limits.ratio_floor:
            ratio = member.file_size / max(member.compress_size, 1)
            if ratio > limits.max_ratio:
                message = _(
                    "{archive}: member '{member}' expands {ratio}-fold, "
                    "which looks like a zip bomb."
                )
                raise ZipImportError(message.format(**where, ratio=f"{ratio:,.0f}"))
        total += member.file_size
        if total > limits.max_total_bytes:
            message = _(
                "{archive} expands to more than {size} GiB, the limit for an imported dataset."
            )
            raise ZipImportError(
                message.format(archive=label, size=f"{limits.max_total_bytes / 2**30:.1f}")
            )


def _extract_one(archive: zipfile.ZipFile, member: zipfile.ZipInfo, dest: Path, label: str):
    target = dest.joinpath(*_parts(member.filename))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # zipfile stops at the declared size and checks the CRC, so a member
        # cannot write more than `_check` allowed.
        with archive.open(member) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        message = _("{archive}: member '{member}' cannot be extracted ({reason}).")
        raise ZipImportError(
            message.format(archive=label, member=_short(member.filename), reason=reason)
        ) from exc


def _parts(filename: str) -> tuple[str, ...]:
    return PurePosixPath(filename.replace("\\", "/")).parts


def _prefixes(member: zipfile.ZipInfo) -> list[tuple[str, ...]]:
    """The folders a member lies in: ("a",), ("a", "b") for "a/b/c.jpg"."""
    parts = _parts(member.filename)
    return [parts[:i] for i in range(1, len(parts))]


def _short(filename: str, limit: int = 80) -> str:
    return filename if len(filename) <= limit else filename[: limit - 1] + "…"


def _is_junk(filename: str) -> bool:
    parts = filename.replace("\\", "/").split("/")
    return _JUNK_FOLDER in parts or parts[-1] in _JUNK_FILES or parts[-1].startswith("._")


def _label(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return Path(getattr(source, "name", None) or _("the archive")).name


def _safe_name(name: str, label: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    if not cleaned:
        message = _("'{name}' is not a usable dataset name for {archive}.")
        raise ZipImportError(message.format(name=name, archive=label))
    return cleaned[:80]
