"""Bottleneck features: run a conv base once over the data, cache the result on disk.

The cache lives in `app_home()/cache/features/<key>.npz`, where the key hashes
everything the features depend on: the dataset's content fingerprint, the backbone,
its weights (ImageNet or random), image size, resize mode and the number K of
augmented copies of each training image (with the augmentation settings and seed
when K > 0). A second run with the same settings loads the file and extracts nothing.

Training features hold each image once un-augmented, then K augmented copies
(the blog's footnote); validation and test features are never augmented.

The same cache holds the outputs of a fine-tuning model's frozen prefix (issue 13,
`prefix_key`, `load_or_compute`): fine-tuning without augmentation computes them once
and trains only the unfrozen tail on them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from core import models
from core.paths import app_subdir

CACHE_VERSION = 1
SPLITS = ("train", "validation", "test")
# Images per forward pass: bounds the float32 copy made of each chunk.
CHUNK = 256


@dataclass
class FeatureSet:
    """Features per split with their labels and source files.

    Attributes:
        x: split -> `(n, h, w, c)` float32 features.
        y: split -> `(n,)` int labels.
        paths: split -> source files (train: repeated for each augmented copy).
        class_names: the dataset's classes.
        cache_hit: True when loaded from disk without extracting.
        extract_seconds: time spent extracting (0 on a cache hit).
        path: the cache file.
    """

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    paths: dict[str, list[str]]
    class_names: list[str]
    cache_hit: bool = False
    extract_seconds: float = 0.0
    path: Path | None = None
    feature_shape: tuple[int, ...] = field(default=())


def feature_key(
    fingerprint: str,
    backbone: str,
    pretrained: bool,
    image_size: int,
    resize_mode: str,
    copies: int = 0,
    augment: dict | None = None,
    seed: int | None = None,
    prefix: dict | None = None,
    weights: str | None = None,
) -> str:
    """The cache key: a hash of every setting the features depend on.

    `weights`: a digest of a random base's weights (`weights_digest`), which depend on
    the seed and on what ran before in the process; "imagenet" ones need none.

    `prefix` (issue 13): the outputs of a fine-tuning model's frozen prefix rather
    than of the whole base: its split layer, a digest of its weights and its precision.
    """
    parts = {
        "version": CACHE_VERSION,
        "dataset": fingerprint,
        "backbone": backbone,
        "weights": "imagenet" if pretrained else "random",
        **({"weights_digest": weights} if weights else {}),
        "size": int(image_size),
        "resize": resize_mode,
        "copies": int(copies),
    }
    if copies > 0:  # augmentation only matters when augmented copies are made
        parts.update(augment=augment or {}, seed=seed)
    if prefix is not None:  # absent for bottleneck features: their keys stay as they were
        parts["prefix"] = prefix
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]
    kind = "-prefix" if prefix is not None else ""
    return f"{backbone}-{image_size}{kind}-{digest}"


def run_feature_key(config, fingerprint: str, base: keras.Model | None = None) -> str:
    """The cache key of a run's features: its `TrainConfig` on a dataset's fingerprint.

    `base`: the built conv base, needed when it has random weights (not pretrained).
    """
    if not config.pretrained and base is None:
        raise ValueError("random weights: the key needs the built base")
    weights = None if config.pretrained else weights_digest(base)
    return feature_key(
        fingerprint, config.backbone, config.pretrained, config.image_size, config.resize_mode,
        config.augment_copies, config.augment.to_dict(), config.seed, weights=weights,
    )  # fmt: skip


def prefix_key(config, fingerprint: str, layer: str, model: keras.Model, precision: str) -> str:
    """The cache key of a fine-tuning run's frozen-prefix outputs (`models.FinetuneSplit`).

    The weights are keyed by a digest of their values, not by "imagenet"/"random":
    random weights depend on the seed and on what ran before in the process.
    """
    prefix = {"layer": layer, "weights": weights_digest(model), "precision": precision}
    return feature_key(
        fingerprint, config.backbone, config.pretrained, config.image_size, config.resize_mode,
        config.augment_copies, config.augment.to_dict(), config.seed, prefix=prefix,
    )  # fmt: skip


def weights_digest(model: keras.Model) -> str:
    """A hash of every weight value of `model` (milliseconds for a conv base)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"{weight.path}:{value.dtype}:{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:20]


def cache_path(key: str) -> Path:
    """Where the features of `key` are cached."""
    folder = app_subdir("cache") / "features"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{key}.npz"


def count_batches(n: int, batch_size: int = 32) -> int:
    """Forward passes `extract` makes over `n` images (per chunk, the last batch smaller)."""
    return sum(math.ceil(min(CHUNK, n - i) / batch_size) for i in range(0, n, CHUNK))


def extract(
    model: keras.Model,
    images: np.ndarray,
    batch_size: int = 32,
    augmenter=None,
    on_batch: Callable[[], None] | None = None,
) -> np.ndarray:
    """Features of uint8 images, in chunks (never a float copy of the whole split).

    With an augmenter, each chunk is augmented first (eagerly, `training=True`: a
    functional model would switch the augmentation off inside `predict`).
    `on_batch()`, when given, is called after each forward pass.
    """
    from core.callbacks import PredictProgress

    chunks = []
    for i in range(0, len(images), CHUNK):
        chunk = images[i : i + CHUNK].astype("float32")
        if augmenter is not None:
            chunk = keras.ops.convert_to_numpy(augmenter(chunk, training=True))
        callbacks = []
        if on_batch is not None:
            callbacks.append(PredictProgress(lambda _images: on_batch(), batch_size, len(chunk)))
        chunks.append(model.predict(chunk, batch_size=batch_size, verbose=0, callbacks=callbacks))
    return np.concatenate(chunks).astype("float32")


def load_or_extract(
    splits: dict,
    class_names: list[str],
    key: str,
    make_base: Callable[[], keras.Model],
    backbone: str,
    copies: int = 0,
    augmenter=None,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureSet:
    """Loads cached features for `key`, or extracts and caches them.

    Args:
        splits: split name -> `DecodedSplit` (from `core.pipeline.load_split`).
        class_names: the dataset's class names.
        key: from `feature_key`.
        make_base: builds the conv base (only called when extracting).
        backbone: the base's registry key.
        copies, augmenter, batch_size, progress: as `load_or_compute`'s.

    Returns:
        The `FeatureSet`.
    """
    return load_or_compute(
        splits, class_names, key,
        lambda: models.extraction_model(make_base(), backbone),
        copies, augmenter, batch_size, progress,
    )  # fmt: skip


def load_or_compute(
    splits: dict,
    class_names: list[str],
    key: str,
    make_model: Callable[[], keras.Model],
    copies: int = 0,
    augmenter=None,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureSet:
    """Loads cached outputs of a model over raw images for `key`, or computes and caches
    them: bottleneck features (`load_or_extract`), or a fine-tuning model's frozen
    prefix (`core.training`, issue 13).

    Args:
        splits: split name -> `DecodedSplit` (from `core.pipeline.load_split`).
        class_names: the dataset's class names.
        key: from `feature_key` / `prefix_key`.
        make_model: builds the model taking raw [0, 255] images (only called when
            computing; it must run in inference mode).
        copies: K augmented copies of each training image.
        augmenter: the augmentation stack for the copies (needed when K > 0).
        batch_size: images per forward pass.
        progress: optional `progress(done, total)` in forward passes (batches) over
            every split and copy; not called on a cache hit.

    Returns:
        The `FeatureSet`.
    """
    path = cache_path(key)
    if path.is_file():
        try:
            return _load(path, class_names)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a damaged cache file is re-extracted
    start = time.perf_counter()
    total = sum(count_batches(len(d), batch_size) for d in splits.values())
    total += copies * count_batches(len(splits["train"]), batch_size)
    done = 0

    def on_batch() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    plain = make_model()
    x, y, paths = {}, {}, {}
    for split, decoded in splits.items():
        x[split] = extract(plain, decoded.images, batch_size, on_batch=on_batch)
        y[split] = np.asarray(decoded.labels, dtype="int32")
        paths[split] = list(decoded.paths)
    if copies > 0:
        if augmenter is None:
            raise ValueError("Augmented copies need an augmenter.")
        train = splits["train"]
        extra = [
            extract(plain, train.images, batch_size, augmenter, on_batch) for _ in range(copies)
        ]
        x["train"] = np.concatenate([x["train"], *extra])
        y["train"] = np.tile(y["train"], copies + 1)
        paths["train"] = paths["train"] * (copies + 1)
    seconds = time.perf_counter() - start
    _save(path, x, y, paths)
    features = FeatureSet(x, y, paths, list(class_names), False, seconds, path)
    features.feature_shape = tuple(x["train"].shape[1:])
    return features


def _save(path: Path, x, y, paths) -> None:
    arrays = {}
    for split in x:
        arrays[f"{split}_x"], arrays[f"{split}_y"] = x[split], y[split]
        arrays[f"{split}_paths"] = np.asarray(paths[split], dtype=str)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def _load(path: Path, class_names) -> FeatureSet:
    x, y, paths = {}, {}, {}
    with np.load(path) as data:
        for split in SPLITS:
            if f"{split}_x" in data:
                x[split] = data[f"{split}_x"]
                y[split] = data[f"{split}_y"]
                paths[split] = [str(p) for p in data[f"{split}_paths"]]
    if "train" not in x or "validation" not in x:
        raise ValueError(f"incomplete feature cache {path}")
    features = FeatureSet(x, y, paths, list(class_names), True, 0.0, path)
    features.feature_shape = tuple(x["train"].shape[1:])
    return features
