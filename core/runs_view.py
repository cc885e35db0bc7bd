"""Shaping run records and metrics into tables and long-form frames for charts.

The pages draw; this module decides what the rows and columns are, so that the
shaping is tested without a browser. pandas only, no TensorFlow.
"""

from pathlib import PurePath

import pandas as pd

from core.i18n import N_, _, format_interval

# One progress formula for every view: re-exported here for the pages.
from core.progress import (  # noqa: F401
    Progress,
    activity,
    format_seconds,
    phase_text,
    progress,
    run_progress,
)
from core.store import STATUS_WORDS, status_text  # noqa: F401 (for the pages)
from core.train_config import FROM_SCRATCH

DEMO_LABEL = N_("demo (synthetic)")  # how the built-in demo dataset is named everywhere

# The blog's validation accuracies on cats vs dogs (2000 train / 800 validation).
BLOG_REFERENCE = {
    "scratch": (N_("Small CNN from scratch"), 0.79, 0.81),
    "bottleneck": (N_("VGG16 bottleneck features"), 0.90, 0.91),
    "finetune": (N_("Fine-tuned VGG16 (last conv block)"), 0.94, 0.94),
}
# The tables' columns as a page shows them (the frames and the CSV keep the English keys).
COLUMN_WORDS = {
    "id": N_("id"),
    "name": N_("name"),
    "status": N_("status"),
    "dataset": N_("dataset"),
    "method": N_("method"),
    "backbone": N_("backbone"),
    "size": N_("size"),
    "epochs": N_("epochs"),
    "val acc": N_("val acc"),
    "95% CI": N_("95% CI"),
    "train s": N_("train s"),
    "hold-out": N_("hold-out"),
    "group": N_("group"),
    "folds": N_("folds"),
    "mean acc": N_("mean acc"),
    "sd": N_("sd"),
    "95% interval": N_("95% interval"),
    "precision": N_("precision"),
    "recall": N_("recall"),
    "support": N_("support"),
}


def column_text(column: str) -> str:
    """A table column's name as a page shows it."""
    return _(COLUMN_WORDS[column]) if column in COLUMN_WORDS else column


def shown_table(frame: pd.DataFrame, column_config: dict | None = None):
    """A table as a page shows it: columns named in the session's language, statuses in
    words; `column_config` (keyed by the English columns) is keyed the same way.

    Returns `(frame, column_config)`.
    """
    frame = frame.copy()
    if "status" in frame.columns:
        frame["status"] = frame["status"].map(status_text)
    config = {column_text(k): v for k, v in (column_config or {}).items()}
    return frame.rename(columns=column_text), config


def blog_reference_table() -> pd.DataFrame:
    """The blog's reference accuracies, one row per method."""
    rows = [
        {
            _("method"): method,
            _("what"): _(what),
            _("validation accuracy"): f"{low:.2f}" if low == high else f"{low:.2f}–{high:.2f}",
        }
        for method, (what, low, high) in BLOG_REFERENCE.items()
    ]
    return pd.DataFrame(rows)


def lab_vs_blog_table(measured: list) -> pd.DataFrame:
    """The blog's accuracies beside the lab's own run of the same experiment (its
    columns named in the session's language).

    Args:
        measured: `core.lab_results.MeasuredRow`s (the lab's 2000 / 800 cats-vs-dogs run);
            a method without a row is left empty.
    """
    by_method = {row.method: row for row in measured}
    rows = []
    for method, (_what, low, high) in BLOG_REFERENCE.items():
        row = by_method.get(method)
        rows.append(
            {
                _("method"): method,
                _("the blog"): f"{low:.2f}" if low == high else f"{low:.2f}–{high:.2f}",
                _("this lab"): None if row is None else f"{row.val_accuracy:.3f}",
                _("95% interval"): None if row is None else f"{row.ci_low:.3f}–{row.ci_high:.3f}",
                _("lab's network"): None if row is None else _network(row.backbone),
                _("epochs"): None if row is None else row.epochs,
            }
        )
    return pd.DataFrame(rows)


def _network(backbone: str | None) -> str:
    from core.backbones import BACKBONES

    return BACKBONES[backbone].label if backbone in BACKBONES else (backbone or _("small CNN"))


def runs_table(records: list) -> pd.DataFrame:
    """One row per run (`RunRecord`s from the store) with the figures worth comparing.

    Accuracy, its 95% Wilson interval and n are those of the evaluated final model
    on the validation split; "best epoch acc" is the best per-epoch figure seen.
    Missing figures (a run still going, or failed) are left empty. The page shows
    `SHOWN_COLUMNS` (they fit a laptop screen); the CSV download has them all.
    """
    rows = []
    for r in records:
        s = r.summary
        ci = (s.val_ci_low, s.val_ci_high)
        rows.append(
            {
                "id": r.id,
                "name": r.name,
                "status": r.status,
                "dataset": dataset_label(r),
                "method": r.method,
                "backbone": _backbone_text(r),
                "size": r.config.image_size,
                "epochs": epochs_text(r),
                "val acc": s.val_accuracy,
                "95% CI": f"{ci[0]:.3f}–{ci[1]:.3f}" if None not in ci else None,
                "n": s.val_n,
                "best epoch acc": s.best_val_accuracy,
                "top run acc": s.top_run_val_accuracy,
                "val loss": s.val_loss,
                "train s": r.duration if s.train_seconds is None else s.train_seconds,
                "params": s.total_params,
                "trainable": s.trainable_params,
                "pretrained": r.pretrained if r.method not in FROM_SCRATCH else None,
                "classes": ", ".join(s.class_names or []) or None,
            }
        )
    return pd.DataFrame(rows, columns=_TABLE_COLUMNS)


_TABLE_COLUMNS = [
    "id", "name", "status", "dataset", "method", "backbone", "size", "epochs", "val acc",
    "95% CI", "n", "best epoch acc", "top run acc", "val loss", "train s", "params", "trainable",
    "pretrained", "classes",
]  # fmt: skip
# What the Compare page shows: status early, so that it is never the column cut off.
SHOWN_COLUMNS = [
    "id", "name", "status", "dataset", "method", "backbone", "size", "epochs", "val acc",
    "95% CI", "n", "train s",
]  # fmt: skip


def cv_table(records: list) -> pd.DataFrame:
    """One row per k-fold cross-validation among `records` (`core.crossval`): its
    runs, folds finished, mean validation accuracy ± sd (ddof=1) and 95% interval."""
    from core.crossval import cv_groups, cv_summary, group_label

    rows = []
    for group, runs in cv_groups(records).items():
        summary = cv_summary(runs)
        interval = None
        if summary.ci_low is not None:
            interval = f"{summary.ci_low:.3f}–{summary.ci_high:.3f}"
        rows.append(
            {
                "group": group_label(runs),
                "dataset": dataset_label(runs[0]),
                "method": runs[0].method,
                "backbone": _backbone_text(runs[0]),
                "folds": f"{summary.finished}/{summary.n_folds}",
                "mean acc": summary.mean,
                "sd": summary.sd,
                "95% interval": interval,
                "cv_group": group,
            }
        )
    return pd.DataFrame(rows, columns=_CV_COLUMNS)


_CV_COLUMNS = [
    "group", "dataset", "method", "backbone", "folds", "mean acc", "sd", "95% interval",
    "cv_group",
]  # fmt: skip
HOLDOUT_COLUMNS = ["hold-out acc", "hold-out CI", "hold-out n", "hold-out tta"]
HOLDOUT_SHOWN = "hold-out"  # "0.825 (0.747–0.883)": one column, so the table fits a laptop


def with_holdout(table: pd.DataFrame, latest: dict) -> pd.DataFrame:
    """The runs table with each run's hold-out figures (`core.holdout.latest_by_run`).

    Adds `HOLDOUT_COLUMNS` (for the CSV) and `HOLDOUT_SHOWN`, the accuracy with its
    interval in words; runs not evaluated there stay empty.
    """
    table = table.copy()
    found = [latest.get(run_id) for run_id in table["id"]]
    table["hold-out acc"] = [e.accuracy if e else None for e in found]
    table["hold-out CI"] = [f"{e.ci_low:.3f}–{e.ci_high:.3f}" if e else None for e in found]
    table["hold-out n"] = pd.array([e.n if e else None for e in found], dtype="Int64")
    table["hold-out tta"] = [e.tta if e else None for e in found]
    table[HOLDOUT_SHOWN] = [f"{e.accuracy:.3f} ({e.ci_low:.3f}–{e.ci_high:.3f})" if e else None
                            for e in found]  # fmt: skip
    return table


def _backbone_text(record) -> str:
    if record.method in FROM_SCRATCH:
        return "—"  # none: the small CNNs learn from scratch
    if record.pretrained:
        return record.backbone
    return _("{backbone} (untrained)").format(backbone=record.backbone)


def dataset_label(record) -> str:
    """The run's dataset by display name: "demo (synthetic)" or the folder's name."""
    return spec_label(str(record.dataset or record.config.data or ""))


def spec_label(spec: str, english: bool = False) -> str:
    """A dataset spec ("demo" or a folder path) by display name, for pickers and captions.

    "demo (synthetic)" for the demo (in the session's language unless `english`, as
    the store keeps it), else the folder's name; a dataset opened at its train/ split
    still goes by the folder above it.
    """
    if spec.strip().lower() == "demo":
        return DEMO_LABEL if english else _(DEMO_LABEL)
    path = PurePath(spec.rstrip("/\\"))
    if path.name.lower() in ("train", "validation", "val", "valid", "test") and path.parent.name:
        return path.parent.name
    return path.name or spec


def run_label(record) -> str:
    """How a run is named in pickers: "#3 scratch · 0.912", "#4 scratch · cnn · stopped at 0.500".

    The run's name is shown only when it is not the default ("scratch #3").
    """
    name = _run_name(record)
    accuracy = record.summary.val_accuracy
    figure = f"{accuracy:.3f}" if accuracy is not None else None
    if record.status == "finished":
        return f"{name} · {figure}" if figure else name
    status = status_text(record.status)
    if figure is None:
        return f"{name} · {status}"
    return _("{name} · {status} at {accuracy}").format(name=name, status=status, accuracy=figure)


def is_default_worthy(record) -> bool:
    """Finished, evaluated and better than chance: a run fit to be chosen for the user.

    Stopped, interrupted or failed runs, runs without a validation figure and
    degenerate ones (no better than guessing among the classes) never are.
    """
    if record.status != "finished":
        return False
    accuracy = record.summary.val_accuracy
    classes = record.summary.num_classes or len(record.summary.class_names or [])
    return accuracy is not None and accuracy > 1.0 / max(classes, 2)


def best_finished_run(records: list, class_names: list[str] | None = None):
    """The best finished run (highest validation accuracy; newest on a tie), or None.

    Args:
        records: `RunRecord`s.
        class_names: the active dataset's classes: runs trained on them are
            preferred when one exists; otherwise the best over all classes.
    """
    worthy = [r for r in records if is_default_worthy(r)]
    same = [r for r in worthy if class_names and trained_classes(r) == list(class_names)]
    pool = same or worthy
    if not pool:
        return None
    return max(pool, key=lambda r: (r.summary.val_accuracy, r.id))


def trained_classes(record) -> list[str]:
    """The class names a run was trained on, as its summary records them ([] if unknown)."""
    return list(record.summary.class_names or [])


def class_warning(record, class_names: list[str] | None, dataset_name: str = "") -> str | None:
    """A sentence when a run was trained on other classes than the active dataset's.

    Says so too when the run was trained on synthetic data (the demo set).
    """
    trained = trained_classes(record)
    if not trained or not class_names or trained == list(class_names):
        return None
    where = dataset_name or _("the active dataset")
    words = {"run": record.id, "trained": ", ".join(trained), "where": where,
             "classes": ", ".join(class_names)}  # fmt: skip
    if spec_label(str(record.dataset or record.config.data or ""), english=True) == DEMO_LABEL:
        return _(
            "Run #{run} was trained on synthetic data (the demo's classes {trained}), not on "
            "the classes of {where}, which are {classes}; it can only answer with its own classes."
        ).format(**words)
    return _(
        "Run #{run} was trained on other classes ({trained}), not on the classes of {where}, "
        "which are {classes}; it can only answer with its own classes."
    ).format(**words)


def headline(prediction) -> str:
    """ "dogs — 98%": a model's answer for one image."""
    return f"{prediction.predicted} — {prediction.confidence:.0%}"


def epochs_text(record, logged: int | None = None) -> str:
    """Epochs completed of those planned: "3/20" ("-/20" when not known).

    Args:
        record: a `RunRecord`; an ended run's summary holds `epochs_run`.
        logged: the epochs logged so far, for a run still going (or an old record).
    """
    done = record.summary.epochs_run
    if done is None or record.status == "running":
        done = logged
    return f"{'-' if done is None else done}/{record.epochs_planned}"


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


def confusion_frame(report) -> pd.DataFrame:
    """An `EvalReport`'s confusion matrix in long form: true, predicted, count."""
    names = report.class_names
    return pd.DataFrame(
        [
            {"true": names[i], "predicted": names[j], "count": count}
            for i, row in enumerate(report.confusion)
            for j, count in enumerate(row)
        ]
    )


def class_counts_frame(report) -> pd.DataFrame:
    """A `HealthReport`'s decodable images in long form: split, class, images."""
    return pd.DataFrame(
        [(split, name, n) for split, per in report.counts.items() for name, n in per.items()],
        columns=["split", "class", "images"],
    )


def longer_side_frame(sizes) -> pd.DataFrame:
    """An `ImageSizes`' histogram of the longer side: side (bucket), images."""
    return pd.DataFrame(list(sizes.longer_side.items()), columns=["side", "images"])


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


def accuracy_sentence(figures, bold: bool = False) -> str | None:
    """ "Validation accuracy 0.883 (95% interval 0.814–0.929, n = 120)", or None if unknown.

    The one wording of a run's accuracy, for every page.

    Args:
        figures: a `RunSummary` (its `val_*` figures) or an `EvalReport`.
        bold: the accuracy in Markdown bold, for `st.markdown`.
    """
    if hasattr(figures, "val_accuracy"):  # a RunSummary
        acc, low, high = figures.val_accuracy, figures.val_ci_low, figures.val_ci_high
        n = figures.val_n
    else:
        acc, low, high, n = figures.accuracy, figures.ci_low, figures.ci_high, figures.n
    if None in (acc, low, high, n):
        return None
    value = f"**{acc:.3f}**" if bold else f"{acc:.3f}"
    return _("Validation accuracy {value} (95% interval {interval}, n = {n})").format(
        value=value, interval=format_interval(low, high), n=n
    )


_RESTORED_BY_WORDS = {
    "val_accuracy": N_("validation accuracy"),
    "val_loss": N_("validation loss"),
}


def result_line(summary) -> str | None:
    """A finished run's result: its accuracy sentence, then (fine-tuning) its top run's
    figure beside it; None without an accuracy."""
    accuracy = accuracy_sentence(summary)
    if accuracy is None:
        return None
    top = top_run_sentence(summary)
    return f"{accuracy}. {top}." if top else f"{accuracy}."


def top_run_sentence(summary) -> str | None:
    """Fine-tuning's figure beside its top run's, and how it chose its weights, e.g.
    "Its top model (run 3) had 0.850; the best epoch's weights (by validation accuracy)
    were restored", or None for a run without a top run's figure."""
    if summary.top_run_val_accuracy is None:
        return None
    figures = {"run": summary.top_run_id, "accuracy": f"{summary.top_run_val_accuracy:.3f}"}
    if not summary.best_weights_restored:
        return _("Its top model (run {run}) had {accuracy}").format(**figures)
    by = summary.restored_by or "?"
    by = _(_RESTORED_BY_WORDS[by]) if by in _RESTORED_BY_WORDS else by
    return _(
        "Its top model (run {run}) had {accuracy}; the best epoch's weights (by {by}) were restored"
    ).format(by=by, **figures)


def below_top_run_warning(summary) -> str | None:
    """One sentence when a fine-tuning run ended below the top model it started from,
    else None (the page and `python -m core runs show` both say it)."""
    final, top = summary.val_accuracy, summary.top_run_val_accuracy
    if final is None or top is None or final >= top:
        return None
    return _(
        "Fine-tuning ended below its top model: validation accuracy {final} against "
        "{top} for run {run}, so that run's model is the better one."
    ).format(final=f"{final:.3f}", top=f"{top:.3f}", run=summary.top_run_id)


def watched_run(records: list, preferred: int | None):
    """The run the Train page follows: the one running, else `preferred`, else the newest.

    So that a new visit (or a return from another page) finds the run still going.
    """
    running = [r for r in records if r.status == "running"]
    chosen = [r for r in records if r.id == preferred]
    return (running or chosen or records or [None])[0]


def run_title(record) -> str:
    """ "Run #3 · scratch", plus the run's name when it is not the default "scratch #3"."""
    return _("Run {name}").format(name=_run_name(record))


def _run_name(record) -> str:
    """ "#3 · scratch", plus the run's name when it is not the default "scratch #3"."""
    name = f"#{record.id} · {record.method}"
    if record.name and record.name != f"{record.method} #{record.id}":
        name += f" · {record.name}"
    return name


def reliability_frame(calibration) -> pd.DataFrame:
    """A `core.calibration.Calibration`'s bins as rows: confidence, accuracy, count."""
    return pd.DataFrame(
        [(b.confidence, b.accuracy, b.count) for b in calibration.bins],
        columns=["confidence", "accuracy", "count"],
    )


def comparable_runs(records: list) -> list:
    """Runs with validation predictions (finished or stopped), best first, for paired tests."""
    usable = [r for r in records if r.status in ("finished", "stopped")
              and r.summary.val_accuracy is not None]  # fmt: skip
    return sorted(usable, key=lambda r: (-r.summary.val_accuracy, -r.id))
