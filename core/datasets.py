"""Image datasets on disk: layout detection, class names, the seeded split.

Two layouts are accepted, possibly inside one top-level folder:

- the blog's: `train/` and `validation/` (or `val/`, `valid/`) and an optional
  `test/`, each holding one sub-folder per class;
- a single folder of class sub-folders, split here into train/validation with
  a seeded, stratified split.

Listing never decodes anything: files that are not images by name are skipped
and recorded in `Dataset.skipped`; undecodable images are found later by the
health report and the pipeline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.dataroots import allowed_roots, refuse_nul
from core.errors import DatasetError
from core.i18n import N_, _
from core.imaging import is_image_name

SPLITS = ("train", "validation", "test")
# Each split in words, for messages (the identifiers above stay English).
SPLIT_WORDS = {"train": N_("train"), "validation": N_("validation"), "test": N_("test")}
_SPLIT_ALIASES = {"train": "train", "validation": "validation", "val": "validation"}
_SPLIT_ALIASES.update({"valid": "validation", "test": "test"})
# Operating-system clutter that is never data and never worth reporting.
_JUNK_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}
# Reasons recorded in `Dataset.skipped` that the health report counts apart.
OUTSIDE_REASON = N_("outside the folders this app may open")
HIDDEN_REASON = N_("a hidden file (such as a macOS '._' resource fork), ignored")


@dataclass(frozen=True)
class Sample:
    """One image file and its class index (in `Dataset.class_names` order)."""

    path: str
    label: int


def display_name(name: str, synthetic: bool) -> str:
    """A dataset's name for users: generated data is marked "(synthetic)", once.

    A synthetic set's name is translated (the demo's is in the catalog); a folder's is not.
    """
    if not synthetic:
        return name
    if "synthetic" in name:
        return _(name)
    return _("{name} (synthetic)").format(name=name)


def split_word(split: str) -> str:
    """A split's name ("train", "validation", "test") in the session's language."""
    return _(SPLIT_WORDS[split]) if split in SPLIT_WORDS else split


@dataclass
class Dataset:
    """A listed dataset: class names and the files of each split.

    Attributes:
        name: a display name (the folder's name, or the demo's).
        root: the folder holding the splits or the class folders.
        class_names: sorted class folder names; labels index into this list.
        splits: `train`, `validation` and optionally `test`, each a list of samples.
        synthetic: True for generated data (the demo), shown as such in the UI.
        skipped: `(path, reason)` for every file or folder ignored while listing.
    """

    name: str
    root: Path
    class_names: list[str]
    splits: dict[str, list[Sample]]
    synthetic: bool = False
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def display_name(self) -> str:
        """The name shown to users: marked "(synthetic)" for generated data."""
        return display_name(self.name, self.synthetic)

    def class_samples(self, split: str, class_name: str) -> list[Sample]:
        """The samples of one class in one split, in listing order.

        Raises:
            KeyError: no such split; ValueError: no such class.
        """
        label = self.class_names.index(class_name)
        return [s for s in self.splits[split] if s.label == label]

    @property
    def is_binary(self) -> bool:
        """Two classes: one sigmoid unit and labels 0/1."""
        return self.num_classes == 2

    def counts(self) -> dict[str, dict[str, int]]:
        """Number of files per split and class, e.g. `{"train": {"cats": 1000, ...}}`."""
        result = {}
        for split, samples in self.splits.items():
            labels = np.bincount([s.label for s in samples], minlength=self.num_classes)
            result[split] = {c: int(n) for c, n in zip(self.class_names, labels, strict=True)}
        return result

    def fingerprint(self) -> str:
        """A stable hash of the listing (split, label, relative path, size, mtime).

        Changes whenever a file is added, removed, relabelled or rewritten, so it
        serves as the cache key for decoded images and bottleneck features.
        """
        digest = hashlib.sha256("\0".join(self.class_names).encode())
        for split in sorted(self.splits):
            for sample in self.splits[split]:
                try:
                    stat = os.stat(sample.path)
                    meta = f"{stat.st_size}:{stat.st_mtime_ns}"
                except OSError:
                    meta = "missing"
                rel = _relative(sample.path, self.root)
                digest.update(f"\n{split}\0{sample.label}\0{rel}\0{meta}".encode())
        return digest.hexdigest()[:16]


def load_dataset(path: str | os.PathLike, val_fraction: float = 0.2, seed: int = 1337) -> Dataset:
    """Lists a dataset folder in either accepted layout.

    Args:
        path: the dataset folder (or a folder holding exactly one such folder).
        val_fraction: share of each class held out for validation when the
            folder has no `validation/` split of its own.
        seed: seed of that split; the same seed gives the same split.

    Returns:
        The `Dataset`, with sorted class names and files sorted by path.

    Raises:
        DatasetError: the folder does not exist, has no class folders, only one
            class, a class without training images, or an empty split.
        ValueError: `val_fraction` outside (0, 1).
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1. Received: {val_fraction}")
    refuse_nul(path)
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DatasetError(_("{folder} is not a folder.").format(folder=folder))
    root = _find_root(folder.resolve())
    skipped: list[tuple[str, str]] = []
    lister = _Lister(skipped, [folder.resolve(), *allowed_roots()])
    split_dirs = _split_dirs(root)
    if "train" in split_dirs:
        files = {s: lister.classes(d) for s, d in split_dirs.items()}
        _skip_loose_files(root, set(split_dirs.values()), skipped)
        if "validation" not in files:
            files["train"], files["validation"] = _split(files["train"], val_fraction, seed, root)
    else:
        classes = lister.classes(root)
        files = dict(
            zip(("train", "validation"), _split(classes, val_fraction, seed, root), strict=True)
        )
    return _assemble(root, files, skipped)


def fold_dataset(dataset: Dataset, folds: int, fold: int, seed: int) -> Dataset:
    """The dataset as fold `fold` of `folds`-fold cross-validation (issue 10).

    Train and validation are pooled and each class, its paths sorted and shuffled
    with `seed`, is dealt round the folds (stratified: each fold holds every class
    in its share); fold `fold` is the validation split, the others train. The same
    (seed, folds, fold) always gives the same split, and the folds partition the
    pool. A `test` split stays as it is. The fingerprint follows the new splits, so
    decoded images and bottleneck features are cached per fold.

    Raises:
        DatasetError: a class has fewer images than folds (some fold could not
            validate on it, or train without it).
        ValueError: `folds` below 2 or `fold` outside [0, folds).
    """
    if folds < 2 or not 0 <= fold < folds:
        raise ValueError(f"fold must be in [0, {folds}) with at least 2 folds. Received: {fold}")
    pooled: dict[str, list[str]] = {name: [] for name in dataset.class_names}
    for split in ("train", "validation"):
        for sample in dataset.splits.get(split, []):
            pooled[dataset.class_names[sample.label]].append(sample.path)
    train, validation = {}, {}
    rng, dealt = np.random.default_rng(seed), 0
    for name, paths in pooled.items():
        if len(paths) < folds:
            raise DatasetError(
                _(
                    "Class '{name}' in {root} has {n} images, fewer than the {folds} folds; "
                    "use fewer folds."
                ).format(name=name, root=dataset.root, n=len(paths), folds=folds)
            )
        folds_of = fold_assignment(len(paths), folds, rng, start=dealt)
        dealt += len(paths)
        ordered = sorted(paths)
        validation[name] = [p for p, f in zip(ordered, folds_of, strict=True) if f == fold]
        train[name] = [p for p, f in zip(ordered, folds_of, strict=True) if f != fold]
    files = {"train": train, "validation": validation}
    if "test" in dataset.splits:
        files["test"] = {name: [] for name in dataset.class_names}
        for sample in dataset.splits["test"]:
            files["test"][dataset.class_names[sample.label]].append(sample.path)
    result = _assemble(dataset.root, files, list(dataset.skipped))
    return dataclasses.replace(result, name=dataset.name, synthetic=dataset.synthetic)


def fold_assignment(n: int, folds: int, rng: np.random.Generator, start: int = 0) -> np.ndarray:
    """The fold (0..folds-1) of each of `n` sorted items: shuffled by `rng`, then dealt in
    turn from fold `start % folds` (the next class continues where the last stopped, so
    the folds' sizes differ by at most one overall, and within each class)."""
    order = rng.permutation(n)
    assignment = np.empty(n, dtype=int)
    assignment[order] = (start + np.arange(n)) % folds
    return assignment


def resolve_dataset(spec: str | os.PathLike | Dataset) -> Dataset:
    """`"demo"` gives the built-in synthetic dataset; anything else is a folder path."""
    if isinstance(spec, Dataset):
        return spec
    if str(spec).strip().lower() == "demo":
        from core.demo import demo_dataset  # Lazy: demo imports this module.

        return demo_dataset()
    return load_dataset(spec)


def _find_root(folder: Path) -> Path:
    # Archives often wrap the data in one top-level folder: step into it when
    # it is the only entry and itself holds folders.
    entries = _visible(folder)
    if _split_dirs(folder) or len(entries) != 1 or not entries[0].is_dir():
        return folder
    inner = entries[0]
    return inner if any(e.is_dir() for e in _visible(inner)) else folder


def _visible(folder: Path) -> list[Path]:
    return sorted(
        e for e in folder.iterdir() if e.name not in _JUNK_NAMES and not e.name.startswith(".")
    )


def _split_dirs(root: Path) -> dict[str, Path]:
    found = {}
    for entry in _visible(root):
        split = _SPLIT_ALIASES.get(entry.name.lower())
        if entry.is_dir() and split and split not in found:
            found[split] = entry
    return found


class _Lister:
    """Lists class folders and their images, skipping (and recording) what must not be read.

    Symbolic links are resolved: a class folder or file whose real location lies
    outside `allowed` (the dataset's own folder and the allowed roots of
    `core.dataroots`) is skipped, so a link cannot make the app read, train on or
    show files elsewhere on the machine.
    """

    def __init__(self, skipped: list, allowed: list[Path]):
        self.skipped = skipped
        self.allowed = allowed

    def classes(self, folder: Path) -> dict[str, list[str]]:
        """`{class name: sorted image paths}` for the class folders directly under `folder`."""
        classes = {}
        if not self._inside(folder):
            return classes
        for entry in _visible(folder):
            if not entry.is_dir():
                self.skipped.append((str(entry), _("not inside a class folder, ignored")))
                continue
            if not self._inside(entry):
                continue
            images = self._images(entry)
            if images:
                classes[entry.name] = images
            else:
                reason = _("empty class folder (no image files), ignored")
                self.skipped.append((str(entry), reason))
        return classes

    def _images(self, folder: Path) -> list[str]:
        images = []
        # os.walk does not descend into linked folders (followlinks=False).
        for dirpath, dirnames, filenames in os.walk(folder):
            subfolders = sorted(d for d in dirnames if d not in _JUNK_NAMES and d[0] != ".")
            linked = [d for d in subfolders if os.path.islink(os.path.join(dirpath, d))]
            for name in linked:
                reason = _("a linked folder inside a class folder, not followed")
                self.skipped.append((os.path.join(dirpath, name), reason))
            dirnames[:] = [d for d in subfolders if d not in linked]
            for filename in sorted(filenames):
                path = os.path.join(dirpath, filename)
                if filename in _JUNK_NAMES:
                    continue
                if filename.startswith("."):
                    self.skipped.append((path, _(HIDDEN_REASON)))
                elif not is_image_name(filename):
                    ext = Path(filename).suffix or _("no extension")
                    reason = _("not an image file by its extension ({ext}), ignored")
                    self.skipped.append((path, reason.format(ext=ext)))
                elif not os.path.islink(path) or self._inside(Path(path)):
                    images.append(path)
        return sorted(images)

    def _inside(self, path: Path) -> bool:
        """Whether `path`, links resolved, lies in an allowed folder; records it if not."""
        real = path.resolve()
        if any(real == root or root in real.parents for root in self.allowed):
            return True
        reason = _("leads to {target}, {outside}; skipped")  # `outside`: OUTSIDE_REASON
        self.skipped.append((str(path), reason.format(target=real, outside=_(OUTSIDE_REASON))))
        return False


def _skip_loose_files(root: Path, split_dirs: set[Path], skipped: list) -> None:
    for entry in _visible(root):
        if entry not in split_dirs:
            skipped.append((str(entry), _("not a train/validation/test folder, ignored")))


def _split(classes: dict[str, list[str]], val_fraction: float, seed: int, root: Path):
    """`_stratified_split`, refusing when no class has an image to spare for validation."""
    train, validation = _stratified_split(classes, val_fraction, seed)
    if len(classes) > 1 and not any(validation.values()):
        raise DatasetError(
            _(
                "Every class in {root} has only one image; each class needs at least two, "
                "one to train on and one to validate with."
            ).format(root=root)
        )
    return train, validation


def _stratified_split(classes: dict[str, list[str]], val_fraction: float, seed: int):
    """Holds out `val_fraction` of each class (at least one image when it has two)."""
    rng = np.random.default_rng(seed)
    train, validation = {}, {}
    for name in sorted(classes):
        paths = sorted(classes[name])
        order = rng.permutation(len(paths))
        n_val = min(max(1, round(len(paths) * val_fraction)), len(paths) - 1)
        validation[name] = sorted(paths[i] for i in order[:n_val])
        train[name] = sorted(paths[i] for i in order[n_val:])
    return train, validation


def _assemble(root: Path, files: dict[str, dict[str, list[str]]], skipped) -> Dataset:
    class_names = sorted(set().union(*(classes.keys() for classes in files.values())))
    if not class_names:
        raise DatasetError(_("{root} holds no class folders with images.").format(root=root))
    if len(class_names) == 1:
        raise DatasetError(
            _("{root} holds only one class ('{name}'); a classifier needs at least two.").format(
                root=root, name=class_names[0]
            )
        )
    for name in class_names:
        if not files["train"].get(name):
            raise DatasetError(
                _("Class '{name}' in {root} has no training images.").format(name=name, root=root)
            )
    splits = {}
    for split in SPLITS:
        if split not in files:
            continue
        samples = [
            Sample(path, label)
            for label, name in enumerate(class_names)
            for path in files[split].get(name, [])
        ]
        if not samples:
            raise DatasetError(
                _("The {split} split of {root} holds no images.").format(
                    split=split_word(split), root=root
                )
            )
        splits[split] = samples
    return Dataset(root.name, root, class_names, splits, skipped=skipped)


def _relative(path: str, root: Path) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:  # Another drive on Windows.
        return path
