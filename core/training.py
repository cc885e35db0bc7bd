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

This module decides what each method trains; the Keras wiring (compile, fit,
callbacks) is `core.fitting`, the end of a run (predictions, metrics, reports)
`core.evaluate`.

Example:

    config = TrainConfig.defaults("scratch", data="demo", epochs=2, image_size=64)
    run_id = start_run(config)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable

from core.augment import run_augmenter
from core.devices import precision_policy
from core.errors import LabError, RunError
from core.evaluate import finish, predict_probs
from core.fitting import (
    TrainingRun,
    apply_seed,
    compile_model,
    fit_finetune,
    fit_images,
    fit_model,
    top_model_jit_compile,
)
from core.i18n import _
from core.train_config import TrainConfig

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


def create_cv_runs(config: TrainConfig, folds: int, store, status: str = "queued") -> list[int]:
    """The `folds` runs of a k-fold cross-validation of `config`, one per fold, in fold order.

    They share a new `cv_group` (the runs list and Compare group them by it) and are
    named "<name>, fold i/K" ("fold i/K" without a name). Fine-tuning folds train
    their own top model first (`top_run` is cleared: a top trained on another split
    has seen this fold's validation images).

    Raises:
        LabError: an invalid setting (checked before any run is created).
    """
    import uuid

    group = uuid.uuid4().hex[:12]
    prefix = f"{config.name}, " if config.name else ""
    configs = [
        dataclasses.replace(
            config,
            folds=folds,
            fold=fold,
            cv_group=group,
            top_run=None if config.method == "finetune" else config.top_run,
            name=f"{prefix}fold {fold + 1}/{folds}",
        ).validate()
        for fold in range(folds)
    ]
    return [create_run(fold_config, store, status=status) for fold_config in configs]


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
    run = TrainingRun(
        config, store, run_id, folder, should_stop or (lambda: store.stop_requested(run_id)), report
    )
    try:
        config.validate()
        folder.config.write_text(json.dumps(config.to_dict(), indent=2))
        apply_seed(config)
        methods = {"scratch": _scratch, "bottleneck": _bottleneck, "finetune": _finetune}
        status = _on_devices(run, {**methods, "improved": _improved}[config.method])
    except LabError as exc:
        store.finish(run_id, "failed", error=str(exc))
        raise
    except KeyboardInterrupt:
        store.finish(run_id, "interrupted", error=_("Interrupted by the user (Ctrl-C)."))
        raise
    except Exception as exc:
        message = _("Training failed with an unexpected error: {kind}: {error}").format(
            kind=type(exc).__name__, error=exc
        )
        store.finish(run_id, "failed", error=message)
        raise LabError(message) from exc
    store.finish(run_id, status)
    return store.get(run_id)


def _on_devices(run: TrainingRun, method: Callable[[TrainingRun], str]) -> str:
    """Run `method` in the config's precision policy (restored after) and, on several
    devices, inside the distribution strategy's scope; both are recorded."""
    from core import devices

    config = run.config
    precision = devices.resolve_precision(config.precision, config.method)
    strategy, run.replicas = devices.make_strategy(config.devices)
    run.store.update_summary(
        run.run_id, precision=precision, devices=run.replicas, global_batch_size=run.global_batch
    )
    with devices.precision_policy(precision), devices.strategy_scope(strategy):
        return method(run)


# --- the three methods -----------------------------------------------------------------


def _scratch(run: TrainingRun) -> str:
    from core import models

    config = run.config
    _load_data(run)
    augmenter = run_augmenter(config, "model")
    model = models.make_scratch_cnn(
        config.image_size, len(run.class_names), augmenter, config.dropout, config.l2
    )
    fit = fit_images(run, model)
    return finish(run, model, fit)


def _improved(run: TrainingRun) -> str:
    """The "improved small CNN" (issue 10, not the blog's): `models.make_improved_cnn`,
    trained like the scratch CNN; its defaults add AdamW on a cosine schedule."""
    from core import models

    config = run.config
    _load_data(run)
    augmenter = run_augmenter(config, "model")
    model = models.make_improved_cnn(
        config.image_size, len(run.class_names), augmenter, config.dropout
    )
    fit = fit_images(run, model)
    return finish(run, model, fit)


def _bottleneck(run: TrainingRun) -> str:
    from core import backbones, features, models

    config = run.config
    _load_data(run)
    base = None

    def make_base():  # float32 (features and the saved classifier's base alike)
        nonlocal base
        if base is None:  # one base: a random one is what the features are keyed by
            with precision_policy("float32"):
                base = backbones.build_base(config.backbone, config.image_size, config.pretrained)
        return base

    if not config.pretrained:  # random weights: the features are keyed by their values
        make_base()
    key = features.run_feature_key(config, run.dataset.fingerprint(), base)
    # Features are extracted in float32 whatever the run's precision: one cache for all.
    with precision_policy("float32"):
        feats = features.load_or_extract(
            run.splits,
            run.class_names,
            key,
            make_base,
            config.backbone,
            config.augment_copies,
            run_augmenter(config, "features"),
            batch_size=32,
            progress=run.store.phase_reporter(run.run_id, "extract"),
        )
    run.store.update_summary(
        run.run_id,
        extract_seconds=feats.extract_seconds,
        feature_cache_hit=feats.cache_hit,
        feature_shape=list(feats.feature_shape),
    )
    # Seeded again: building the base draws random numbers on a cache miss only, and the
    # top must start from the same weights either way.
    apply_seed(config)
    top = models.make_top_model(
        feats.feature_shape, len(run.class_names), config.head, config.dropout
    )
    steps = math.ceil(len(feats.y["train"]) / run.global_batch)
    compile_model(top, config, len(run.class_names), steps, top_model_jit_compile(config))
    train_inputs = (feats.x["train"], feats.y["train"])
    val_inputs = (feats.x["validation"], feats.y["validation"])
    fit = fit_model(run, top, train_inputs, val_inputs, len(feats.y["train"]))
    top.save_weights(run.folder.top_weights)
    probs = {s: predict_probs(top, feats.x[s]) for s in feats.x if s != "train"}
    # The saved model takes raw images, like every run's model.keras.
    make_base()
    base.trainable = False
    classifier = models.make_classifier(base, top, config.backbone)
    return finish(run, classifier, fit, probs=probs)


def _finetune(run: TrainingRun) -> str:
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
            _("The top model of run {id} does not fit this fine-tuning run ({error}).").format(
                id=top_run, error=exc
            )
        ) from exc
    model = models.make_finetune_model(
        base,
        top,
        config.backbone,
        run_augmenter(config, "model"),
        config.unfreeze_blocks,
        config.train_batchnorm,
    )
    run.store.update_summary(
        run.run_id, top_run_id=top_run, top_run_val_accuracy=record.summary.val_accuracy
    )
    fit = fit_finetune(run, base, top, model)
    return finish(run, model, fit)


def _train_stage1(run: TrainingRun) -> int | None:
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
        precision=config.precision,
        devices=config.devices,
        name=f"{config.name or f'finetune #{run.run_id}'}: stage 1 (top model)",
        folds=config.folds,  # the same fold: its top never sees this run's validation images
        fold=config.fold,
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
        message = _("Stage 1 (run {id}, training the top model) failed: {error}")
        raise LabError(message.format(id=stage_id, error=exc)) from exc
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
        problem = _("has no {file}").format(file=top_weights.name)
    if problem is not None:
        raise RunError(refusal(top_run, problem, config))
    return record


# --- shared steps ----------------------------------------------------------------------


def _load_dataset(config: TrainConfig):
    from core.datasets import fold_dataset, load_dataset, resolve_dataset

    if str(config.data).strip().lower() == "demo":
        dataset = resolve_dataset("demo")
    else:
        dataset = load_dataset(config.data, val_fraction=config.val_fraction, seed=config.seed)
    if config.folds is None:
        return dataset
    return fold_dataset(dataset, config.folds, config.fold, config.seed)


def _load_data(run: TrainingRun) -> None:
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
