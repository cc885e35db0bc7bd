"""Decoded splits on disk, for datasets larger than the memory budget.

A split whose decoded size is above `memory_budget_bytes()` is decoded straight into
a memory-mapped `.npy` file under `app_home()/cache/decoded/` and served from there,
so the process never holds the whole split in memory. One entry is two files named
by a hash of the cache key (dataset fingerprint, split, size, resize mode):

- `<name>.npy`: the `(n, size, size, 3)` uint8 images, read back with `mmap_mode="r"`;
- `<name>.json`: labels, paths, skipped files and class names, written last: it marks
  the entry complete.

Both are written under temporary names holding the writer's pid and renamed into
place when complete, so a decode killed half way never leaves a file that is reused;
`prune` removes such leftovers once their writer has died, and the least recently
used entries beyond `disk_budget_bytes()`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import DatasetError
from core.i18n import _
from core.paths import app_subdir

# Without LDL_MEMORY_BUDGET_MB, a split stays in memory while its decoded size is at most
# this share of the memory available now: training needs room beside it (a float32 batch
# copy, the model, TensorFlow itself).
MEMORY_FRACTION = 0.3
# Without LDL_DISK_CACHE_MB, the decoded cache keeps at most this much on disk...
DISK_CACHE_CAP_BYTES = 20 * 2**30
# ... and never more than this share of the disk's free space (itself included).
DISK_FRACTION = 0.5
# Bumped when the files' layout changes, so older entries are never read.
FORMAT = 1
_TMP_MARK = ".tmp"


def memory_budget_bytes() -> int:
    """The largest split (decoded bytes) to keep in memory.

    `LDL_MEMORY_BUDGET_MB` (megabytes, 0 sends every split to disk) when set, else
    `MEMORY_FRACTION` of the memory available now.
    """
    setting = os.environ.get("LDL_MEMORY_BUDGET_MB", "").strip()
    if setting:
        try:
            return max(0, int(float(setting) * 2**20))
        except ValueError as exc:
            message = _("{variable} must be a number of megabytes. Received: {value}")
            raise DatasetError(
                message.format(variable="LDL_MEMORY_BUDGET_MB", value=repr(setting))
            ) from exc
    return int(MEMORY_FRACTION * available_memory_bytes())


def available_memory_bytes() -> int:
    """Memory available to new allocations: /proc/meminfo's MemAvailable, else sysconf."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return 4 * 2**30  # unknown platform: assume a small machine


def disk_budget_bytes() -> int:
    """The most the decoded cache keeps on disk (`LDL_DISK_CACHE_MB` overrides)."""
    setting = os.environ.get("LDL_DISK_CACHE_MB", "").strip()
    if setting:
        try:
            return max(0, int(float(setting) * 2**20))
        except ValueError as exc:
            message = _("{variable} must be a number of megabytes. Received: {value}")
            raise DatasetError(
                message.format(variable="LDL_DISK_CACHE_MB", value=repr(setting))
            ) from exc
    folder = cache_dir()
    room = shutil.disk_usage(folder).free + _entries_bytes(folder)
    return int(min(DISK_CACHE_CAP_BYTES, DISK_FRACTION * room))


def cache_dir() -> Path:
    """`app_home()/cache/decoded`, created."""
    folder = app_subdir("cache") / "decoded"
    folder.mkdir(exist_ok=True)
    return folder


def entry_name(key: tuple) -> str:
    """The file stem for a cache key (fingerprint, split, size, resize mode)."""
    return hashlib.sha256(repr((FORMAT, *key)).encode()).hexdigest()[:24]


@dataclass
class Entry:
    """A complete entry: the read-only memory-mapped images and their metadata."""

    images: np.memmap
    labels: np.ndarray
    paths: list[str]
    skipped: list[tuple[str, str]]
    class_names: list[str]


def load(key: tuple) -> Entry | None:
    """The complete entry for `key`, or None (absent, half written or damaged)."""
    folder, name = cache_dir(), entry_name(key)
    meta_path, images_path = folder / f"{name}.json", folder / f"{name}.npy"
    try:
        meta = json.loads(meta_path.read_text())
        images = np.load(images_path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if list(images.shape) != meta.get("shape") or images.dtype != np.uint8:
        return None
    os.utime(meta_path)  # recently used: pruned last
    return Entry(
        images=images,
        labels=np.asarray(meta["labels"], dtype=np.int32),
        paths=list(meta["paths"]),
        skipped=[tuple(item) for item in meta["skipped"]],
        class_names=list(meta["class_names"]),
    )


def lock_path(key: tuple) -> Path:
    """The lock file that serialises writers of one entry across processes."""
    return cache_dir() / f"{entry_name(key)}.lock"


def create(key: tuple, shape: tuple) -> tuple[Path, np.memmap]:
    """A new temporary images file to decode into: `(its path, a writable memmap)`.

    Raises:
        DatasetError: the disk has no room for it (a memmap on a full disk crashes
            the process when written, so this is checked first).
    """
    folder = cache_dir()
    needed = int(np.prod(shape))
    prune(keep_free=needed)
    free = shutil.disk_usage(folder).free
    if needed * 1.05 + 2**26 > free:
        message = _(
            "Not enough disk space in {folder} to cache the decoded images: they need "
            "{needed} MB and {free} MB are free. Free some space, lower the image size or "
            "raise LDL_MEMORY_BUDGET_MB."
        )
        raise DatasetError(
            message.format(
                folder=folder, needed=f"{needed / 2**20:.0f}", free=f"{free / 2**20:.0f}"
            )
        )
    path = folder / f"{entry_name(key)}.{os.getpid()}{_TMP_MARK}.npy"
    from numpy.lib.format import open_memmap

    return path, open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)


def commit(key: tuple, tmp_path: Path, images: np.memmap, keep: np.ndarray, meta: dict) -> Entry:
    """Completes an entry: keeps the rows in `keep`, renames the files into place.

    Args:
        key: the cache key.
        tmp_path, images: from `create`, filled.
        keep: boolean mask of the rows to keep (the files that decoded).
        meta: `labels`, `paths`, `skipped`, `class_names` of the kept rows.

    Returns:
        The entry, read back from its final files.
    """
    folder, name = cache_dir(), entry_name(key)
    if not keep.all():
        tmp_path, images = _compact(folder, name, tmp_path, images, keep)
    images.flush()
    shape = list(images.shape)
    (folder / f"{name}.json").unlink(missing_ok=True)  # a stale one must not pair with it
    os.replace(tmp_path, folder / f"{name}.npy")
    meta_tmp = folder / f"{name}.{os.getpid()}{_TMP_MARK}.json"
    meta_tmp.write_text(json.dumps({"format": FORMAT, "shape": shape, **meta}))
    os.replace(meta_tmp, folder / f"{name}.json")  # last: the entry is now complete
    entry = load(key)
    if entry is None:
        message = _("The decoded cache entry {file} could not be read back.")
        raise DatasetError(message.format(file=f"{folder / name}.npy"))
    return entry


def discard(tmp_path: Path) -> None:
    """Removes a temporary file of a decode that failed."""
    tmp_path.unlink(missing_ok=True)


def _compact(folder, name, tmp_path, images, keep):
    kept_path = folder / f"{name}.{os.getpid()}.kept{_TMP_MARK}.npy"
    from numpy.lib.format import open_memmap

    kept = open_memmap(
        kept_path, mode="w+", dtype=np.uint8, shape=(int(keep.sum()), *images.shape[1:])
    )
    rows = np.flatnonzero(keep)
    for start in range(0, len(rows), 256):  # in chunks: never the whole split in memory
        kept[start : start + 256] = images[rows[start : start + 256]]
    tmp_path.unlink()  # the caller's mapping stays valid until dropped
    return kept_path, kept


def prune(keep_free: int = 0) -> list[Path]:
    """Removes dead writers' temporary files, then least recently used entries.

    Entries go, oldest use first, while the cache holds more than `disk_budget_bytes()`
    minus `keep_free` (room for an entry about to be written). A process still reading
    a removed entry keeps its mapping (the file lives on until unmapped).

    Returns:
        The files removed.
    """
    from core.store import process_alive

    folder = cache_dir()
    removed = []
    for path in folder.iterdir():
        if _TMP_MARK in path.name and not _writer_alive(path, process_alive):
            path.unlink(missing_ok=True)
            removed.append(path)
    limit = disk_budget_bytes() - keep_free
    entries = sorted(_complete_entries(folder), key=lambda item: item[1])
    total = sum(size for _name, _used, size in entries)
    for name, _used, size in entries:
        if total <= limit:
            break
        # Its lock file stays (empty): removing it could let two writers in at once.
        for suffix in (".json", ".npy"):
            path = folder / f"{name}{suffix}"
            if path.exists():
                path.unlink(missing_ok=True)
                removed.append(path)
        total -= size
    return removed


def _writer_alive(path: Path, process_alive) -> bool:
    try:
        pid = int(path.name.split(".")[1])
    except (IndexError, ValueError):
        return False
    return pid == os.getpid() or process_alive(pid, None)


def _complete_entries(folder: Path) -> list[tuple[str, float, int]]:
    """`(name, last use, bytes)` of every entry; images without metadata count too."""
    entries = []
    for images_path in folder.glob("*.npy"):
        if _TMP_MARK in images_path.name:
            continue
        name = images_path.stem
        meta_path = folder / f"{name}.json"
        try:
            used = meta_path.stat().st_mtime if meta_path.exists() else 0.0
            entries.append((name, used, images_path.stat().st_size))
        except OSError:
            continue
    return entries


def _entries_bytes(folder: Path) -> int:
    return sum(size for _name, _used, size in _complete_entries(folder))
