"""Input pipeline speed: core.pipeline against keras.utils.image_dataset_from_directory.

On the same files in the same run (default: ../shared/datasets/cats_vs_dogs,
2800 images at 150×150), measures images/second for
  - the first pass: decode + resize (+ cache, for ours) of every image;
  - a later pass: one shuffled epoch in batches of 16 (ours from the cache,
    Keras decoding again, as it does every epoch).
All files are read once beforehand so both sides start from a warm disk cache.

    python bench/data_pipeline.py [--data PATH] [--size 150] [--batch 16]
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import pipeline  # noqa: E402
from core.datasets import load_dataset  # noqa: E402
from core.paths import shared_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=shared_dir() / "datasets" / "cats_vs_dogs")
    parser.add_argument("--size", type=int, default=150)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    dataset = load_dataset(args.data)
    splits = [s for s in ("train", "validation") if s in dataset.splits]
    n = sum(len(dataset.splits[s]) for s in splits)
    for split in splits:  # Warm the OS file cache for both contenders.
        for sample in dataset.splits[split]:
            Path(sample.path).read_bytes()

    ours_first, decoded = _timed(lambda: [_load(dataset, s, args.size) for s in splits])
    ours_epoch = _ours_epoch(decoded, args.batch)
    keras_sets = _keras_datasets(dataset.root, splits, args.size, args.batch)
    keras_first, _ = _timed(lambda: [_drain(ds) for ds in keras_sets])
    keras_second, _ = _timed(lambda: [_drain(ds) for ds in keras_sets])

    print(f"{n} images from {dataset.root} at {args.size}×{args.size}, batch {args.batch}")
    print(f"{'':34}{'images/s':>10}{'vs Keras':>10}")
    for label, seconds, baseline in [
        ("Keras image_dataset_from_directory, 1st pass", keras_first, keras_first),
        ("Keras image_dataset_from_directory, 2nd pass", keras_second, keras_second),
        ("core.pipeline first pass (decode+cache)", ours_first, keras_first),
        ("core.pipeline cached epoch", ours_epoch, keras_second),
    ]:
        print(f"{label:44}{n / seconds:>10.0f}{baseline / seconds:>9.1f}×")


def _load(dataset, split, size):
    pipeline.clear_cache() if split == "train" else None
    return pipeline.load_split(dataset, split, size)


def _ours_epoch(decoded, batch):
    datasets = [pipeline.make_tf_dataset(d, batch, shuffle=True, seed=1) for d in decoded]
    for ds in datasets:  # Warm-up epoch: graph tracing, first allocations.
        _drain(ds)
    seconds, _ = _timed(lambda: [_drain(ds) for ds in datasets])
    return seconds


def _keras_datasets(root, splits, size, batch):
    import keras

    return [
        keras.utils.image_dataset_from_directory(
            root / split,
            image_size=(size, size),
            batch_size=batch,
            shuffle=True,
            seed=1,
            verbose=False,
        )
        for split in splits
    ]


def _drain(ds) -> int:
    count = 0
    for images, _ in ds:
        count += int(images.shape[0])
    return count


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


if __name__ == "__main__":
    main()
