"""Build a dataset from pictures given one class at a time (as Teachable Machine does).

The Data page collects uploads and webcam shots per class; `build_dataset` checks
every picture with `core.imaging.open_rgb`, skips (and names) the ones that are
not images, splits each class into training and validation at random (seeded)
and writes the blog's layout into `app_home()/datasets/<name>/`:

    <name>/train/<class>/*.jpg
    <name>/validation/<class>/*.jpg

The folder is written beside its destination and moved into place only when
complete, so a failed build leaves nothing behind.

Example:

    built = build_dataset("pets", {"cats": [("c1.jpg", data1), ...], "dogs": [...]})
    load_dataset(built.path)
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import DatasetError, ImageError
from core.i18n import _
from core.imaging import IMAGE_EXTENSIONS, open_rgb
from core.paths import app_subdir

MIN_PER_CLASS = 2  # one for training and one for validation, at the very least
_SUFFIX_BY_FORMAT = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "GIF": ".gif", "WEBP": ".webp"}


@dataclass
class BuiltDataset:
    """What `build_dataset` wrote: the folder, images per split and class, files skipped."""

    path: Path
    counts: dict[str, dict[str, int]]  # split -> class -> images written
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)


def build_dataset(
    name: str,
    pictures: dict[str, list],
    val_fraction: float = 0.2,
    seed: int = 1337,
    replace: bool = False,
) -> BuiltDataset:
    """Write pictures given per class as a dataset with an automatic validation split.

    Args:
        name: the dataset's name (its folder under `app_home()/datasets/`).
        pictures: class name -> pictures, each `(file name, bytes)`, a path, or a
            file object with a `name` (such as Streamlit's `UploadedFile`).
        val_fraction: share of each class kept for validation (at least one image).
        seed: the split's random seed (the same pictures split the same way).
        replace: overwrite an existing dataset of that name.

    Returns:
        The `BuiltDataset`; pictures that are not images are skipped and listed.

    Raises:
        DatasetError: a bad name, fewer than two classes, a class with fewer than
            two usable pictures, or a name already taken (without `replace`).
    """
    folder_name = _safe_name(name, "dataset")
    classes = {_safe_name(c, "class"): items for c, items in pictures.items()}
    if len(classes) != len(pictures):
        raise DatasetError(_("Two classes have the same name once cleaned; name them apart."))
    if len(classes) < 2:
        raise DatasetError(_("A dataset needs at least 2 classes; add another class."))
    if not 0 < val_fraction < 1:
        message = _("The validation share must be between 0 and 1, not {value}.")
        raise DatasetError(message.format(value=val_fraction))
    datasets = app_subdir("datasets")
    dest = datasets / folder_name
    if dest.exists() and not replace:
        message = _("A dataset named '{name}' already exists; choose another name or replace it.")
        raise DatasetError(message.format(name=folder_name))
    skipped: list[tuple[str, str]] = []
    checked = {c: _usable(items, skipped) for c, items in classes.items()}
    too_few = [f"'{c}' ({len(v)})" for c, v in checked.items() if len(v) < MIN_PER_CLASS]
    if too_few:
        message = _("Each class needs at least {n} usable pictures; too few in {classes}.")
        raise DatasetError(message.format(n=MIN_PER_CLASS, classes=", ".join(too_few)))
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{folder_name}-", dir=datasets))
    try:
        counts = _write_splits(tmp, checked, val_fraction, seed)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuiltDataset(dest, counts, skipped)


def _write_splits(root: Path, checked: dict, val_fraction: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    counts: dict[str, dict[str, int]] = {"train": {}, "validation": {}}
    for class_name, items in checked.items():
        order = rng.permutation(len(items))
        n_val = min(len(items) - 1, max(1, round(len(items) * val_fraction)))
        for rank, index in enumerate(order):
            split = "validation" if rank < n_val else "train"
            filename, data = items[index]
            folder = root / split / class_name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / filename).write_bytes(data)
            counts[split][class_name] = counts[split].get(class_name, 0) + 1
    return counts


def _usable(items: list, skipped: list) -> list[tuple[str, bytes]]:
    """(unique file name with an image extension, bytes) of the pictures that decode."""
    usable, taken = [], set()
    for number, item in enumerate(items, start=1):
        label, data = _read(item, number)
        try:
            open_rgb(data, name=label)
        except ImageError as exc:
            skipped.append((label, str(exc)))
            continue
        filename = _file_name(label, data, number, taken)
        taken.add(filename.lower())
        usable.append((filename, data))
    return usable


def _read(item, number: int) -> tuple[str, bytes]:
    if isinstance(item, tuple):
        label, data = item
        return str(label), bytes(data)
    if isinstance(item, (str, os.PathLike)):
        return Path(item).name, Path(item).read_bytes()
    if hasattr(item, "seek"):
        item.seek(0)
    label = getattr(item, "name", None) or f"picture {number}"
    return Path(str(label)).name, item.read()


def _file_name(label: str, data: bytes, number: int, taken: set) -> str:
    """A safe, unique name that the dataset listing counts as an image."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(label).stem).strip("._-") or "picture"
    suffix = Path(label).suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            suffix = _SUFFIX_BY_FORMAT.get(img.format or "", ".png")
    filename = f"{stem[:60]}{suffix}"
    if filename.lower() in taken:
        filename = f"{stem[:60]}_{number}{suffix}"
    return filename


def _safe_name(name: str, what: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._ -]+", "_", str(name)).strip("._- ")
    if not cleaned:
        if what == "class":
            message = _("'{name}' is not a usable class name; use letters or digits.")
        else:
            message = _("'{name}' is not a usable dataset name; use letters or digits.")
        raise DatasetError(message.format(name=name))
    return cleaned[:80]
