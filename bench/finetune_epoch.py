"""Where a fine-tuning epoch's time goes, and what caching the frozen prefix saves.

    KERAS_HOME=/work/shared/keras_home python bench/finetune_epoch.py \\
        [--data /work/shared/datasets/cats_vs_dogs] [--limit 100] [--epochs 3] [--copies 4]
        [--out DIR]

MobileNetV2 1.0 at 224 px with its ImageNet weights, its last block unfrozen (the lab's
fine-tuning defaults: SGD 1e-4, batch 16, the flatten top), on the first `--limit`
images per class of each split. Each variant is fitted for `--epochs` epochs and timed
by a Keras callback; seconds per epoch are the median after the first (tracing) epoch:

- (a) full, augmented: the whole model, the blog's augmentation in the tf.data pipeline
  (what fine-tuning runs with its default settings), train + validation;
- (a0) full, not augmented: the same without augmentation (the path a run without
  augmentation took before the prefix cache);
- (b) prefix forward: the frozen prefix alone over the train + validation images
  (`predict`; what the cache costs once);
- (c) tail train step: the tail (unfrozen block + top) fitted on the cached prefix
  outputs of the training images, without validation;
- (d) cached-prefix epoch: the tail fitted on the cached outputs, validation included,
  through the same tf.data pipeline as the lab's run (`core.training._fit_finetune`);
- (e) K augmented copies (`--copies K`, `augment_copies` of a run; the blog's
  footnote): the prefix's outputs of K augmented copies of each training image,
  computed once (`core.features.extract` with the blog's augmentation), then the tail
  fitted on the plain outputs and the K copies together, validation included.

The ratios (a)/(d) and (a0)/(d) come from the same process, one variant after the
other. Results: bench/results/finetune_epoch.md and .json, with the load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BACKBONE, SIZE, BATCH, SEED = "mobilenet_v2_1.0", 224, 16, 1337


def limited(dataset, limit: int | None):
    """The dataset with the first `limit` images of each class in each split."""
    if not limit:
        return dataset
    splits = {}
    for split, samples in dataset.splits.items():
        counts: dict[int, int] = {}
        kept = []
        for sample in samples:
            if counts.get(sample.label, 0) < limit:
                counts[sample.label] = counts.get(sample.label, 0) + 1
                kept.append(sample)
        splits[split] = kept
    return dataclasses.replace(dataset, splits=splits)


def epoch_timer():
    import keras

    class Timer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return Timer()


def steady(seconds: list[float]) -> float:
    return statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/work/shared/datasets/cats_vs_dogs")
    parser.add_argument("--limit", type=int, default=100, help="images per class and split")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--copies", type=int, default=4, help="K for (e); 0: skip it")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()

    import keras
    import numpy as np

    from core import backbones, features, models
    from core.augment import build_augmenter
    from core.augment_config import PRESETS
    from core.datasets import load_dataset
    from core.fitting import compile_model
    from core.pipeline import DecodedSplit, load_split, make_tf_dataset
    from core.train_config import TrainConfig

    dataset = limited(load_dataset(args.data), args.limit)
    start = time.perf_counter()
    decoded = {s: load_split(dataset, s, SIZE) for s in ("train", "validation")}
    decode_seconds = time.perf_counter() - start
    n_train, n_val = len(decoded["train"]), len(decoded["validation"])
    steps = -(-n_train // BATCH)
    config = TrainConfig.defaults("finetune", backbone=BACKBONE, image_size=SIZE)

    keras.utils.set_random_seed(SEED)
    base = backbones.build_base(BACKBONE, SIZE, pretrained=True)
    top = models.make_top_model(base.output_shape[1:], 2, "flatten", 0.5)
    model = models.make_finetune_model(base, top, BACKBONE, None, 1)
    boundary = backbones.finetune_boundary(BACKBONE, base, 1)
    split = models.split_finetune_model(base, top, BACKBONE, boundary)
    augmenter = build_augmenter(PRESETS["blog: training"], seed=SEED)

    def images(name, augment=None, shuffle=True, repeat=True):
        return make_tf_dataset(
            decoded[name], BATCH, shuffle=shuffle, seed=SEED, augmenter=augment, repeat=repeat
        )

    def fit(net, train, val=None, copies=0):
        per_epoch = steps * (1 + copies)
        compile_model(net, config, 2, per_epoch)
        timer = epoch_timer()
        net.fit(
            train, validation_data=val, epochs=args.epochs, steps_per_epoch=per_epoch,
            callbacks=[timer], verbose=0,
        )  # fmt: skip
        return timer.seconds

    results = {}
    val_images = images("validation", shuffle=False, repeat=False)
    results["a_full_augmented"] = fit(model, images("train", augmenter), val_images)
    results["a0_full_plain"] = fit(model, images("train"), val_images)
    prefix_seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        outputs = {
            s: split.prefix.predict(d.images.astype("float32"), batch_size=32, verbose=0)
            for s, d in decoded.items()
        }
        prefix_seconds.append(time.perf_counter() - start)
    results["b_prefix_forward"] = prefix_seconds
    cached = {
        s: DecodedSplit(outputs[s], d.labels, d.paths, [], d.class_names)
        for s, d in decoded.items()
    }
    cached_train = make_tf_dataset(cached["train"], BATCH, True, SEED, repeat=True)
    cached_val = make_tf_dataset(cached["validation"], BATCH, False)
    results["c_tail_train_step"] = fit(split.tail, cached_train)
    results["d_cached_epoch"] = fit(split.tail, cached_train, cached_val)
    copies_seconds = None
    if args.copies:
        train = decoded["train"]
        start = time.perf_counter()
        extra = [
            features.extract(split.prefix, train.images, 32, augmenter) for _ in range(args.copies)
        ]
        copies_seconds = time.perf_counter() - start
        k = 1 + args.copies
        copied = DecodedSplit(
            np.concatenate([outputs["train"], *extra]), np.tile(train.labels, k),
            train.paths * k, [], train.class_names,
        )  # fmt: skip
        copied_train = make_tf_dataset(copied, BATCH, True, SEED, repeat=True)
        results["e_copies_epoch"] = fit(split.tail, copied_train, cached_val, args.copies)

    rows = {name: steady(seconds) for name, seconds in results.items()}
    report = {
        "backbone": BACKBONE,
        "image_size": SIZE,
        "batch_size": BATCH,
        "train_images": n_train,
        "validation_images": n_val,
        "prefix_layer": split.layer,
        "decode_seconds": decode_seconds,
        "epoch_seconds": results,
        "steady_seconds": rows,
        "ratio_full_augmented_over_cached": rows["a_full_augmented"] / rows["d_cached_epoch"],
        "ratio_full_plain_over_cached": rows["a0_full_plain"] / rows["d_cached_epoch"],
        "copies": args.copies,
        "copies_prefix_seconds": copies_seconds,
        "loadavg_before_after": [START_LOAD, list(os.getloadavg())],
        "cpus": os.cpu_count(),
        "command": " ".join(sys.argv),
    }
    table = markdown(report)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "finetune_epoch.json").write_text(json.dumps(report, indent=2))
    (out / "finetune_epoch.md").write_text(table)


LABELS = {
    "a_full_augmented": "(a) full model, augmented (train + validation)",
    "a0_full_plain": "(a0) full model, not augmented (train + validation)",
    "b_prefix_forward": "(b) frozen prefix forward alone (train + validation)",
    "c_tail_train_step": "(c) tail train steps alone (train, no validation)",
    "d_cached_epoch": "(d) cached-prefix epoch (train + validation)",
    "e_copies_epoch": "(e) cached-prefix epoch on plain + K augmented copies (train + val.)",
}


def markdown(report: dict) -> str:
    lines = [
        f"Fine-tuning epoch, {report['backbone']} at {report['image_size']} px, batch "
        f"{report['batch_size']}, {report['train_images']} train + "
        f"{report['validation_images']} validation images; split after "
        f"`{report['prefix_layer']}`. Load average (1, 5, 15 min) before "
        f"{_load(report['loadavg_before_after'][0])}, after "
        f"{_load(report['loadavg_before_after'][1])} on {report['cpus']} CPUs.",
        "",
        "| variant | s/epoch (median after the first) | every epoch, s |",
        "|---|---|---|",
    ]
    for name, label in LABELS.items():
        if name not in report["epoch_seconds"]:
            continue
        seconds = report["epoch_seconds"][name]
        each = ", ".join(f"{s:.1f}" for s in seconds)
        lines.append(f"| {label} | {report['steady_seconds'][name]:.2f} | {each} |")
    lines += [
        "",
        f"full augmented / cached: {report['ratio_full_augmented_over_cached']:.1f}x; "
        f"full not augmented / cached: {report['ratio_full_plain_over_cached']:.1f}x.",
        "",
    ]
    if report["copies_prefix_seconds"] is not None:
        lines += [_copies_sentence(report), ""]
    return "\n".join(lines)


def _copies_sentence(report: dict) -> str:
    """What K copies cost once and per training image seen, against augmenting the whole
    model anew: an epoch over the copies sees 1 + K times as many images."""
    steady, n = report["steady_seconds"], report["train_images"]
    # Once: the prefix over the plain images (train + validation) and over the copies.
    k, once = report["copies"], report["copies_prefix_seconds"] + steady["b_prefix_forward"]
    whole, copies = steady["a_full_augmented"] / n, steady["e_copies_epoch"] / ((1 + k) * n)
    even = f"{once / (whole - copies) / n:.1f} whole-model epochs" if whole > copies else "never"
    return (
        f"K = {k} augmented copies: the prefix over the images and copies once {once:.1f} s; "
        f"an epoch then {steady['e_copies_epoch']:.2f} s for {(1 + k) * n} training images "
        f"against {steady['a_full_augmented']:.2f} s for {n} augmenting the whole model anew: "
        f"{1000 * copies:.1f} against {1000 * whole:.1f} ms per training image seen "
        f"({whole / copies:.1f}x, validation included); at the same images seen, the copies "
        f"pay for themselves after {even}."
    )


def _load(values) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


START_LOAD = list(os.getloadavg())

if __name__ == "__main__":
    main()
