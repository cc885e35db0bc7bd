"""Safe import of a zipped dataset (as uploaded through the browser).

Every member is checked before anything is written: no absolute paths, no `..`
traversal, no symlinks, no encrypted members, and limits on the file count, the
total uncompressed size and each member's compression ratio (zip bombs). The
archive is extracted into a temporary folder beside the destination and moved
into place only once it is complete and holds a usable dataset layout.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from core.datasets import load_dataset
from core.errors import DatasetError, ZipImportError
from core.paths import app_subdir

# Clutter added by macOS and Windows archivers, never data.
_JUNK_FOLDER = "__MACOSX"
_JUNK_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}


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
    dest = datasets / folder_name
    if dest.exists() and not overwrite:
        raise ZipImportError(
            f"A dataset named '{folder_name}' already exists; choose another name or remove it."
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".import-{folder_name}-", dir=datasets))
    try:
        extract_safely(source, tmp, limits=limits, label=label)
        try:
            root = load_dataset(tmp).root.relative_to(tmp.resolve())
        except DatasetError as exc:
            reason = str(exc).replace(str(tmp.resolve()), label)
            raise ZipImportError(f"{label} does not hold a usable dataset: {reason}") from exc
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / root


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
        raise ZipImportError(f"{label} is not a readable zip archive ({exc}).") from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not _is_junk(m.filename)]
        _check(members, label, limits)
        for member in members:
            _extract_one(archive, member, dest, label)
    return [m.filename for m in members]


def _check(members: list[zipfile.ZipInfo], label: str, limits: ZipLimits) -> None:
    if len(members) > limits.max_files:
        raise ZipImportError(
            f"{label} holds {len(members):,} files, more than the limit of {limits.max_files:,}."
        )
    total = 0
    for member in members:
        where = f"{label}: member '{member.filename}'"
        parts = PurePosixPath(member.filename.replace("\\", "/")).parts
        if member.filename.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", member.filename):
            raise ZipImportError(f"{where} has an absolute path, which is not allowed.")
        if ".." in parts:
            raise ZipImportError(
                f"{where} points outside the archive ('..'), which is not allowed."
            )
        if stat.S_ISLNK(member.external_attr >> 16):
            raise ZipImportError(f"{where} is a symbolic link, which is not allowed.")
        if member.flag_bits & 0x1:
            raise ZipImportError(f"{where} is encrypted; re-create the archive without a password.")
        if member.file_size >= limits.ratio_floor:
            ratio = member.file_size / max(member.compress_size, 1)
            if ratio > limits.max_ratio:
                raise ZipImportError(
                    f"{where} expands {ratio:,.0f}-fold, which looks like a zip bomb."
                )
        total += member.file_size
        if total > limits.max_total_bytes:
            raise ZipImportError(
                f"{label} expands to more than {limits.max_total_bytes / 2**30:.1f} GiB, "
                "the limit for an imported dataset."
            )


def _extract_one(archive: zipfile.ZipFile, member: zipfile.ZipInfo, dest: Path, label: str):
    target = dest.joinpath(*PurePosixPath(member.filename.replace("\\", "/")).parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # zipfile stops at the declared size and checks the CRC, so a member
        # cannot write more than `_check` allowed.
        with archive.open(member) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise ZipImportError(
            f"{label}: member '{member.filename}' cannot be extracted ({exc})."
        ) from exc


def _is_junk(filename: str) -> bool:
    parts = filename.replace("\\", "/").split("/")
    return _JUNK_FOLDER in parts or parts[-1] in _JUNK_FILES or parts[-1].startswith("._")


def _label(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return Path(getattr(source, "name", None) or "the archive").name


def _safe_name(name: str, label: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    if not cleaned:
        raise ZipImportError(f"'{name}' is not a usable dataset name for {label}.")
    return cleaned[:80]
