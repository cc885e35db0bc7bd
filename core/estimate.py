"""How long an epoch will take on this machine: from past runs, or measured now.

Two sources, both honest about what they are:

- `from_history`: a finished run of the same method and backbone on the same
  dataset gives its measured seconds per epoch, scaled by the number of pixels.
- `measure`: builds the model this method trains (random weights: the arithmetic
  is the same as with ImageNet weights) and times a few real training steps on
  random images, then scales to one epoch of the dataset. TensorFlow is imported
  only here, inside the function.
"""

import time
from dataclasses import dataclass

import numpy as np


@dataclass
class EpochEstimate:
    """Seconds per epoch, plus one-time seconds (bottleneck feature extraction)."""

    seconds_per_epoch: float
    once_seconds: float = 0.0
    basis: str = ""  # where the figure comes from, in words


def from_history(records: list, method: str, backbone: str | None, dataset: str, image_size: int):
    """An estimate from the newest finished run that trained the same way, or None.

    Args:
        records: `RunRecord`s (newest first, as `RunStore.list_runs()` gives them).
        method, backbone, dataset, image_size: the planned run.
    """
    for r in records:
        per_epoch = r.summary.get("seconds_per_epoch")
        size = r.config.get("image_size")
        same = (
            r.method == method
            and r.dataset == dataset
            and (method == "scratch" or r.backbone == backbone)
        )
        if same and per_epoch and size and r.status in ("finished", "stopped"):
            scale = (image_size / size) ** 2
            return EpochEstimate(
                per_epoch * scale, basis=f"run #{r.id} at {size} px took {per_epoch:.1f} s/epoch"
            )
    return None


def measure(config, num_classes: int, n_train: int, n_val: int, steps: int = 3) -> EpochEstimate:
    """Time `steps` training steps of the model `config` would train, scaled to one epoch.

    Args:
        config: a `core.training.TrainConfig`.
        num_classes: classes of the dataset.
        n_train, n_val: images in the training and validation splits.
        steps: timed steps (after one warm-up step).

    Returns:
        The estimate; for bottleneck runs `once_seconds` is the feature extraction.
    """
    import keras

    from core import backbones, models

    size, batch = config.image_size, config.batch_size
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    labels = rng.integers(0, num_classes, batch)
    augmenter = _augmenter(config)
    if config.method == "scratch":
        model = models.make_scratch_cnn(size, num_classes, augmenter, config.dropout, config.l2)
    else:
        base = backbones.build_base(config.backbone, size, pretrained=False)
        top = models.make_top_model(base.output_shape[1:], num_classes, config.head, config.dropout)
        if config.method == "bottleneck":
            base.trainable = False
            extract = _seconds(lambda: base.predict_on_batch(images), steps)
            once = extract * (n_train * (1 + config.augment_copies) + n_val) / batch
            features = base.predict_on_batch(images)
            top.compile(optimizer="rmsprop", loss=models.loss_for(num_classes))
            step = _seconds(lambda: top.train_on_batch(features, labels), steps)
            return EpochEstimate(step * n_train / batch, once, f"measured {steps} steps now")
        model = models.make_finetune_model(
            base, top, config.backbone, augmenter, config.unfreeze_blocks
        )
    model.compile(optimizer=keras.optimizers.SGD(1e-4), loss=models.loss_for(num_classes))
    step = _seconds(lambda: model.train_on_batch(images, labels), steps)
    predict = _seconds(lambda: model.predict_on_batch(images), steps)
    seconds = step * np.ceil(n_train / batch) + predict * np.ceil(n_val / batch)
    return EpochEstimate(float(seconds), basis=f"measured {steps} training steps now")


def _augmenter(config):
    from core.augment import build_augmenter

    aug = config.augment_config()
    return None if aug.is_identity() else build_augmenter(aug, seed=0)


def _seconds(step, repeats: int) -> float:
    """Median seconds of one call, after a warm-up call (graph tracing)."""
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
