"""Class probabilities from a finished run's model, for new images.

Images are decoded and resized exactly as the run's training pipeline did
(`core.imaging`: RGB, EXIF applied, the run's `image_size` and `resize_mode`)
and fed as float32 [0, 255]; the model does its own scaling.

A file that is not an image does not stop the others: its `Prediction` carries
an `error` sentence instead of probabilities, so a page can show the results
of the good files next to the messages for the bad ones.

Example:

    for p in predict_images(run_id, ["cat.jpg", "notes.txt"]):
        print(p.source, p.predicted if p.ok else p.error)
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.calibration import apply_temperature, load_temperature
from core.errors import DatasetError, ImageError, RunError
from core.eval_report import load_report
from core.i18n import _
from core.metrics import EvalReport
from core.store import RunRecord, RunStore, status_text

USABLE_STATUSES = ("finished", "stopped")  # a stopped run keeps and saves what it learned
_MODEL_CACHE_SIZE = 4
_models: OrderedDict[tuple, tuple[int, object]] = OrderedDict()
_models_lock = threading.Lock()


@dataclass
class Prediction:
    """One image's class probabilities from one model (or why there are none).

    Attributes:
        source: the file name or path (or "image N" for in-memory images).
        class_names: the run's classes, in label order.
        probabilities: one probability per class (empty when `error` is set).
        predicted: the most probable class ("" when `error` is set).
        confidence: its probability.
        error: one sentence saying why this input could not be classified.
    """

    source: str
    class_names: list[str]
    probabilities: list[float]
    predicted: str
    confidence: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return asdict(self)


def run_class_names(record: RunRecord, store: RunStore) -> list[str]:
    """The class names a run was trained on, in label order.

    Looked up in the run's summary (`class_names`), then its `report.json`,
    then its `predictions.csv` header.

    Raises:
        RunError: when none of these records them.
    """
    names = record.summary.class_names
    if names:
        return list(names)
    folder = store.run_folder(record.id)
    with contextlib.suppress(RunError):  # an unreadable report: the CSV may still say
        report = load_report(folder)
        if report is not None:
            return list(report.class_names)
    csv_path = folder.predictions()
    if csv_path.is_file():
        with csv_path.open(encoding="utf-8") as f:
            header = f.readline().strip().split(",")
        names = [h[5:] for h in header if h.startswith("prob_")]
        if names:
            return names
    raise RunError(_("Run {run} does not record its class names.").format(run=record.id))


def load_run_model(run_id: int, store: RunStore | None = None):
    """The run's trained Keras model (`model.keras`), cached while the file is unchanged.

    Raises:
        RunError: the run does not exist, is not finished, or its model file is
            missing or unreadable.
    """
    store = store or RunStore()
    record = store.get(run_id)
    path = model_path(record, store)
    stamp = path.stat().st_mtime_ns
    key = (str(store.path), int(run_id))
    with _models_lock:
        cached = _models.get(key)
        if cached and cached[0] == stamp:
            _models.move_to_end(key)
            return cached[1]
    model = _load(path, run_id)
    with _models_lock:
        _models[key] = (stamp, model)
        while len(_models) > _MODEL_CACHE_SIZE:
            _models.popitem(last=False)
    return model


def model_path(record: RunRecord, store: RunStore) -> Path:
    """The run's `model.keras`, checked to exist and to belong to a usable run.

    Raises:
        RunError: the run is not finished (or stopped), or the file is gone.
    """
    if record.status not in USABLE_STATUSES:
        raise RunError(
            _("Run {run} ({name}) is {status}, not finished, so it has no model to use.").format(
                run=record.id, name=record.name, status=status_text(record.status)
            )
        )
    path = store.run_folder(record.id).model
    if not path.is_file():
        raise RunError(
            _("Run {run} ({name}) has lost its model file {path}.").format(
                run=record.id, name=record.name, path=path
            )
        )
    return path


def clear_model_cache() -> None:
    """Forget every loaded model (frees memory; the next use reloads from disk)."""
    with _models_lock:
        _models.clear()


def prepare_image(source, image_size: int, resize_mode: str = "stretch", name: str | None = None):
    """Decode one image as the training pipeline does: `(size, size, 3)` uint8.

    Args:
        source: a path, the file's bytes, a binary file object (such as an
            uploaded file) or a PIL image.
        image_size: the side of the square the model takes.
        resize_mode: `stretch`, `crop` or `pad`.
        name: how to name the file in error messages.

    Raises:
        ImageError: the input cannot be decoded as an image.
    """
    from PIL import Image

    from core.imaging import fit_to_square, load_square

    if isinstance(source, Image.Image):
        return fit_to_square(source.convert("RGB"), image_size, resize_mode)
    if hasattr(source, "seek"):
        source.seek(0)  # an uploaded file may have been read before
    return load_square(source, image_size, resize_mode, name=name)


def run_input(record: RunRecord) -> tuple[int, str]:
    """The run's (image_size, resize_mode)."""
    config = record.config
    return int(config.image_size), str(config.resize_mode or "stretch")


def predict_images(
    run_id: int, images: list, store: RunStore | None = None, tta: str = "none"
) -> list[Prediction]:
    """Classify images with a run's model, one `Prediction` per input, in order.

    When a temperature was fitted for the run (`python -m core calibrate`), the
    probabilities are calibrated with it; the predicted class is the same either way.

    Args:
        run_id: a finished (or stopped) run.
        images: paths, bytes, binary file objects (uploads) or PIL images.
        store: the run store (default: the app home's).
        tta: test-time augmentation, one of `TTA_MODES` (see `class_probabilities`).

    Returns:
        One `Prediction` per input; an input that is not an image gets one
        with `error` set, and the others are still classified.

    Raises:
        RunError: the run does not exist, is not finished or lost its model.
    """
    store = store or RunStore()
    record = store.get(run_id)
    model = load_run_model(run_id, store)
    class_names = run_class_names(record, store)
    size, mode = run_input(record)
    results: list[Prediction | None] = []
    arrays, where = [], []
    for index, source in enumerate(images):
        label = source_name(source, index)
        try:
            arrays.append(prepare_image(source, size, mode, name=label))
            where.append(index)
            results.append(None)
        except ImageError as exc:
            results.append(Prediction(label, class_names, [], "", 0.0, error=str(exc)))
    if arrays:
        probs = class_probabilities(model, np.stack(arrays), len(class_names), tta=tta)
        temperature = load_temperature(store.run_folder(run_id).path)
        if temperature is not None:
            probs = apply_temperature(probs, temperature)
        for index, row in zip(where, probs, strict=True):
            best = int(np.argmax(row))
            results[index] = Prediction(
                source=source_name(images[index], index),
                class_names=class_names,
                probabilities=[float(v) for v in row],
                predicted=class_names[best],
                confidence=float(row[best]),
            )
    return results


def class_probabilities(
    model, images: np.ndarray, num_classes: int, batch_size: int = 32, tta: str = "none"
) -> np.ndarray:
    """`(N, C)` probabilities for uint8 or float [0, 255] images (binary: [1-p, p]).

    Args:
        tta: test-time augmentation: "none"; "flip" averages each image with its
            mirror image; "crops" also averages four corner crops (90% of the side,
            resized back), 6 views in all.
    """
    from core.metrics import probabilities_matrix

    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {', '.join(TTA_MODES)}. Received: tta={tta!r}")
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start : start + batch_size], dtype=np.float32)
        views = [probabilities_matrix(np.asarray(model(v, training=False)), num_classes)
                 for v in _tta_views(batch, tta)]  # fmt: skip
        outputs.append(np.mean(views, axis=0))
    return np.concatenate(outputs)


TTA_MODES = ("none", "flip", "crops")


def _tta_views(batch: np.ndarray, tta: str) -> list[np.ndarray]:
    """The batch as the model sees it under each test-time augmentation view."""
    views = [batch]
    if tta in ("flip", "crops"):
        views.append(batch[:, :, ::-1, :])
    if tta == "crops":
        import tensorflow as tf

        size = batch.shape[1]
        side = max(1, round(size * 0.9))
        for top, left in ((0, 0), (0, size - side), (size - side, 0), (size - side, size - side)):
            crop = batch[:, top : top + side, left : left + side, :]
            views.append(tf.image.resize(crop, (size, size)).numpy())
    return views


def source_name(source, index: int) -> str:
    """How to name an input in results and messages."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    name = getattr(source, "name", None) or getattr(source, "filename", None)
    return str(name) if name else _("image {n}").format(n=index + 1)


@dataclass
class Evaluation:
    """A run's model scored on a labelled folder (`evaluate_run`)."""

    run_id: int
    data: str
    split: str  # "validation", "test", or "all" for a plain folder of class folders
    report: EvalReport
    skipped: list[tuple[str, str]]  # (path, reason) of files that could not be decoded
    paths: list[str] = field(default_factory=list)  # the images scored, in order
    correct: list[bool] = field(default_factory=list)  # whether each was predicted right
    tta: str = "none"  # the test-time augmentation it was scored with

    def correct_by_path(self) -> dict[str, bool]:
        """Right or wrong per image, for paired comparisons (`core.significance`)."""
        return dict(zip(self.paths, self.correct, strict=True))

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "data": self.data,
            "split": self.split,
            "tta": self.tta,
            "report": self.report.to_dict(),
            "skipped": [list(item) for item in self.skipped],
        }


def evaluate_run(
    run_id: int, data, split: str | None = None, store: RunStore | None = None, tta: str = "none"
) -> Evaluation:
    """Score a finished run on any labelled images: accuracy, Wilson CI, n, confusion matrix.

    Args:
        run_id: a finished (or stopped) run.
        data: "demo", a folder of class sub-folders (every image is evaluated),
            or a dataset in the blog's layout (its `test/` split when present,
            else its validation split).
        split: force "train", "validation" or "test" of a split dataset.
        store: the run store (default: the app home's).
        tta: test-time augmentation, one of `TTA_MODES` (see `class_probabilities`).

    Returns:
        The `Evaluation`; undecodable files are skipped and listed.

    Raises:
        RunError: the run is not usable.
        DatasetError: the folder is unusable, or its classes differ from the run's.
    """
    from core.datasets import resolve_dataset
    from core.metrics import evaluate_predictions, log_loss
    from core.pipeline import load_split

    store = store or RunStore()
    record = store.get(run_id)
    model = load_run_model(run_id, store)
    class_names = run_class_names(record, store)
    dataset = resolve_dataset(data)
    if list(dataset.class_names) != class_names:
        raise DatasetError(
            _("{data} has classes {classes} but run {run} was trained on {trained}.").format(
                data=data, classes=", ".join(dataset.class_names), run=run_id,
                trained=", ".join(class_names),
            )
        )  # fmt: skip
    chosen = split or _default_split(dataset)
    names = ["train", "validation"] if chosen == "all" else [chosen]
    size, mode = run_input(record)
    parts = [load_split(dataset, name, size, mode) for name in names]
    images = np.concatenate([p.images for p in parts])
    labels = np.concatenate([np.asarray(p.labels) for p in parts])
    skipped = [item for p in parts for item in p.skipped]
    if len(labels) == 0:
        raise DatasetError(_("{data} has no decodable images to evaluate.").format(data=data))
    probs = class_probabilities(model, images, len(class_names), tta=tta)
    report = evaluate_predictions(
        labels, probs, class_names, loss=log_loss(labels, probs, len(class_names))
    )
    paths = [str(path) for p in parts for path in p.paths]
    correct = [bool(c) for c in np.argmax(probs, axis=1) == labels]
    return Evaluation(int(run_id), str(data), chosen, report, skipped, paths, correct, tta)


def _default_split(dataset) -> str:
    """test/ when present; validation of a split layout; every image of a plain folder."""
    if "test" in dataset.splits:
        return "test"
    on_disk = {p.name.lower() for p in Path(dataset.root).iterdir() if p.is_dir()}
    if on_disk & {"train", "validation", "val", "valid"}:
        return "validation"
    return "all"


def _load(path: Path, run_id: int):
    from core.models import load_model

    try:
        return load_model(path)
    except Exception as exc:  # noqa: BLE001 - any loader failure means an unusable file
        raise RunError(
            _("Run {run}'s model file {path} could not be loaded ({error}).").format(
                run=run_id, path=path, error=exc
            )
        ) from exc
