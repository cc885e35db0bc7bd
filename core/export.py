"""Export a finished run's model: `.keras`, TensorFlow SavedModel, or TFLite.

Every format takes float32 images in [0, 255] of the run's size, as the lab's
models do (each model scales its own input), and gives class probabilities
(one sigmoid unit for two classes, a softmax otherwise).

Example:

    export_run(7, "tflite", Path("cats.tflite"))
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from core.errors import LabError
from core.i18n import _
from core.store import RunStore

FORMATS = ("keras", "savedmodel", "tflite")
_SUFFIX = {"keras": ".keras", "tflite": ".tflite"}


class ExportError(LabError):
    """An export that cannot be written (bad destination, converter failure)."""


def export_run(run_id: int, format: str, out, store: RunStore | None = None) -> Path:
    """Write a run's trained model in the chosen format.

    Args:
        run_id: a finished (or stopped) run.
        format: "keras" (a copy of `model.keras`), "savedmodel" (a folder for
            TF Serving / `tf.saved_model.load`) or "tflite" (a `.tflite` file).
        out: the destination. An existing folder receives `run-<id>.<ext>`
            (`run-<id>_savedmodel/` for SavedModel); a file name missing its
            extension gets it (`.keras` or `.tflite`).
        store: the run store (default: the app home's).

    Returns:
        The path written.

    Raises:
        RunError: the run does not exist, is not finished or lost its model.
        ExportError: an unknown format, a destination that cannot be written
            (e.g. a non-empty folder for SavedModel), or a failed conversion.
    """
    from core import predict

    if format not in FORMATS:
        raise ExportError(
            _("Unknown export format '{format}'; choose one of: {formats}.").format(
                format=format, formats=", ".join(FORMATS)
            )
        )
    store = store or RunStore()
    record = store.get(run_id)
    source = predict.model_path(record, store)
    target = _destination(Path(out).expanduser(), run_id, format)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(
            _("Cannot create the folder {folder} ({error}).").format(
                folder=target.parent, error=exc
            )
        ) from exc
    if format == "keras":
        try:
            shutil.copyfile(source, target)
        except OSError as exc:
            raise ExportError(
                _("Cannot write {path} ({error}).").format(path=target, error=exc)
            ) from exc
        return target
    model = predict.load_run_model(run_id, store)
    if format == "savedmodel":
        _export_savedmodel(model, target)
    else:
        _export_tflite(model, target)
    return target


def _destination(out: Path, run_id: int, format: str) -> Path:
    if format == "savedmodel":
        target = out / f"run-{run_id}_savedmodel" if _is_nonempty_dir(out) else out
        if target.exists() and (not target.is_dir() or _is_nonempty_dir(target)):
            raise ExportError(
                _("{path} already exists; choose a new folder for the SavedModel.").format(
                    path=target
                )
            )
        return target
    if out.is_dir():
        return out / f"run-{run_id}{_SUFFIX[format]}"
    return out if out.suffix == _SUFFIX[format] else out.with_name(out.name + _SUFFIX[format])


def _is_nonempty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def _export_savedmodel(model, target: Path) -> None:
    try:
        model.export(str(target), format="tf_saved_model", verbose=False)
    except Exception as exc:  # noqa: BLE001 - report any exporter failure in one sentence
        raise ExportError(
            _("Exporting the SavedModel to {path} failed ({error}).").format(path=target, error=exc)
        ) from exc


def _export_tflite(model, target: Path) -> None:
    """Convert through a temporary SavedModel, the converter's most reliable input."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="ldl_tflite_") as tmp:
        _export_savedmodel(model, Path(tmp) / "saved")
        try:
            converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(tmp) / "saved"))
            flatbuffer = converter.convert()
        except Exception as exc:  # noqa: BLE001
            raise ExportError(
                _("Converting run model to TFLite failed ({error}).").format(error=exc)
            ) from exc
    try:
        target.write_bytes(flatbuffer)
    except OSError as exc:
        raise ExportError(
            _("Cannot write {path} ({error}).").format(path=target, error=exc)
        ) from exc


def exported_file(run_id: int, format: str, store: RunStore | None = None) -> Path | None:
    """The run's already exported model file in `format`, or None when there is none yet.

    Files written by `prepare_export` live in the run's folder (`exports/`), so
    deleting the run deletes them; one older than `model.keras` counts as absent.
    """
    store = store or RunStore()
    target = _prepared_path(run_id, format, store)
    model = store.run_folder(run_id).model
    if target.is_file() and model.is_file() and target.stat().st_mtime >= model.stat().st_mtime:
        return target
    return None


def prepare_export(run_id: int, format: str, store: RunStore | None = None) -> Path:
    """Export once into the run's folder for a download (TFLite conversion takes seconds).

    Raises:
        RunError, ExportError: as `export_run`.
    """
    store = store or RunStore()
    ready = exported_file(run_id, format, store)
    if ready is not None:
        return ready
    if format not in _SUFFIX:
        raise ExportError(
            _("Format '{format}' cannot be downloaded as one file; choose keras or tflite.").format(
                format=format
            )
        )
    return export_run(run_id, format, _prepared_path(run_id, format, store), store)


def _prepared_path(run_id: int, format: str, store: RunStore) -> Path:
    return store.run_folder(run_id).exports / f"run-{run_id}{_SUFFIX.get(format, '')}"
