"""The blog's three methods, trained in this process and recorded in the run store.

- `scratch`: the small convnet from scratch, with augmentation inside the model.
- `bottleneck`: a top model on cached conv-base features (`core.features`).
- `finetune`: the conv base's last block(s) and a pre-trained top, trained together
  with a low learning rate; the top comes from a finished bottleneck run, or from a
  stage-1 bottleneck run trained first (its own run record).

`train()` streams per-batch and per-epoch figures into the `RunStore` through Keras
callbacks, honours stop requests within one batch, writes the run folder (model,
predictions, reports, TensorBoard logs) and finishes the run record. Any problem
ends as a failed run with a one-sentence reason, raised as a `LabError`.

Example:

    config = TrainConfig.defaults("scratch", data="demo", epochs=2, image_size=64)
    run_id = start_run(config)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import LabError, RunError
from core.store import RunFolder
from core.train_config import TrainConfig


@dataclass
class _Run:
    """What the method functions share while one run trains."""

    config: TrainConfig
    store: object
    run_id: int
    folder: RunFolder
    should_stop: Callable[[], bool]
    report: Callable[[int, int, dict], None] | None
    dataset: object = None
    splits: dict = field(default_factory=dict)
    extra_callbacks: list = field(default_factory=list)  # timing (core.estimate)

    @property
    def class_names(self) -> list[str]:
        return list(self.dataset.class_names)


# --- public entry points ---------------------------------------------------------------


def start_run(config: TrainConfig, store=None, report=None) -> int:
    """Create a run record and train it in the foreground; returns the run id.

    Raises:
        LabError: when the run failed (its record says why).
    """
    from core.store import RunStore

    store = store or RunStore()
    run_id = create_run(config, store, status="running")
    train(config, store, run_id, report=report)
    return run_id


def create_run(config: TrainConfig, store, status: str = "queued") -> int:
    """A run record for `config` (the dataset fingerprint when the dataset can be listed)."""
    fingerprint = ""
    try:
        fingerprint = _load_dataset(config).fingerprint()
    except Exception:  # a bad dataset fails the run, with its reason, when training starts
        pass
    return store.create_run(
        name=config.name or "",
        method=config.method,
        backbone=config.backbone if config.uses_backbone else None,
        config=config,
        dataset=str(config.data),
        fingerprint=fingerprint,
        epochs_planned=config.epochs,
        pretrained=config.pretrained if config.uses_backbone else False,
        status=status,
    )


def train(
    config: TrainConfig,
    store,
    run_id: int,
    should_stop: Callable[[], bool] | None = None,
    report: Callable[[int, int, dict], None] | None = None,
):
    """Train one run in this process and record everything in `store`.

    Args:
        config: the settings.
        store: the `RunStore`.
        run_id: an existing run record (queued or running).
        should_stop: polled after every batch; default: the store's stop request.
        report: optional `report(epoch, epochs, figures)` after each epoch (CLI lines).

    Returns:
        The final `RunRecord` (finished or stopped).

    Raises:
        LabError: the run failed; its record holds the same message.
    """
    store.mark_running(run_id, os.getpid())
    folder = store.run_folder(run_id)
    run = _Run(
        config, store, run_id, folder, should_stop or (lambda: store.stop_requested(run_id)), report
    )
    try:
        config.validate()
        folder.config.write_text(json.dumps(config.to_dict(), indent=2))
        _apply_seed(config)
        methods = {"scratch": _scratch, "bottleneck": _bottleneck, "finetune": _finetune}
        status = {**methods, "improved": _improved}[config.method](run)
    except LabError as exc:
        store.finish(run_id, "failed", error=str(exc))
        raise
    except KeyboardInterrupt:
        store.finish(run_id, "interrupted", error="Interrupted by the user (Ctrl-C).")
        raise
    except Exception as exc:
        message = f"Training failed with an unexpected error: {type(exc).__name__}: {exc}"
        store.finish(run_id, "failed", error=message)
        raise LabError(message) from exc
    store.finish(run_id, status)
    return store.get(run_id)


# --- the three methods -----------------------------------------------------------------


def _scratch(run: _Run) -> str:
    from core import models

    config = run.config
    _load_data(run)
    model = models.make_scratch_cnn(
        config.image_size, len(run.class_names), _model_augmenter(config), config.dropout, config.l2
    )
    fit = _fit_images(run, model)
    return _finish(run, model, fit)


def _improved(run: _Run) -> str:
    """The "improved small CNN" (issue 10, not the blog's): `models.make_improved_cnn`,
    trained like the scratch CNN; its defaults add AdamW on a cosine schedule."""
    from core import models

    config = run.config
    _load_data(run)
    model = models.make_improved_cnn(
        config.image_size, len(run.class_names), _model_augmenter(config), config.dropout
    )
    fit = _fit_images(run, model)
    return _finish(run, model, fit)


def _bottleneck(run: _Run) -> str:
    from core import backbones, features, models

    config = run.config
    _load_data(run)
    base = None

    def make_base():
        nonlocal base
        base = backbones.build_base(config.backbone, config.image_size, config.pretrained)
        return base

    key = features.run_feature_key(config, run.dataset.fingerprint())
    feats = features.load_or_extract(
        run.splits,
        run.class_names,
        key,
        make_base,
        config.backbone,
        config.augment_copies,
        _augmenter(config) if config.augment_copies else None,
        batch_size=32,
        progress=run.store.phase_reporter(run.run_id, "extract"),
    )
    run.store.update_summary(
        run.run_id,
        extract_seconds=feats.extract_seconds,
        feature_cache_hit=feats.cache_hit,
        feature_shape=list(feats.feature_shape),
    )
    top = models.make_top_model(
        feats.feature_shape, len(run.class_names), config.head, config.dropout
    )
    steps = math.ceil(len(feats.y["train"]) / config.batch_size)
    _compile(top, config, len(run.class_names), steps)
    train_inputs = (feats.x["train"], feats.y["train"])
    val_inputs = (feats.x["validation"], feats.y["validation"])
    fit = _fit(run, top, train_inputs, val_inputs, len(feats.y["train"]))
    top.save_weights(run.folder.top_weights)
    probs = {s: _predict(top, feats.x[s]) for s in feats.x if s != "train"}
    # The saved model takes raw images, like every run's model.keras.
    if base is None:
        make_base()
    base.trainable = False
    classifier = models.make_classifier(base, top, config.backbone)
    return _finish(run, classifier, fit, probs=probs)


def _finetune(run: _Run) -> str:
    from core import backbones, models

    config = run.config
    top_run = config.top_run
    if top_run is None:
        top_run = _train_stage1(run)
        if top_run is None:
            return "stopped"
    record = check_top_run(dataclasses.replace(config, top_run=top_run), run.store)
    _load_data(run)
    base = backbones.build_base(config.backbone, config.image_size, config.pretrained)
    top_config = record.config
    top = models.make_top_model(
        base.output_shape[1:],
        len(run.class_names),
        top_config.head,
        top_config.dropout,
    )
    try:
        top.load_weights(run.store.run_folder(top_run).top_weights)
    except Exception as exc:
        raise RunError(
            f"The top model of run {top_run} does not fit this fine-tuning run ({exc})."
        ) from exc
    model = models.make_finetune_model(
        base,
        top,
        config.backbone,
        _model_augmenter(config),
        config.unfreeze_blocks,
        config.train_batchnorm,
    )
    run.store.update_summary(run.run_id, top_run_id=top_run)
    fit = _fit_images(run, model)
    return _finish(run, model, fit)


def _train_stage1(run: _Run) -> int | None:
    """Train the bottleneck run that fine-tuning starts from; None if it was stopped."""
    config = run.config
    stage = TrainConfig.defaults(
        "bottleneck",
        data=config.data,
        backbone=config.backbone,
        pretrained=config.pretrained,
        epochs=config.top_epochs or TrainConfig.epochs,
        batch_size=config.batch_size,
        image_size=config.image_size,
        head=config.head,
        dropout=config.dropout,
        seed=config.seed,
        resize_mode=config.resize_mode,
        val_fraction=config.val_fraction,
        deterministic=config.deterministic,
        name=f"{config.name or f'finetune #{run.run_id}'}: stage 1 (top model)",
    )
    stage_id = create_run(stage, run.store, status="running")
    run.store.update_summary(run.run_id, stage1_run_id=stage_id)
    run.store.set_phase(run.run_id, "stage1", 0, stage.epochs)

    def report(epoch: int, epochs: int, figures: dict) -> None:
        run.store.set_phase(run.run_id, "stage1", epoch, epochs)
        if run.report is not None:
            run.report(epoch, epochs, figures)

    try:
        record = train(stage, run.store, stage_id, run.should_stop, report)
    except LabError as exc:
        raise LabError(f"Stage 1 (run {stage_id}, training the top model) failed: {exc}") from exc
    finally:
        run.store.mark_running(run.run_id, os.getpid())
    return stage_id if record.status == "finished" else None


def check_top_run(config: TrainConfig, store):
    """The record of `config.top_run`, if its top model fits this fine-tuning run.

    The rule is `core.top_runs.top_run_problem` (the Train page lists runs by it too);
    the classes are those of `config.data` (a folder listing, no image decoded).

    Raises:
        RunError: one sentence naming the run and why it does not fit.
    """
    from core.top_runs import refusal, top_run_problem

    top_run = config.top_run
    class_names = _load_dataset(config).class_names
    record = store.get(top_run)
    problem = top_run_problem(record, config, class_names)
    top_weights = store.run_folder(top_run).top_weights
    if problem is None and not top_weights.is_file():
        problem = f"has no {top_weights.name}"
    if problem is not None:
        raise RunError(refusal(top_run, problem, config))
    return record


# --- shared steps ----------------------------------------------------------------------


def _load_dataset(config: TrainConfig):
    from core.datasets import load_dataset, resolve_dataset

    if str(config.data).strip().lower() == "demo":
        return resolve_dataset("demo")
    return load_dataset(config.data, val_fraction=config.val_fraction, seed=config.seed)


def _load_data(run: _Run) -> None:
    from core.pipeline import load_split

    config = run.config
    run.dataset = _load_dataset(config)
    splits = [s for s in ("train", "validation", "test") if s in run.dataset.splits]
    total = sum(len(run.dataset.splits[s]) for s in splits)
    report = run.store.phase_reporter(run.run_id, "decode")
    report(0, total)
    start, offset = time.perf_counter(), 0
    for split in splits:
        run.splits[split] = load_split(
            run.dataset,
            split,
            config.image_size,
            config.resize_mode,
            progress=lambda done, _n, offset=offset: report(offset + done, total),
        )
        offset += len(run.dataset.splits[split])
    report(total, total)  # also when every split came from the memo
    run.store.update_summary(
        run.run_id,
        decode_seconds=time.perf_counter() - start,
        class_names=run.class_names,
        num_classes=len(run.class_names),
        train_n=len(run.splits["train"]),
        seed=config.seed,
        skipped_files=sum(len(s.skipped) for s in run.splits.values()),
    )


def _augmenter(config: TrainConfig):
    from core.augment import build_augmenter

    aug = config.augment
    return None if aug.is_identity() else build_augmenter(aug, seed=config.seed)


def _model_augmenter(config: TrainConfig):
    """The stack to put inside the model (None when the pipeline augments)."""
    return None if _pipeline_augments(config) else _augmenter(config)


def _pipeline_augments(config: TrainConfig) -> bool:
    return config.augment_on == "pipeline" and _has_tensorflow()


def _apply_seed(config: TrainConfig) -> None:
    import keras

    keras.utils.set_random_seed(config.seed)
    if config.deterministic and _has_tensorflow() and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def _has_tensorflow() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def _tensorboard_available() -> bool:
    """TensorBoard logs need TensorFlow as the backend and the tensorboard package."""
    import keras

    return (
        keras.backend.backend() == "tensorflow"
        and importlib.util.find_spec("tensorboard") is not None
    )


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


# AdamW's decoupled weight decay (per step, times the learning rate).
ADAMW_WEIGHT_DECAY = 0.02


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


def _compile(model, config: TrainConfig, num_classes: int, steps_per_epoch: int = 1) -> None:
    from core.models import loss_for

    model.compile(
        optimizer=_optimizer(config, steps_per_epoch),
        loss=loss_for(num_classes, config.label_smoothing),
        metrics=["accuracy"],
    )


def _image_inputs(run: _Run, split: str, shuffle: bool, augmenter=None):
    """A split as model input: a tf.data pipeline, or numpy arrays without TensorFlow."""
    decoded = run.splits[split]
    if _has_tensorflow():
        from core.pipeline import make_tf_dataset

        return make_tf_dataset(
            decoded,
            run.config.batch_size,
            shuffle=shuffle,
            seed=run.config.seed,
            augmenter=augmenter,
            repeat=shuffle,  # training data: one iterator for all epochs (see make_tf_dataset)
        )
    return decoded.images.astype("float32"), np.asarray(decoded.labels)


def _fit_images(run: _Run, model) -> dict:
    steps = math.ceil(len(run.splits["train"]) / run.config.batch_size)
    _compile(model, run.config, len(run.class_names), steps)
    augmenter = _augmenter(run.config) if _pipeline_augments(run.config) else None
    train_inputs = _image_inputs(run, "train", True, augmenter)
    val_inputs = _image_inputs(run, "validation", False)
    return _fit(run, model, train_inputs, val_inputs, len(run.splits["train"]))


def _fit(run: _Run, model, train_inputs, val_inputs, num_samples: int) -> dict:
    """`model.fit` with the run's callbacks; returns what `_finish` needs."""
    import keras

    from core import callbacks as cb

    config = run.config
    run.store.set_phase(run.run_id, "prepare")  # building, then tracing the first step
    progress = cb.StoreProgress(run.store, run.run_id, config.batch_size, num_samples)
    stop = cb.StopOnRequest(run.should_stop)
    on_disk = run.config.method != "bottleneck"  # a top model alone cannot classify images
    best = cb.BestCheckpoint("val_accuracy", run.folder.best if on_disk else None)
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
    kwargs = {"batch_size": config.batch_size, "shuffle": True}
    if not isinstance(train_inputs, tuple):
        # The training pipeline repeats: fit() needs the epoch's length.
        kwargs = {"shuffle": False, "steps_per_epoch": math.ceil(num_samples / config.batch_size)}
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


def _epoch_timing(epoch_seconds: list[float]) -> dict:
    """The steady seconds per epoch (median after the first, warm-up epoch) and the
    first epoch's extra time (tracing), for estimates of later runs."""
    if len(epoch_seconds) < 2:
        return {}
    steady = float(np.median(epoch_seconds[1:]))
    return {
        "steady_seconds_per_epoch": steady,
        "warmup_seconds": max(0.0, epoch_seconds[0] - steady),
    }


def _predict(model, inputs, callbacks=(), batch_size: int | None = None) -> np.ndarray:
    kwargs = {} if batch_size is None else {"batch_size": batch_size}
    probs = model.predict(inputs, verbose=0, callbacks=list(callbacks), **kwargs)
    return probs.reshape(-1) if probs.shape[-1] == 1 else probs


def _cross_entropy(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean cross-entropy of the predictions (the data loss, without L2 terms)."""
    eps = 1e-7
    labels = np.asarray(labels).reshape(-1)
    if probs.ndim == 1:
        p = np.clip(probs, eps, 1 - eps)
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
    p = np.clip(probs[np.arange(len(labels)), labels], eps, 1.0)
    return float(-np.mean(np.log(p)))


def _finish(run: _Run, model, fit: dict, probs: dict | None = None) -> str:
    """Evaluate, write the run folder, update the summary; returns the final status."""
    from core import metrics
    from core.callbacks import PredictProgress
    from core.models import count_params

    splits = [s for s in ("validation", "test") if s in run.splits]
    total = 0 if probs is not None else sum(len(run.splits[s]) for s in splits)
    evaluating = run.store.phase_reporter(run.run_id, "evaluate")
    evaluating(0, total)
    model.save(run.folder.model)
    summary, done = {}, 0

    def on_batch(images: int) -> None:
        nonlocal done
        done += images
        evaluating(done, total)

    for split in splits:
        decoded = run.splits[split]
        if probs is not None:
            split_probs = probs[split]
        else:
            inputs = _image_inputs(run, split, False)
            counter = PredictProgress(on_batch, run.config.batch_size, len(decoded))
            if isinstance(inputs, tuple):  # arrays: predict() batches them itself
                split_probs = _predict(model, inputs[0], [counter], run.config.batch_size)
            else:
                split_probs = _predict(model, inputs, [counter])
        labels = np.asarray(decoded.labels)
        report = metrics.evaluate_predictions(
            labels, split_probs, run.class_names, loss=_cross_entropy(labels, split_probs)
        )
        prefix = "val" if split == "validation" else "test"
        run.folder.report(split).write_text(json.dumps(report.to_dict(), indent=2))
        metrics.write_predictions_csv(
            run.folder.predictions(split),
            decoded.paths,
            labels,
            split_probs,
            run.class_names,
        )
        summary.update(
            {
                f"{prefix}_accuracy": report.accuracy,
                f"{prefix}_ci_low": report.ci_low,
                f"{prefix}_ci_high": report.ci_high,
                f"{prefix}_n": report.n,
                f"{prefix}_loss": report.loss,
            }
        )
    history = fit["history"]
    val_acc = history.get("val_accuracy") or []
    total, trainable = count_params(model)
    epochs_run = len(history.get("loss") or [])
    summary.update(
        best_val_accuracy=max(val_acc) if val_acc else None,
        best_epoch=int(np.argmax(val_acc)) + 1 if val_acc else None,
        final_val_accuracy=val_acc[-1] if val_acc else None,
        best_weights_restored=fit["restored"],
        epochs_run=epochs_run,
        total_params=total,
        trainable_params=trainable,
        train_seconds=fit["seconds"],
        seconds_per_epoch=fit["seconds"] / epochs_run if epochs_run else None,
        **_epoch_timing(fit["epoch_seconds"]),
        pretrained=bool(run.config.pretrained) if run.config.uses_backbone else None,
    )
    run.store.update_summary(run.run_id, **summary)
    return "stopped" if fit["stopped"] else "finished"


# --- timing for estimates (core.estimate) ------------------------------------------------


def time_epochs(config: TrainConfig, num_classes: int, steps: int = 8, val_steps: int = 4):
    """Train `config`'s model for two short epochs on random data, exactly as `train` does
    (same model, pipeline, augmentation, optimizer, callbacks, seed and determinism, in a
    throwaway run store), and time them.

    Bottleneck runs train the top model on random features of the base's output shape;
    the base itself (and fine-tuning's) has random weights: same arithmetic, no download.

    Returns:
        The `core.callbacks.EpochTiming`.
    """
    import tempfile
    from types import SimpleNamespace

    from core import backbones, models
    from core.callbacks import EpochTimer
    from core.pipeline import DecodedSplit
    from core.store import RunStore

    config = dataclasses.replace(
        config, epochs=2, early_stopping_patience=None, top_run=None, name="timing"
    )
    _apply_seed(config)
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
        run = _Run(config, store, run_id, store.run_folder(run_id), lambda: False, None)
        run.dataset = SimpleNamespace(class_names=names)
        run.extra_callbacks = [timer]
        if config.method == "scratch":
            model = models.make_scratch_cnn(
                size, num_classes, _model_augmenter(config), config.dropout, config.l2
            )
        elif config.method == "improved":
            model = models.make_improved_cnn(
                size, num_classes, _model_augmenter(config), config.dropout
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
            _compile(top, config, num_classes)
            _fit(run, top, (x[0], y[0]), (x[1], y[1]), len(y[0]))
        else:
            if config.method == "finetune":
                model = models.make_finetune_model(
                    base, top, config.backbone, _model_augmenter(config),
                    config.unfreeze_blocks, config.train_batchnorm,
                )  # fmt: skip
            run.splits = {"train": split(steps), "validation": split(val_steps)}
            _fit_images(run, model)
        store.close()
    return timer.timing(steps, val_steps)
