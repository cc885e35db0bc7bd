"""The Keras wiring of a run: seed, optimizer, compile, model inputs, `fit` with the
run's callbacks, epoch timing, and `time_epochs` (the same fit, timed, for estimates).

`core.training` decides what a method trains; this module trains it. `TrainingRun`
is what one run's steps share (`core.training`, `core.evaluate` and `time_epochs`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.store import RunFolder
from core.train_config import TrainConfig

_log = logging.getLogger(__name__)


@dataclass
class TrainingRun:
    """What the steps of one run share while it trains."""

    config: TrainConfig
    store: object
    run_id: int
    folder: RunFolder
    should_stop: Callable[[], bool]
    report: Callable[[int, int, dict], None] | None
    dataset: object = None
    splits: dict = field(default_factory=dict)
    extra_callbacks: list = field(default_factory=list)  # timing (core.estimate)
    replicas: int = 1  # devices training in sync (core.devices.make_strategy)

    @property
    def global_batch(self) -> int:
        """Images per step: `batch_size` per device, times the devices."""
        return self.config.batch_size * self.replicas

    @property
    def class_names(self) -> list[str]:
        return list(self.dataset.class_names)


def apply_seed(config: TrainConfig) -> None:
    """Seed Python, numpy and the backend; op determinism when the config asks for it."""
    import keras

    from core.pipeline import has_tensorflow

    keras.utils.set_random_seed(config.seed)
    if has_tensorflow() and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        else:  # process-wide: a run before this one in the worker may have turned it on
            from tensorflow.python.framework import config as tf_config

            tf_config.disable_op_determinism()


def _tensorboard_available() -> bool:
    """TensorBoard logs need TensorFlow as the backend and the tensorboard package."""
    import keras

    return (
        keras.backend.backend() == "tensorflow"
        and importlib.util.find_spec("tensorboard") is not None
    )


# AdamW's decoupled weight decay (per step, times the learning rate).
ADAMW_WEIGHT_DECAY = 0.02


def _optimizer(config: TrainConfig, steps_per_epoch: int = 1):
    import keras

    rate = _learning_rate(config, steps_per_epoch)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=config.momentum)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(rate)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=ADAMW_WEIGHT_DECAY)
    return keras.optimizers.RMSprop(rate)


def _learning_rate(config: TrainConfig, steps_per_epoch: int):
    """A number, or for "cosine" a linear warm-up (5% of the steps, at least one epoch)
    to `learning_rate`, then cosine decay to zero at the last step."""
    import keras

    if config.schedule == "constant":
        return config.learning_rate
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(total // 2, max(steps_per_epoch, total // 20))
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=total - warmup,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )


def compile_model(
    model, config: TrainConfig, num_classes: int, steps_per_epoch: int = 1, jit_compile="auto"
) -> None:
    """Compile with the config's optimizer (its schedule spans `steps_per_epoch` x epochs)
    and the loss matching the output layer."""
    from core.models import loss_for

    model.compile(
        optimizer=_optimizer(config, steps_per_epoch),
        loss=loss_for(num_classes, config.label_smoothing),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )


def top_model_jit_compile(config: TrainConfig) -> bool | str:
    """XLA for the bottleneck top model of a non-deterministic run, on CPU too.

    Keras's "auto" leaves XLA off on CPU-only machines (for convolutions it rarely pays
    there). The blog's Flatten head is 16 M dense weights at native size, and an epoch
    is mostly the optimizer's per-weight update, which XLA fuses: 2.9x faster on 2 cores
    (bench/top_epoch.py, bench/README.md). Keras refuses XLA under op determinism (a
    run's default), so only `deterministic=False` runs get it.
    """
    import keras

    if keras.backend.backend() == "tensorflow" and not config.deterministic:
        return True
    return "auto"


def image_inputs(run: TrainingRun, split: str, shuffle: bool, augmenter=None, decoded=None):
    """A split as model input: a tf.data pipeline, or numpy arrays without TensorFlow.

    `decoded`: the split's arrays, if not `run.splits[split]` (fine-tuning's cached
    prefix outputs: the same shuffling and batches as the images would get).
    """
    from core.pipeline import has_tensorflow

    decoded = run.splits[split] if decoded is None else decoded
    if has_tensorflow():
        from core.pipeline import make_tf_dataset

        return make_tf_dataset(
            decoded,
            run.global_batch,
            shuffle=shuffle,
            seed=run.config.seed,
            augmenter=augmenter,
            repeat=shuffle,  # training data: one iterator for all epochs (see make_tf_dataset)
        )
    return decoded.images.astype("float32"), np.asarray(decoded.labels)


def fit_images(run: TrainingRun, model, splits: dict | None = None, whole=None) -> dict:
    """Compile `model` and fit it on the run's decoded train and validation images.

    Args:
        splits: "train" and "validation" arrays to fit on instead of `run.splits`
            (fine-tuning's cached prefix outputs, `model` then being the tail: never
            augmented, their augmented copies are precomputed).
        whole: the model the best epoch is saved as, if not `model` (the whole
            fine-tuning model, whose tail `model` is).
    """
    from core.augment import run_augmenter

    augmenter = run_augmenter(run.config, "pipeline") if splits is None else None
    splits = splits or run.splits
    steps = math.ceil(len(splits["train"]) / run.global_batch)
    compile_model(model, run.config, len(run.class_names), steps)
    train_inputs = image_inputs(run, "train", True, augmenter, splits["train"])
    val_inputs = image_inputs(run, "validation", False, decoded=splits["validation"])
    return fit_model(run, model, train_inputs, val_inputs, len(splits["train"]), whole)


def fit_model(
    run: TrainingRun, model, train_inputs, val_inputs, num_samples: int, whole=None
) -> dict:
    """`model.fit` with the run's callbacks; returns what `core.evaluate.finish` needs.

    `whole`: the model saved as the best epoch's file, if not `model` (see `fit_images`).
    """
    import keras

    from core import callbacks as cb

    config = run.config
    run.store.set_phase(run.run_id, "prepare")  # building, then tracing the first step
    progress = cb.StoreProgress(run.store, run.run_id, run.global_batch, num_samples)
    stop = cb.StopOnRequest(run.should_stop)
    on_disk = run.config.method != "bottleneck"  # a top model alone cannot classify images
    best = cb.BestCheckpoint("val_accuracy", run.folder.best if on_disk else None, whole)
    callbacks = [progress, stop, best]
    if run.report is not None:
        callbacks.append(cb.EpochReporter(run.report))
    if config.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.early_stopping_patience
            )
        )
    if _tensorboard_available():
        callbacks.append(
            keras.callbacks.TensorBoard(
                run.folder.tensorboard,
                histogram_freq=0,
                write_graph=False,
                update_freq="epoch",
                profile_batch=0,
            )
        )
    elif keras.backend.backend() == "tensorflow":
        callbacks.append(cb.EpochEvents(run.folder.tensorboard))
    callbacks += run.extra_callbacks  # last: they see the others' epoch-end work done
    # Arrays are batched and shuffled by fit(); a tf.data pipeline already is.
    kwargs = {"batch_size": run.global_batch, "shuffle": True}
    if not isinstance(train_inputs, tuple):
        # The training pipeline repeats: fit() needs the epoch's length.
        kwargs = {"shuffle": False, "steps_per_epoch": math.ceil(num_samples / run.global_batch)}
    x, y = train_inputs if isinstance(train_inputs, tuple) else (train_inputs, None)
    start = time.perf_counter()
    history = model.fit(
        x,
        y,
        validation_data=val_inputs,
        epochs=config.epochs,
        callbacks=callbacks,
        verbose=0,
        **kwargs,
    )
    seconds = time.perf_counter() - start
    restored = config.checkpoint_best and best.restore()
    return {
        "history": history.history,
        "seconds": seconds,
        "stopped": stop.stopped,
        "best": best,
        "restored": bool(restored),
        "epoch_seconds": progress.epoch_seconds,
    }


def epoch_timing(epoch_seconds: list[float]) -> dict:
    """The steady seconds per epoch (median after the first, warm-up epoch) and the
    first epoch's extra time (tracing), for estimates of later runs."""
    if len(epoch_seconds) < 2:
        return {}
    steady = float(np.median(epoch_seconds[1:]))
    return {
        "steady_seconds_per_epoch": steady,
        "warmup_seconds": max(0.0, epoch_seconds[0] - steady),
    }


# --- fine-tuning through its cached frozen prefix (issue 13) ----------------------------


def fit_finetune(run: TrainingRun, base, top, model, cache: bool = True) -> dict:
    """Fit the fine-tuning model: through its cached frozen prefix when nothing augments
    (issue 13: the frozen layers then compute the same outputs every epoch) or when the
    run asks for K augmented copies (`augment_copies`, the blog's footnote: the prefix
    runs once on each image and on K augmented copies of it), else whole.

    On the cached path only the tail (unfrozen blocks + top) trains, on the prefix's
    outputs with the same shuffling and batches; it shares its layers with `model`, so
    `model` is the trained one, and `finish` evaluates and saves `model` on images.
    `cache`: keep the prefix outputs in the features cache (False: `time_epochs`'
    random images).
    """
    from core import backbones, models

    config = run.config
    split, reason = None, prefix_refusal(config)
    if reason is None:
        boundary = backbones.finetune_boundary(config.backbone, base, config.unfreeze_blocks)
        try:
            split = models.split_finetune_model(base, top, config.backbone, boundary)
        except ValueError as exc:
            reason = str(exc)
    if split is not None:
        reason = _prefix_too_large(run, split)
    if reason is not None:
        _log.info("Run %s fine-tunes the whole model: %s", run.run_id, reason)
        run.store.update_summary(run.run_id, prefix_cached=False, prefix_skipped_reason=reason)
        return fit_images(run, model)
    outputs = _prefix_outputs(run, split) if cache else _prefix_arrays(run, split)
    return fit_images(run, split.tail, outputs, whole=model)


def prefix_refusal(config: TrainConfig) -> str | None:
    """Why the frozen prefix's outputs cannot be cached for `config`, or None."""
    if not config.augment.is_identity() and not config.augment_copies:
        return "augmentation changes the frozen layers' input every epoch"
    return None


def _prefix_too_large(run: TrainingRun, split) -> str | None:
    """The cached outputs are held in memory: refuse them above the memory budget."""
    from core import disk_cache

    copies = run.config.augment_copies
    images = (1 + copies) * len(run.splits["train"]) + len(run.splits["validation"])
    size = images * math.prod(split.tail.input_shape[1:]) * 4
    budget = disk_cache.memory_budget_bytes()
    if size <= budget:
        return None
    return (
        f"the frozen prefix's outputs ({size / 2**20:.0f} MB) are above the memory "
        f"budget ({budget / 2**20:.0f} MB)"
    )


def _prefix_outputs(run: TrainingRun, split) -> dict:
    """The frozen prefix's outputs on the train and validation images, computed once
    (or read from the features cache), as splits for `fit_images`."""
    from keras import mixed_precision

    from core import features
    from core.augment import run_augmenter
    from core.pipeline import DecodedSplit

    config = run.config
    key = features.prefix_key(
        config,
        run.dataset.fingerprint(),
        split.layer,
        split.prefix,
        mixed_precision.dtype_policy().name,
    )
    feats = features.load_or_compute(
        {s: run.splits[s] for s in ("train", "validation")},
        run.class_names,
        key,
        lambda: split.prefix,
        config.augment_copies,
        run_augmenter(config, "features"),
        batch_size=32,
        progress=run.store.phase_reporter(run.run_id, "extract"),
    )
    run.store.update_summary(
        run.run_id,
        prefix_cached=True,
        prefix_layer=split.layer,
        prefix_seconds=feats.extract_seconds,
        prefix_cache_hit=feats.cache_hit,
    )
    return {
        s: DecodedSplit(feats.x[s], feats.y[s], feats.paths[s], [], run.class_names)
        for s in ("train", "validation")
    }


def _prefix_arrays(run: TrainingRun, split) -> dict:
    """The prefix outputs, computed now and not cached (`time_epochs`' random images)."""
    from core.pipeline import DecodedSplit

    return {
        s: DecodedSplit(
            split.prefix.predict(d.images.astype("float32"), batch_size=32, verbose=0),
            d.labels,
            d.paths,
            [],
            run.class_names,
        )  # fmt: skip
        for s, d in ((s, run.splits[s]) for s in ("train", "validation"))
    }


# --- timing for estimates (core.estimate) ------------------------------------------------


def time_epochs(config: TrainConfig, num_classes: int, steps: int = 8, val_steps: int = 4):
    """Train `config`'s model for two short epochs on random data, exactly as
    `core.training.train` does (same model, pipeline, augmentation, optimizer, callbacks,
    seed and determinism, in a throwaway run store), and time them.

    Bottleneck runs train the top model on random features of the base's output shape;
    the base itself (and fine-tuning's) has random weights: same arithmetic, no download.

    The fit runs in the run's precision policy (a mixed_float16 the run itself would
    refuse is timed in float32); on one device: several devices are not timed.

    Returns:
        The `core.callbacks.EpochTiming`.
    """
    from core import devices
    from core.errors import LabError

    try:
        precision = devices.resolve_precision(config.precision, config.method)
    except LabError:  # the run will fail with this reason; the estimate still shows
        precision = "float32"
    with devices.precision_policy(precision):
        return _timed_fit(config, num_classes, steps, val_steps)


def _timed_fit(config: TrainConfig, num_classes: int, steps: int, val_steps: int):
    import tempfile
    from types import SimpleNamespace

    from core import backbones, models
    from core.augment import run_augmenter
    from core.callbacks import EpochTimer
    from core.pipeline import DecodedSplit
    from core.store import RunStore

    config = dataclasses.replace(
        config, epochs=2, early_stopping_patience=None, top_run=None, name="timing"
    )
    apply_seed(config)
    rng = np.random.default_rng(config.seed)
    size, batch = config.image_size, config.batch_size
    names = [f"class {i}" for i in range(num_classes)]

    def split(batches: int):
        n = batches * batch
        images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        labels = (np.arange(n) % num_classes).astype("int32")
        return DecodedSplit(images, labels, [f"{i}.png" for i in range(n)], [], names)

    timer = EpochTimer()
    with tempfile.TemporaryDirectory(prefix="ldl-timing-") as folder:
        store = RunStore(Path(folder) / "runs.sqlite")
        run_id = store.create_run(
            name="timing", method=config.method, backbone=config.backbone, config=config,
            dataset="random", fingerprint="", epochs_planned=2, pretrained=False,
        )  # fmt: skip
        run = TrainingRun(config, store, run_id, store.run_folder(run_id), lambda: False, None)
        run.dataset = SimpleNamespace(class_names=names)
        run.extra_callbacks = [timer]
        if config.method == "scratch":
            model = models.make_scratch_cnn(
                size, num_classes, run_augmenter(config, "model"), config.dropout, config.l2
            )
        elif config.method == "improved":
            model = models.make_improved_cnn(
                size, num_classes, run_augmenter(config, "model"), config.dropout
            )
        else:
            base = backbones.build_base(config.backbone, size, pretrained=False)
            top = models.make_top_model(
                base.output_shape[1:], num_classes, config.head, config.dropout
            )
        if config.method == "bottleneck":
            shape = (batch, *base.output_shape[1:])
            x = [
                rng.normal(size=(b * shape[0], *shape[1:])).astype("float32")
                for b in (steps, val_steps)
            ]
            y = [(np.arange(len(a)) % num_classes).astype("int32") for a in x]
            compile_model(top, config, num_classes, jit_compile=top_model_jit_compile(config))
            fit_model(run, top, (x[0], y[0]), (x[1], y[1]), len(y[0]))
        else:
            if config.method == "finetune":
                model = models.make_finetune_model(
                    base, top, config.backbone, run_augmenter(config, "model"),
                    config.unfreeze_blocks, config.train_batchnorm,
                )  # fmt: skip
            run.splits = {"train": split(steps), "validation": split(val_steps)}
            if config.method == "finetune":
                fit_finetune(run, base, top, model, cache=False)
            else:
                fit_images(run, model)
        store.close()
    return timer.timing(steps, val_steps)
