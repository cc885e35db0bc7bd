"""The input pipeline: decode and resize each image once, then serve tf.data epochs.

`load_split` decodes a split with Pillow on a thread pool (decoding releases the
GIL) into one uint8 array, memoised in this process: the same split feeds many
runs. `make_tf_dataset` turns that array into shuffled, batched, prefetched
`tf.data` epochs of `(float32 images in [0, 255], int32 labels)`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from core.datasets import Dataset
from core.errors import DatasetError, ImageError
from core.imaging import RESIZE_MODES, load_square

# Decoded splits kept in memory; 2800 images at 150 px take 190 MB.
CACHE_BUDGET_BYTES = 1536 * 2**20

_cache: OrderedDict[tuple, DecodedSplit] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass
class DecodedSplit:
    """One split decoded and resized, with labels aligned to file paths.

    Attributes:
        images: `(n, size, size, 3)` uint8 array.
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
        dataset contents and arguments. Treat its arrays as read-only.

    Raises:
        DatasetError: the split does not exist or none of its images decodes.
        ValueError: an unknown resize mode or a non-positive size.
    """
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"resize_mode must be one of {RESIZE_MODES}. Received: {resize_mode!r}")
    if image_size <= 0:
        raise ValueError(f"image_size must be positive. Received: image_size={image_size}")
    if split not in dataset.splits:
        raise DatasetError(f"Dataset '{dataset.name}' has no {split} split.")
    key = (dataset.fingerprint(), split, int(image_size), resize_mode)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    decoded = _decode(dataset, split, int(image_size), resize_mode, progress)
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
        raise DatasetError("No decodable images to train or evaluate on.")
    images = tf.constant(decoded.images)
    labels = tf.constant(decoded.labels, dtype=tf.int32)

    def gather(indices):
        # One gather per batch, instead of slicing and re-batching every image.
        return tf.cast(tf.gather(images, indices), tf.float32), tf.gather(labels, indices)

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


def clear_cache() -> None:
    """Forgets every decoded split (frees the memory)."""
    with _cache_lock:
        _cache.clear()


def _decode(dataset, split, size, mode, progress) -> DecodedSplit:
    samples = dataset.splits[split]
    images, ok, skipped = decode_samples(samples, size, mode, progress)
    if not ok.any():
        raise DatasetError(f"None of the {len(samples)} images in the {split} split decodes.")
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


def decode_samples(samples: list, size: int, mode: str, progress=None):
    """Decodes and resizes `Sample`s on a thread pool (decoding releases the GIL).

    Returns:
        `(images, ok, skipped)`: a `(n, size, size, 3)` uint8 array (zeros where a file
        failed), a boolean mask of the files that decoded, and `(path, reason)` of the rest.
    """
    images = np.zeros((len(samples), size, size, 3), dtype=np.uint8)
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
        while len(_cache) > 1 and sum(d.images.nbytes for d in _cache.values()) > (
            CACHE_BUDGET_BYTES
        ):
            _cache.popitem(last=False)
