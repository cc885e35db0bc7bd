"""The end of a run: predictions on the validation and test splits, their metrics and
reports, the saved model, and the run summary's figures (`finish`).

The files written are those `core.store.RunFolder` names: `model`, `report(split)`,
`predictions(split)`.
"""

from __future__ import annotations

import json

import numpy as np

from core.fitting import TrainingRun, epoch_timing, image_inputs


def predict_probs(model, inputs, callbacks=(), batch_size: int | None = None) -> np.ndarray:
    """Class probabilities: `(N,)` for a one-unit sigmoid output, else `(N, C)`."""
    kwargs = {} if batch_size is None else {"batch_size": batch_size}
    probs = model.predict(inputs, verbose=0, callbacks=list(callbacks), **kwargs)
    return probs.reshape(-1) if probs.shape[-1] == 1 else probs


def finish(run: TrainingRun, model, fit: dict, probs: dict | None = None) -> str:
    """Evaluate, write the run folder, update the summary; returns the final status.

    Args:
        run: the run being trained.
        model: the trained model taking raw images (saved as the run's `model`).
        fit: what `core.fitting.fit_model` returned.
        probs: split -> probabilities already computed (bottleneck: from the features);
            default: `model` predicts each split's images.
    """
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
            inputs = image_inputs(run, split, False)
            counter = PredictProgress(on_batch, run.config.batch_size, len(decoded))
            if isinstance(inputs, tuple):  # arrays: predict() batches them itself
                split_probs = predict_probs(model, inputs[0], [counter], run.config.batch_size)
            else:
                split_probs = predict_probs(model, inputs, [counter])
        labels = np.asarray(decoded.labels)
        report = metrics.evaluate_predictions(
            labels, split_probs, run.class_names, loss=metrics.log_loss(labels, split_probs)
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
        restored_by=fit["best"].monitor if fit["restored"] else None,
        epochs_run=epochs_run,
        total_params=total,
        trainable_params=trainable,
        train_seconds=fit["seconds"],
        seconds_per_epoch=fit["seconds"] / epochs_run if epochs_run else None,
        **epoch_timing(fit["epoch_seconds"]),
        pretrained=bool(run.config.pretrained) if run.config.uses_backbone else None,
    )
    run.store.update_summary(run.run_id, **summary)
    return "stopped" if fit["stopped"] else "finished"
