"""How long an epoch will take on this machine: from past runs, or measured now.

Two sources, both honest about what they are:

- `from_history`: a finished run of the same method and backbone on the same
  dataset gives its steady seconds per epoch (the median after the first, warm-up
  epoch, validation included), scaled by the number of pixels, and its once-only
  costs (decoding, feature extraction, the first epoch's tracing).
- `measure`: trains the model this method trains for two short epochs on random
  data through the real trainer (`core.fitting.time_epochs`: same pipeline,
  augmentation, callbacks, determinism), takes the second epoch apart into a
  per-batch cost for training and for validation and a fixed per-epoch rest, and
  scales to the dataset's batches. The once-only costs are measured apart: decoding
  a sample of the dataset's files, and for bottleneck runs a forward pass of the base.

What the earlier estimate left out: it timed bare `train_on_batch` calls on one
repeated batch, so it missed the tf.data pipeline and its augmentation, op
determinism (on in every run), the per-epoch callbacks (store writes, best
checkpoint, TensorBoard), validation altogether for bottleneck runs, and it did not
round the bottleneck's batches up. Measured against real epochs here
(bench/estimate_accuracy.py) it came out at 0.78-1.00 of the epoch, lowest on short
epochs where those per-epoch costs weigh most; this one at 0.88-1.12 in a quiet moment
(once 0.69, on a 2-3 s epoch). TensorFlow is imported only inside the functions.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from core.i18n import N_, _
from core.train_config import FROM_SCRATCH

# Once-only costs, in the order they happen, with their names in words.
ONCE_WORDS = {
    "decode": N_("decoding images"),
    "extract": N_("feature extraction"),
    "stage1": N_("stage 1 (the top model)"),
    "warmup": N_("first-epoch tracing"),
}


@dataclass
class EpochEstimate:
    """Seconds per steady epoch, plus one-time seconds before and in the first epoch.

    Attributes:
        seconds_per_epoch: one steady epoch, validation included.
        once_seconds: the sum of `once_parts`.
        basis: where the figure comes from, in words.
        once_parts: once-only costs by name (`ONCE_WORDS`): decode, extract, stage1, warmup.
    """

    seconds_per_epoch: float
    once_seconds: float = 0.0
    basis: str = ""
    once_parts: dict[str, float] = field(default_factory=dict)

    def total(self, epochs: int) -> float:
        """Seconds for a whole run of `epochs` epochs."""
        return self.once_seconds + self.seconds_per_epoch * epochs


def _with_parts(per_epoch: float, basis: str, parts: dict[str, float]) -> EpochEstimate:
    parts = {k: float(parts[k]) for k in ONCE_WORDS if parts.get(k)}
    words = ", ".join(
        _("{what} {seconds} s").format(what=_(ONCE_WORDS[k]), seconds=f"{v:.0f}")
        for k, v in parts.items()
        if v >= 0.5
    )
    basis = _("{basis}; once: {costs}").format(basis=basis, costs=words) if words else basis
    return EpochEstimate(float(per_epoch), float(sum(parts.values())), basis, parts)


def from_history(records: list, method: str, backbone: str | None, dataset: str, image_size: int):
    """An estimate from the newest finished run that trained the same way, or None.

    Runs of two or more epochs come first: their steady epoch leaves the first
    epoch's tracing out.

    Args:
        records: `RunRecord`s (newest first, as `RunStore.list_runs()` gives them).
        method, backbone, dataset, image_size: the planned run.
    """
    same = [
        r
        for r in records
        if r.method == method
        and r.dataset == dataset
        and (method in FROM_SCRATCH or r.backbone == backbone)
        and r.status in ("finished", "stopped")
        and (r.summary.steady_seconds_per_epoch or r.summary.seconds_per_epoch)
    ]
    if not same:
        return None
    r = next((r for r in same if r.summary.steady_seconds_per_epoch), same[0])
    s, size = r.summary, r.config.image_size
    scale = (image_size / size) ** 2
    per_epoch = s.steady_seconds_per_epoch or s.seconds_per_epoch
    extract = 0.0 if s.feature_cache_hit else s.extract_seconds
    if s.prefix_cached:  # fine-tuning's frozen prefix, computed once (issue 13)
        extract = s.prefix_seconds
    parts = {
        "decode": (s.decode_seconds or 0.0) * scale,
        "extract": (extract or 0.0) * scale,
        "warmup": s.warmup_seconds or 0.0,
    }
    basis = _("run #{id} at {size} px took {seconds} s per epoch").format(
        id=r.id, size=size, seconds=f"{per_epoch:.1f}"
    )
    return _with_parts(per_epoch * scale, basis, parts)


def measure(
    config,
    num_classes: int,
    n_train: int,
    n_val: int,
    steps: int = 8,
    dataset=None,
) -> EpochEstimate:
    """Time the training `config` asks for on this machine, scaled to the dataset.

    Args:
        config: a `core.train_config.TrainConfig`.
        num_classes: classes of the dataset.
        n_train, n_val: images in the training and validation splits.
        steps: training batches per timed epoch (two epochs are trained).
        dataset: the `Dataset`, when known: a sample of its files is decoded to time
            decoding, and cached bottleneck features count as no extraction.

    Returns:
        The estimate: a steady epoch, and once-only costs (decode, extract, stage1,
        warmup) apart.
    """
    from core.fitting import prefix_refusal, time_epochs
    from core.train_config import TrainConfig

    batch = config.batch_size
    timing = time_epochs(config, num_classes, steps=steps)
    cached_prefix = config.method == "finetune" and prefix_refusal(config) is None
    with_copies = config.method == "bottleneck" or cached_prefix
    train_n = n_train * (1 + config.augment_copies) if with_copies else n_train
    per_epoch = timing.epoch_seconds(math.ceil(train_n / batch), math.ceil(n_val / batch))
    parts = {"warmup": timing.warmup}
    if dataset is not None:
        parts["decode"] = decode_seconds(dataset, config.image_size, config.resize_mode)
    if config.method == "bottleneck" and not _features_cached(config, dataset):
        parts["extract"] = extract_seconds(config, train_n + n_val)
    if cached_prefix:
        # The frozen prefix's outputs, computed once: about the base's forward pass.
        parts["extract"] = extract_seconds(config, train_n + n_val)
    if config.method == "finetune" and config.top_run is None:
        stage = TrainConfig.defaults(
            "bottleneck",
            backbone=config.backbone,
            image_size=config.image_size,
            batch_size=batch,
            head=config.head,
            dropout=config.dropout,
            seed=config.seed,
            epochs=config.top_epochs or TrainConfig.epochs,
        )
        top = measure(stage, num_classes, n_train, n_val, steps)
        parts["stage1"] = top.total(stage.epochs)  # its decoding is the "decode" part
    basis = _("measured {steps} training steps now").format(steps=timing.steps)
    return _with_parts(per_epoch, basis, parts)


def decode_seconds(dataset, image_size: int, resize_mode: str, sample: int = 96) -> float:
    """Seconds to decode every image of the dataset, from a timed sample of its files.

    The sample is spread over the splits and decoded like `core.pipeline.load_split`
    (the same thread pool); a second decode of the same files is not counted twice.
    """
    from core.pipeline import decode_samples

    samples = [s for split in dataset.splits.values() for s in split]
    if not samples:
        return 0.0
    picked = samples[:: max(1, len(samples) // sample)][:sample]
    start = time.perf_counter()
    decode_samples(picked, image_size, resize_mode)
    return (time.perf_counter() - start) / len(picked) * len(samples)


def extract_seconds(config, images: int) -> float:
    """Seconds for the base to turn `images` images into bottleneck features, timed on
    64 random images after a warm-up (batches of 32, as bottleneck runs extract)."""
    from core import backbones, features, models

    base = backbones.build_base(config.backbone, config.image_size, pretrained=False)
    model = models.extraction_model(base, config.backbone)
    rng = np.random.default_rng(0)
    shape = (64, config.image_size, config.image_size, 3)
    images_now = rng.integers(0, 256, shape, dtype=np.uint8)
    features.extract(model, images_now[:32], 32)  # warm-up: tracing
    start = time.perf_counter()
    features.extract(model, images_now, 32)
    return (time.perf_counter() - start) / len(images_now) * images


def _features_cached(config, dataset) -> bool:
    """Whether the bottleneck features of this run are already on disk."""
    if dataset is None or not config.pretrained:  # random weights: known once built
        return False
    from core import features

    key = features.run_feature_key(config, dataset.fingerprint())
    return features.cache_path(key).is_file()
