"""The input pipeline: decode and resize each image once, then serve tf.data epochs.

`load_split` decodes a split with Pillow on a thread pool (decoding releases the
GIL) into one uint8 array, memoised in this process: the same split feeds many
runs. A split larger than the memory budget (`core.disk_cache.memory_budget_bytes`)
is decoded into a memory-mapped file of the disk cache instead, reused by later
processes. `make_tf_dataset` turns either array into shuffled, batched, prefetched
`tf.data` epochs of `(float32 images in [0, 255], int32 labels)`, reading the
array batch by batch.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from core import disk_cache
from core.datasets import Dataset, split_word
from core.errors import DatasetError, ImageError
from core.i18n import _
from core.imaging import RESIZE_MODES, load_square

# Decoded splits kept in memory (memory-mapped ones cost nothing here); 2800 images at
# 150 px take 190 MB.
CACHE_BUDGET_BYTES = 1536 * 2**20

_cache: OrderedDict[tuple, DecodedSplit] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass
class DecodedSplit:
    """One split decoded and resized, with labels aligned to file paths.

    Attributes:
        images: `(n, size, size, 3)` uint8 array; a read-only `np.memmap` when the
            split is served from the disk cache.
        labels: `(n,)` int32 class indices.
        paths: the `n` source files, in the same order as `images` and `labels`.
        skipped: `(path, reason)` for files that could not be decoded.
        class_names: the dataset's class names (labels index into them).
    """

    images: np.ndarray
    labels: np.ndarray
    paths: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def on_disk(self) -> bool:
        """Whether the images are memory-mapped from the disk cache."""
        return isinstance(self.images, np.memmap)

    def memory_bytes(self) -> int:
        """The bytes this split holds in memory (none when memory-mapped)."""
        return 0 if self.on_disk else self.images.nbytes


def load_split(
    dataset: Dataset,
    split: str,
    image_size: int,
    resize_mode: str = "stretch",
    progress: Callable[[int, int], None] | None = None,
) -> DecodedSplit:
    """Decodes and resizes every image of one split, once per process.

    Args:
        dataset: the listed dataset.
        split: `train`, `validation` or `test`.
        image_size: side of the square images, in pixels.
        resize_mode: `stretch`, `crop` or `pad` (see `core.imaging.fit_to_square`).
        progress: optional `progress(done, total)` called as images are decoded.

    Returns:
        The `DecodedSplit`; the same object on a repeated call with the same
        dataset contents and arguments. Treat its arrays as read-only. When the
        split's decoded size is above `disk_cache.memory_budget_bytes()`, its images
        are memory-mapped from the disk cache: the same images, order, labels and
        skipped files as in memory.

    Raises:
        DatasetError: the split does not exist, none of its images decodes, or the
            disk has no room for a split above the memory budget.
        ValueError: an unknown resize mode or a non-positive size.
    """
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"resize_mode must be one of {RESIZE_MODES}. Received: {resize_mode!r}")
    if image_size <= 0:
        raise ValueError(f"image_size must be positive. Received: image_size={image_size}")
    if split not in dataset.splits:
        message = _("Dataset '{name}' has no {split} split.")
        raise DatasetError(message.format(name=dataset.name, split=split_word(split)))
    key = (dataset.fingerprint(), split, int(image_size), resize_mode)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    size = int(image_size)
    decoded_bytes = len(dataset.splits[split]) * size * size * 3
    if decoded_bytes > disk_cache.memory_budget_bytes():
        decoded = _load_on_disk(key, dataset, split, size, resize_mode, progress)
    else:
        decoded = _decode(dataset, split, size, resize_mode, progress)
    _remember(key, decoded)
    return decoded


def has_tensorflow() -> bool:
    """Whether TensorFlow is installed: without it, no tf.data (models take numpy arrays)."""
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def make_tf_dataset(
    decoded: DecodedSplit,
    batch_size: int,
    shuffle: bool,
    seed: int | None = None,
    augmenter=None,
    drop_remainder: bool = False,
    repeat: bool = False,
):
    """A `tf.data.Dataset` of `(float32 images in [0, 255], int32 labels)` batches.

    Args:
        decoded: a split from `load_split`.
        batch_size: images per batch.
        shuffle: reshuffle the whole split at every epoch (seeded by `seed`).
        seed: shuffling seed; the same seed gives the same sequence of epochs.
        augmenter: optional Keras layer or `Sequential` applied to each batch
            with `training=True` (random augmentation, training only).
        drop_remainder: drop the last, smaller batch.
        repeat: repeat the epochs endlessly (reshuffled each time) for
            `fit(..., steps_per_epoch=...)`. One iterator then serves every epoch:
            re-creating it per epoch stalled training for seconds on 2 cores
            while augmentation layers were in use (bench/scratch_epoch.py).

    Returns:
        A prefetched `tf.data.Dataset`.
    """
    import tensorflow as tf  # Lazy: pages import this module's siblings at start-up.

    if len(decoded) == 0:
        raise DatasetError(_("No decodable images to train or evaluate on."))
    gather = _gather(decoded)  # one read per batch, instead of slicing every image

    ds = tf.data.Dataset.range(len(decoded))
    if shuffle:
        ds = ds.shuffle(len(decoded), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if repeat:
        ds = ds.repeat()
    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    if augmenter is None:
        return ds.prefetch(tf.data.AUTOTUNE)
    # Augmenting whole batches runs the Keras layers vectorised. One batch at a time
    # and a short prefetch: on a small CPU, parallel augmentation only takes cores
    # from the model's own step.
    ds = ds.map(lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=1)
    return ds.prefetch(2)


def _gather(decoded: DecodedSplit):
    """Reads each batch's rows straight from the split's array, in memory or memory-mapped.

    Never a copy of the whole split: a `tf.constant` of it held two more copies at
    its peak (three times the split: bench/large_data.py), and a memory-mapped split
    must stay on disk. Only the batches in flight are in memory.
    """
    import tensorflow as tf

    labels = tf.constant(decoded.labels, dtype=tf.int32)
    shape = decoded.images.shape[1:]
    # uint8 pixels, or float32 outputs of a fine-tuning model's cached frozen prefix.
    dtype = tf.as_dtype(decoded.images.dtype)

    def read(indices):
        return decoded.images[indices]

    def gather(indices):
        batch = tf.numpy_function(read, [indices], dtype, stateful=False)
        batch.set_shape((None, *shape))
        return tf.cast(batch, tf.float32), tf.gather(labels, indices)

    return gather


def clear_cache() -> None:
    """Forgets every decoded split (frees the memory)."""
    with _cache_lock:
        _cache.clear()


def _decode(dataset, split, size, mode, progress) -> DecodedSplit:
    samples = dataset.splits[split]
    images, ok, skipped = decode_samples(samples, size, mode, progress)
    if not ok.any():
        raise _none_decodes(samples, split)
    kept = [s for s, good in zip(samples, ok, strict=True) if good]
    images = images if ok.all() else images[ok]
    images.flags.writeable = False  # Shared by every caller through the cache.
    return DecodedSplit(
        images=images,
        labels=np.array([s.label for s in kept], dtype=np.int32),
        paths=[s.path for s in kept],
        skipped=skipped,
        class_names=list(dataset.class_names),
    )


def _none_decodes(samples: list, split: str) -> DatasetError:
    message = _("None of the {n} images in the {split} split decodes.")
    return DatasetError(message.format(n=len(samples), split=split_word(split)))


def _load_on_disk(key, dataset, split, size, mode, progress) -> DecodedSplit:
    """The split from the disk cache, decoded into it first unless already complete."""
    from core.tempdirs import file_lock

    # One writer per entry across processes; the others wait, then reuse its files.
    with file_lock(disk_cache.lock_path(key)):
        entry = disk_cache.load(key)
        if entry is None:
            entry = _decode_to_disk(key, dataset, split, size, mode, progress)
        elif progress:
            progress(len(dataset.splits[split]), len(dataset.splits[split]))
    return DecodedSplit(
        images=entry.images,
        labels=entry.labels,
        paths=entry.paths,
        skipped=entry.skipped,
        class_names=entry.class_names,
    )


def _decode_to_disk(key, dataset, split, size, mode, progress) -> disk_cache.Entry:
    samples = dataset.splits[split]
    tmp_path, target = disk_cache.create(key, (len(samples), size, size, 3))
    try:
        _images, ok, skipped = decode_samples(samples, size, mode, progress, out=target)
        if not ok.any():
            raise _none_decodes(samples, split)
        kept = [s for s, good in zip(samples, ok, strict=True) if good]
        meta = {
            "labels": [int(s.label) for s in kept],
            "paths": [s.path for s in kept],
            "skipped": [list(item) for item in skipped],
            "class_names": list(dataset.class_names),
        }
        return disk_cache.commit(key, tmp_path, target, ok, meta)
    except BaseException:
        disk_cache.discard(tmp_path)
        raise


def decode_samples(samples: list, size: int, mode: str, progress=None, out=None):
    """Decodes and resizes `Sample`s on a thread pool (decoding releases the GIL).

    Args:
        out: optional zeroed `(n, size, size, 3)` uint8 array (a memmap of the disk
            cache) to decode into instead of a new array.

    Returns:
        `(images, ok, skipped)`: a `(n, size, size, 3)` uint8 array (zeros where a file
        failed), a boolean mask of the files that decoded, and `(path, reason)` of the rest.
    """
    images = np.zeros((len(samples), size, size, 3), dtype=np.uint8) if out is None else out
    ok = np.zeros(len(samples), dtype=bool)
    skipped = []
    done = 0

    def decode_one(index: int):
        try:
            images[index] = load_square(samples[index].path, size, mode)
            return None
        except ImageError as exc:
            return (samples[index].path, str(exc))

    workers = min(8, (os.cpu_count() or 1) + 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for index, problem in enumerate(pool.map(decode_one, range(len(samples)))):
            if problem:
                skipped.append(problem)
            else:
                ok[index] = True
            done += 1
            if progress and (done % 32 == 0 or done == len(samples)):
                progress(done, len(samples))
    return images, ok, skipped


def _remember(key: tuple, decoded: DecodedSplit) -> None:
    with _cache_lock:
        _cache[key] = decoded
        while len(_cache) > 1 and sum(d.memory_bytes() for d in _cache.values()) > (
            CACHE_BUDGET_BYTES
        ):
            _cache.popitem(last=False)
