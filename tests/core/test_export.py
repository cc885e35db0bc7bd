"""core.export: a run's model as .keras, SavedModel and TFLite, checked against Keras."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from core.errors import LabError, RunError
from core.export import ExportError, export_run
from core.models import make_scratch_cnn
from core.store import RunStore


@pytest.fixture
def run(make_run):
    store = RunStore()
    keras.utils.set_random_seed(7)
    model = make_scratch_cnn(image_size=32, num_classes=3)
    run_id = make_run(name="tiny", image_size=32, epochs=1, model=model, store=store).id
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    return store, run_id, images, np.asarray(model(images, training=False))


def test_keras_copy_loads_back(run, tmp_path):
    store, run_id, images, expected = run
    path = export_run(run_id, "keras", tmp_path / "model", store)
    assert path == tmp_path / "model.keras"
    loaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(loaded(images), expected, atol=1e-6)
    assert export_run(run_id, "keras", tmp_path, store) == tmp_path / f"run-{run_id}.keras"


def test_savedmodel_serves_the_same_probabilities(run, tmp_path):
    store, run_id, images, expected = run
    path = export_run(run_id, "savedmodel", tmp_path / "sm", store)
    assert (path / "saved_model.pb").is_file()
    loaded = tf.saved_model.load(str(path))  # keep a reference while serving
    served = loaded.serve(tf.constant(images))
    np.testing.assert_allclose(np.asarray(served), expected, atol=1e-5)
    # Into a non-empty folder: a sub-folder; over an existing export or a file: refused.
    again = export_run(run_id, "savedmodel", path, store)
    assert again == path / f"run-{run_id}_savedmodel"
    with pytest.raises(ExportError, match="already exists"):
        export_run(run_id, "savedmodel", path, store)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="already exists"):
        export_run(run_id, "savedmodel", tmp_path / "file", store)


def test_tflite_interpreter_matches_keras(run, tmp_path):
    store, run_id, images, expected = run
    path = export_run(run_id, "tflite", tmp_path / "m", store)
    assert path.suffix == ".tflite" and path.stat().st_size > 0
    interpreter = tf.lite.Interpreter(model_path=str(path))
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], images)
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(out["index"]), expected, atol=1e-4)


def test_clear_errors(run, tmp_path):
    store, run_id, _, _ = run
    with pytest.raises(ExportError, match="Unknown export format 'onnx'"):
        export_run(run_id, "onnx", tmp_path / "x", store)
    with pytest.raises(RunError, match="does not exist"):
        export_run(404, "keras", tmp_path / "x", store)
    (store.run_dir(run_id) / "model.keras").unlink()
    with pytest.raises(RunError, match="lost its model file"):
        export_run(run_id, "tflite", tmp_path / "x", store)
    assert issubclass(ExportError, LabError)


def test_prepare_export_converts_once_into_the_run_folder(run):
    from core.export import exported_file, prepare_export

    store, run_id, _, _ = run
    assert exported_file(run_id, "tflite", store) is None
    path = prepare_export(run_id, "tflite", store)
    assert path.parent == store.run_dir(run_id) / "exports" and path.suffix == ".tflite"
    assert path.stat().st_size > 1000 and exported_file(run_id, "tflite", store) == path
    stamp = path.stat().st_mtime_ns
    assert prepare_export(run_id, "tflite", store).stat().st_mtime_ns == stamp  # not again
    with pytest.raises(ExportError, match="one file"):
        prepare_export(run_id, "savedmodel", store)
