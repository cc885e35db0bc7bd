"""Shaping run records and metrics into tables and long-form frames for charts.

The pages draw; this module decides what the rows and columns are, so that the
shaping is tested without a browser. pandas only, no TensorFlow.
"""

import pandas as pd

# One progress formula for every view: re-exported here for the pages.
from core.progress import (  # noqa: F401
    Progress,
    activity,
    format_seconds,
    phase_text,
    progress,
    run_progress,
)

# The blog's validation accuracies on cats vs dogs (2000 train / 800 validation).
BLOG_REFERENCE = {
    "scratch": ("Small CNN from scratch", 0.79, 0.81),
    "bottleneck": ("VGG16 bottleneck features", 0.90, 0.91),
    "finetune": ("Fine-tuned VGG16 (last conv block)", 0.94, 0.94),
}


def blog_reference_table() -> pd.DataFrame:
    """The blog's reference accuracies, one row per method."""
    rows = [
        {
            "method": method,
            "what": what,
            "validation accuracy": f"{low:.2f}" if low == high else f"{low:.2f}–{high:.2f}",
        }
        for method, (what, low, high) in BLOG_REFERENCE.items()
    ]
    return pd.DataFrame(rows)


def runs_table(records: list) -> pd.DataFrame:
    """One row per run (`RunRecord`s from the store) with the figures worth comparing.

    Accuracy, its 95% Wilson interval and n are those of the evaluated final model
    on the validation split; "best epoch acc" is the best per-epoch figure seen.
    Missing figures (a run still going, or failed) are left empty.
    """
    rows = []
    for r in records:
        s = r.summary
        ci = (s.get("val_ci_low"), s.get("val_ci_high"))
        rows.append(
            {
                "id": r.id,
                "name": r.name,
                "method": r.method,
                "backbone": r.backbone if r.method != "scratch" else None,
                "image size": r.config.get("image_size"),
                "epochs": r.epochs_planned,
                "val acc": s.get("val_accuracy"),
                "95% CI": f"{ci[0]:.3f}–{ci[1]:.3f}" if None not in ci else None,
                "n": s.get("val_n"),
                "best epoch acc": s.get("best_val_accuracy"),
                "val loss": s.get("val_loss"),
                "train s": s.get("train_seconds", r.duration),
                "params": s.get("total_params"),
                "trainable": s.get("trainable_params"),
                "pretrained": r.pretrained if r.method != "scratch" else None,
                "status": r.status,
            }
        )
    return pd.DataFrame(rows, columns=_TABLE_COLUMNS)


_TABLE_COLUMNS = [
    "id", "name", "method", "backbone", "image size", "epochs", "val acc", "95% CI", "n",
    "best epoch acc", "val loss", "train s", "params", "trainable", "pretrained", "status",
]  # fmt: skip


def epoch_frame(epochs: list[dict], run: str | None = None) -> pd.DataFrame:
    """Per-epoch figures in long form: epoch, metric (loss/accuracy), split, value[, run].

    Args:
        epochs: `RunStore.epochs(run_id)` rows.
        run: a label added as a "run" column, for overlaying several runs.
    """
    rows = []
    for e in epochs:
        for metric in ("loss", "accuracy"):
            for split, key in (("training", metric), ("validation", f"val_{metric}")):
                if e.get(key) is not None:
                    rows.append(
                        {"epoch": e["epoch"], "metric": metric, "split": split, "value": e[key]}
                    )
    frame = pd.DataFrame(rows, columns=["epoch", "metric", "split", "value"])
    if run is not None:
        frame["run"] = run
    return frame


def batch_frame(batches: list[dict]) -> pd.DataFrame:
    """Per-batch running loss and accuracy in long form: batch, metric, value."""
    rows = [
        {"batch": b["batch"], "metric": metric, "value": b[metric]}
        for b in batches
        for metric in ("loss", "accuracy")
        if b.get(metric) is not None
    ]
    return pd.DataFrame(rows, columns=["batch", "metric", "value"])


def confusion_frame(report: dict) -> pd.DataFrame:
    """An `EvalReport` dict's confusion matrix in long form: true, predicted, count."""
    names = report["class_names"]
    return pd.DataFrame(
        [
            {"true": names[i], "predicted": names[j], "count": count}
            for i, row in enumerate(report["confusion"])
            for j, count in enumerate(row)
        ]
    )


def prediction_frame(results: dict[str, list]) -> pd.DataFrame:
    """Class probabilities in long form: image (input index), run, class, probability.

    Args:
        results: run label -> `core.predict.Prediction`s, one per input image in order;
            inputs that could not be classified are left out.
    """
    rows = [
        {"image": index, "run": run, "class": name, "probability": prob}
        for run, predictions in results.items()
        for index, p in enumerate(predictions)
        if p.ok
        for name, prob in zip(p.class_names, p.probabilities, strict=True)
    ]
    return pd.DataFrame(rows, columns=["image", "run", "class", "probability"])


def accuracy_sentence(summary: dict) -> str | None:
    """ "Validation accuracy 0.883 (95% interval 0.814–0.929, n = 120)", or None if unknown."""
    keys = ("val_accuracy", "val_ci_low", "val_ci_high", "val_n")
    if any(summary.get(k) is None for k in keys):
        return None
    acc, low, high, n = (summary[k] for k in keys)
    return f"Validation accuracy {acc:.3f} (95% interval {low:.3f}–{high:.3f}, n = {n})"


def watched_run(records: list, preferred: int | None):
    """The run the Train page follows: the one running, else `preferred`, else the newest.

    So that a new visit (or a return from another page) finds the run still going.
    """
    running = [r for r in records if r.status == "running"]
    chosen = [r for r in records if r.id == preferred]
    return (running or chosen or records or [None])[0]
