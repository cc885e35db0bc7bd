"""The dataset health report: what is in a dataset, and what is wrong with it.

Every file is read and decoded once (on a thread pool): its bytes give an exact
content hash, its pixels a 64-bit difference hash (dHash) and two thumbnails
(16×16 grey, 12×12 colour). Two images are near-duplicates when their hashes are
close AND both thumbnails correlate strongly: the hash alone matches unrelated
photos with a similar layout (a white dog on grey, a white cat on grey), the
grey thumbnail alone matches same-shaped demo images of different colours. A near-duplicate
shared between train and validation/test is data leakage: the validation score
would reward memorising.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image

from core.datasets import OUTSIDE_REASON, Dataset, display_name, split_word
from core.errors import ImageError
from core.i18n import _
from core.imaging import open_rgb

# Near-duplicates: at most this many dHash bits differ, and the grey and colour
# thumbnails correlate at least this much. Resized, recompressed, brightened,
# slightly cropped or rotated copies pass; no pair of distinct images in the
# shared cats_vs_dogs and flowers5 sets, nor in the demo, does.
NEAR_DUPLICATE_BITS = 10
NEAR_DUPLICATE_CORRELATION = {"grey": 0.93, "colour": 0.9}
_THUMB_SIZES = {"grey": 16, "colour": 12}
# Train classes further apart than this ratio (largest / smallest) are flagged.
IMBALANCE_RATIO = 1.5
_SIZE_BUCKETS = ((64, "< 64 px"), (128, "64–127 px"), (256, "128–255 px"), (512, "256–511 px"))
_SIZE_BUCKETS += ((1024, "512–1023 px"), (float("inf"), "≥ 1024 px"))


@dataclass
class SideStats:
    """Smallest, median and largest value of one side (width or height), in pixels."""

    min: int
    median: int
    max: int

    def text(self, unit: str = "") -> str:
        """ "40–640 (median 320)"; with `unit=" px"`, "40–640 px (median 320)"."""
        return _("{low}–{high}{unit} (median {median})").format(
            low=self.min, high=self.max, unit=unit, median=self.median
        )


@dataclass
class ImageSizes:
    """The sizes of a dataset's decodable images."""

    width: SideStats
    height: SideStats
    longer_side: dict[str, int]  # images per bucket of the longer side ("< 64 px": 18, ...)


@dataclass
class Conflict:
    """Identical files filed under different classes."""

    classes: list[str]
    paths: list[str]


@dataclass
class Leak:
    """A near-duplicate pair shared by train and validation/test."""

    train: str  # the training file
    other: str  # its near-copy in `split`
    split: str
    distance: int  # differing dHash bits


@dataclass
class HealthReport:
    """What `health_report` found. All fields are JSON-friendly.

    Attributes:
        counts: decodable images per split and class.
        undecodable: `(path, reason)` for files that look like images but do not decode.
        ignored: `(path, reason)` for files and folders skipped when listing.
        formats: files per image format (JPEG, PNG...); modes likewise (RGB, L, CMYK...).
        sizes: min / median / max width and height, and a histogram of the longer side
            (None when no image decodes).
        duplicates: groups of files with identical bytes (within or across splits).
        conflicts: label conflicts, identical files filed under different classes.
        leaks: near-duplicate pairs shared by train and validation/test.
        imbalance: per split, largest class count / smallest (1.0 is balanced).
        problems: plain-English sentences, blocking ones first.
        usable: False when a problem stops training (see `blocking`).
    """

    name: str
    root: str
    synthetic: bool
    class_names: list[str]
    counts: dict[str, dict[str, int]]
    undecodable: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    sizes: ImageSizes | None = None
    duplicates: list[list[str]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    leaks: list[Leak] = field(default_factory=list)
    imbalance: dict[str, float] = field(default_factory=dict)
    blocking: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.blocking

    @property
    def display_name(self) -> str:
        """The dataset's name, marked "(synthetic)" for generated data (`Dataset.display_name`)."""
        return display_name(self.name, self.synthetic)

    def totals(self) -> dict[str, int]:
        """Decodable images per split."""
        return {split: sum(per_class.values()) for split, per_class in self.counts.items()}

    def to_dict(self) -> dict:
        data = asdict(self)
        data["sizes"] = data["sizes"] or {}  # the JSON shape of old: {} when nothing decodes
        data["usable"] = self.usable
        data["totals"] = self.totals()
        return data

    def to_text(self) -> str:
        """A human-readable summary, as the CLI prints it."""
        lines = [_("Dataset {name}: {root}").format(name=self.display_name, root=self.root)]
        lines.append(
            _("{n} classes: {names}").format(
                n=len(self.class_names), names=", ".join(self.class_names)
            )
        )
        for split, per_class in self.counts.items():
            detail = ", ".join(f"{c} {n}" for c, n in per_class.items())
            images = _("{n} images ({detail})").format(
                n=f"{self.totals()[split]:>6}", detail=detail
            )
            lines.append(f"  {split_word(split):<10} {images}")
        lines.append(
            _("Formats: {formats}; modes: {modes}").format(
                formats=_tally(self.formats), modes=_tally(self.modes)
            )
        )
        if self.sizes:
            lines.append(
                _("Sizes: width {width}, height {height}; longer side: {sides}").format(
                    width=self.sizes.width.text(),
                    height=self.sizes.height.text(),
                    sides=_tally(self.sizes.longer_side),
                )
            )
        undecodable = [r for _path, r in self.undecodable]
        lines += _listing(_("Files that cannot be decoded ({n}):"), undecodable)
        ignored = [f"{path}: {reason}" for path, reason in self.ignored]
        lines += _listing(_("Ignored ({n}):"), ignored)
        for group in self.duplicates[:10]:
            lines.append(_("Identical files: {files}").format(files=", ".join(group)))
        for leak in self.leaks[:10]:
            lines.append(
                _("Near-duplicate across train/{split} ({bits} bits): {train} ~ {other}").format(
                    split=leak.split, bits=leak.distance, train=leak.train, other=leak.other
                )
            )
        lines.append(_("Problems:") if self.problems else _("No problems found."))
        lines += [f"  - {p}" for p in self.problems]
        lines.append(_("Usable for training.") if self.usable else _("NOT usable for training."))
        return "\n".join(lines)


@dataclass
class _FileInfo:
    path: str
    split: str
    label: int
    error: str | None = None
    format: str = ""
    mode: str = ""
    width: int = 0
    height: int = 0
    sha1: str = ""
    dhash: int = 0
    thumbs: dict[str, np.ndarray] = field(default_factory=dict)  # Standardised, flat.


def health_report(
    dataset: Dataset, progress: Callable[[int, int], None] | None = None
) -> HealthReport:
    """Inspects every file of a dataset.

    Args:
        dataset: the listed dataset (see `core.datasets.load_dataset`).
        progress: optional `progress(done, total)` called as files are read.

    Returns:
        The `HealthReport`. It never raises for a bad file: each is reported.
    """
    jobs = [(split, s) for split, samples in dataset.splits.items() for s in samples]
    infos = []
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + 1) as pool:
        for done, info in enumerate(pool.map(lambda job: _inspect(*job), jobs), start=1):
            infos.append(info)
            if progress and (done % 64 == 0 or done == len(jobs)):
                progress(done, len(jobs))
    good = [i for i in infos if i.error is None]
    report = HealthReport(
        name=dataset.name,
        root=str(dataset.root),
        synthetic=dataset.synthetic,
        class_names=list(dataset.class_names),
        counts=_counts(dataset, good),
        undecodable=[(i.path, i.error) for i in infos if i.error is not None],
        ignored=list(dataset.skipped),
        formats=dict(Counter(i.format for i in good).most_common()),
        modes=dict(Counter(i.mode for i in good).most_common()),
        sizes=_sizes(good),
        duplicates=_exact_duplicates(good),
        conflicts=_label_conflicts(good, dataset.class_names),
        leaks=_leaks(good),
    )
    report.imbalance = _imbalance(report.counts)
    report.blocking, warnings = _judge(report)
    report.problems = report.blocking + warnings
    return report


def dhash(img: Image.Image) -> int:
    """64-bit difference hash: is each pixel of a 9×8 grey thumbnail brighter than its left?"""
    grey = np.asarray(img.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def _inspect(split: str, sample) -> _FileInfo:
    info = _FileInfo(sample.path, split, sample.label)
    try:
        with open(sample.path, "rb") as f:
            data = f.read()
        # A small draft is plenty for hashing and still decodes every byte.
        img = open_rgb(data, name=sample.path, draft=32)
        with Image.open(io.BytesIO(data)) as header:
            info.format, info.mode = header.format or "?", header.mode
            info.width, info.height = header.size
    except ImageError as exc:
        info.error = str(exc)
        return info
    except OSError as exc:
        info.error = f"{sample.path} cannot be read ({exc})."
        return info
    info.sha1 = hashlib.sha1(data).hexdigest()
    info.dhash = dhash(img)
    info.thumbs = {
        "grey": _thumbnail(img.convert("L"), _THUMB_SIZES["grey"]),
        "colour": _thumbnail(img, _THUMB_SIZES["colour"]),
    }
    return info


def _thumbnail(img: Image.Image, size: int) -> np.ndarray:
    # Standardised, so a dot product / length is a correlation (brightness-proof).
    pixels = np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), np.float32)
    pixels = pixels.ravel()
    return (pixels - pixels.mean()) / (pixels.std() + 1e-3)


def _counts(dataset: Dataset, good: list[_FileInfo]) -> dict[str, dict[str, int]]:
    tally = Counter((i.split, i.label) for i in good)
    return {
        split: {name: tally[(split, label)] for label, name in enumerate(dataset.class_names)}
        for split in dataset.splits
    }


def _sizes(good: list[_FileInfo]) -> ImageSizes | None:
    if not good:
        return None
    widths = np.array([i.width for i in good])
    heights = np.array([i.height for i in good])
    longer = np.maximum(widths, heights)
    buckets = Counter(next(label for top, label in _SIZE_BUCKETS if side < top) for side in longer)
    return ImageSizes(
        width=_stats(widths),
        height=_stats(heights),
        longer_side={label: buckets[label] for _, label in _SIZE_BUCKETS if buckets[label]},
    )


def _stats(values: np.ndarray) -> SideStats:
    return SideStats(int(values.min()), int(np.median(values)), int(values.max()))


def _exact_duplicates(good: list[_FileInfo]) -> list[list[str]]:
    groups = defaultdict(list)
    for info in good:
        groups[info.sha1].append(info.path)
    return sorted(sorted(paths) for paths in groups.values() if len(paths) > 1)


def _label_conflicts(good: list[_FileInfo], class_names: list[str]) -> list[Conflict]:
    """Identical files under different classes."""
    groups = defaultdict(list)
    for info in good:
        groups[info.sha1].append(info)
    conflicts = []
    for infos in groups.values():
        labels = sorted({i.label for i in infos})
        if len(labels) > 1:
            conflicts.append(
                Conflict(
                    classes=[class_names[label] for label in labels],
                    paths=sorted(i.path for i in infos),
                )
            )
    return sorted(conflicts, key=lambda c: c.paths)


def _is_conflict(group: list[str], conflicts: list[Conflict]) -> bool:
    return any(sorted(group) == c.paths for c in conflicts)


def _leaks(good: list[_FileInfo]) -> list[Leak]:
    train = [i for i in good if i.split == "train" and _informative(i.dhash)]
    if not train:
        return []
    train_hashes = np.array([i.dhash for i in train], dtype=np.uint64)
    train_thumbs = {kind: np.stack([i.thumbs[kind] for i in train]) for kind in _THUMB_SIZES}
    leaks = []
    for split in ("validation", "test"):
        others = [i for i in good if i.split == split and _informative(i.dhash)]
        if not others:
            continue
        other_hashes = np.array([i.dhash for i in others], dtype=np.uint64)
        other_thumbs = {kind: np.stack([i.thumbs[kind] for i in others]) for kind in _THUMB_SIZES}
        for start in range(0, len(train), 1024):  # Bounded memory on big datasets.
            rows = slice(start, start + 1024)
            distance = np.bitwise_count(train_hashes[rows, None] ^ other_hashes)
            close = distance <= NEAR_DUPLICATE_BITS
            for kind, threshold in NEAR_DUPLICATE_CORRELATION.items():
                a, b = train_thumbs[kind][rows], other_thumbs[kind]
                close &= a @ b.T / a.shape[1] >= threshold
            for t, o in zip(*np.nonzero(close), strict=True):
                leaks.append(
                    Leak(
                        train=train[start + t].path,
                        other=others[o].path,
                        split=split,
                        distance=int(distance[t, o]),
                    )
                )
    return sorted(leaks, key=lambda leak: (leak.distance, leak.train))


def _informative(hash_value: int) -> bool:
    # Flat images hash to (almost) all zeros and would all "match" each other.
    return 4 <= hash_value.bit_count() <= 60


def _imbalance(counts: dict[str, dict[str, int]]) -> dict[str, float]:
    ratios = {}
    for split, per_class in counts.items():
        present = [n for n in per_class.values() if n > 0]
        if present:
            ratios[split] = round(max(present) / min(present), 2)
    return ratios


def _judge(report: HealthReport) -> tuple[list[str], list[str]]:
    """Splits what is wrong into (blocking problems, warnings)."""
    blocking, warnings = [], []
    for split, total in report.totals().items():
        if total == 0:
            blocking.append(
                _("The {split} split has no image that decodes.").format(split=split_word(split))
            )
    train = report.counts.get("train", {})
    for name, n in train.items():
        if n == 0:
            blocking.append(
                _("Class '{name}' has no training image that decodes.").format(name=name)
            )
    for split, per_class in report.counts.items():
        missing = [name for name, n in per_class.items() if n == 0]
        if split != "train" and missing and report.totals()[split]:
            names = ", ".join(f"'{m}'" for m in missing)
            warnings.append(
                _("The {split} split has no images of {names}.").format(
                    split=split_word(split), names=names
                )
            )
    ratio = report.imbalance.get("train", 1.0)
    if ratio >= IMBALANCE_RATIO:
        big = max(train, key=train.get)
        small = min((n for n in train.values() if n > 0), default=0)
        small_name = next(name for name, n in train.items() if n == small)
        warnings.append(
            _(
                "The training classes are imbalanced: '{big}' has {ratio}× as many images "
                "as '{small}'."
            ).format(big=big, ratio=f"{ratio:.1f}", small=small_name)
        )
    if report.undecodable:
        warnings.append(
            _("{n} file(s) cannot be decoded and will be skipped.").format(
                n=len(report.undecodable)
            )
        )
    outside = [path for path, reason in report.ignored if _is_outside(reason)]
    if outside:
        warnings.append(
            _(
                "{n} file(s) or folder(s) are links leading outside the folders this app may "
                "open and were skipped (see Ignored)."
            ).format(n=len(outside))
        )
    if len(report.ignored) > len(outside):
        warnings.append(
            _("{n} file(s) or folder(s) are not images and were ignored (see Ignored).").format(
                n=len(report.ignored) - len(outside)
            )
        )
    for conflict in report.conflicts[:5]:
        warnings.append(
            _(
                "Label conflict: the same picture is filed under {classes} ({paths}); "
                "keep it in one class only."
            ).format(
                classes=_(" and ").join(f"'{c}'" for c in conflict.classes),  # Korean: ", "
                paths=", ".join(conflict.paths),
            )
        )
    if len(report.conflicts) > 5:
        warnings.append(
            _("... and {n} more label conflict(s).").format(n=len(report.conflicts) - 5)
        )
    copies = [g for g in report.duplicates if not _is_conflict(g, report.conflicts)]
    if copies:
        extra = sum(len(g) - 1 for g in copies)
        warnings.append(
            _("{n} file(s) are exact copies of another file in the dataset.").format(n=extra)
        )
    if report.leaks:
        warnings.append(
            _(
                "{n} near-duplicate pair(s) are shared between train and validation/test, "
                "which inflates the validation score (data leakage)."
            ).format(n=len(report.leaks))
        )
    return blocking, warnings


def _is_outside(reason: str) -> bool:
    """Whether a skip reason says a link leads outside the allowed folders (either language)."""
    return OUTSIDE_REASON in reason or _(OUTSIDE_REASON) in reason


def _tally(counter: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.items()) or _("none")


def _listing(title: str, items: list[str], limit: int = 20) -> list[str]:
    """`title` (with an `{n}` for the count) and the first `limit` items, indented."""
    if not items:
        return []
    lines = [title.format(n=len(items))]
    lines += [f"  {item}" for item in items[:limit]]
    if len(items) > limit:
        lines.append(_("  ... and {n} more").format(n=len(items) - limit))
    return lines
