"""core.predict: a run's model on new images, with clear errors for bad inputs and runs."""

import io
import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from core import predict
from core.errors import RunError
from core.metrics import evaluate_predictions
from core.models import make_scratch_cnn
from core.store import RunStore

SIZE = 32


def finished_run(make_run, class_names=("cats", "dogs"), resize_mode="stretch", status="finished"):
    """A run record with a tiny untrained scratch CNN saved as its model.keras."""
    keras.utils.set_random_seed(1)
    model = make_scratch_cnn(image_size=SIZE, num_classes=len(class_names))
    run = make_run(
        status=status, classes=class_names, model=model, name="tiny", image_size=SIZE,
        resize_mode=resize_mode, epochs=1,
    )  # fmt: skip
    return run.id, model


def png_bytes(seed=0, size=(40, 30)):
    array = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_predicts_paths_bytes_uploads_and_pil_like_the_model(tmp_path, make_run):
    store = RunStore()
    run_id, model = finished_run(make_run)
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes(0))
    upload = io.BytesIO(png_bytes(1))
    upload.name = "upload.png"
    upload.read()  # a page may have read it already
    pil = Image.open(io.BytesIO(png_bytes(2)))
    results = predict.predict_images(run_id, [path, png_bytes(3), upload, pil], store)
    assert [r.source for r in results] == [str(path), "image 2", "upload.png", "image 4"]
    for r in results:
        assert r.ok and r.class_names == ["cats", "dogs"]
        assert sum(r.probabilities) == pytest.approx(1.0, abs=1e-5)
        assert r.predicted == r.class_names[int(np.argmax(r.probabilities))]
        assert r.confidence == max(r.probabilities)
    # Same numbers as the model on the same decoded pixels.
    pixels = predict.prepare_image(path, SIZE)
    p1 = float(np.asarray(model(pixels[None].astype("float32")))[0, 0])
    assert results[0].probabilities == pytest.approx([1 - p1, p1], abs=1e-5)
    assert results[0].to_dict()["error"] is None


def test_multiclass_probabilities_and_crop_mode(tmp_path, make_run):
    store = RunStore()
    run_id, _ = finished_run(make_run, class_names=("a", "b", "c"), resize_mode="crop")
    (result,) = predict.predict_images(run_id, [png_bytes(5, size=(20, 60))], store)
    assert len(result.probabilities) == 3 and result.predicted in "abc"
    assert predict.run_input(store.get(run_id)) == (SIZE, "crop")


def test_a_bad_file_gets_a_message_and_the_others_still_run(tmp_path, make_run):
    store = RunStore()
    run_id, _ = finished_run(make_run)
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes())
    results = predict.predict_images(run_id, [bad, good, tmp_path / "missing.jpg"], store)
    assert [r.ok for r in results] == [False, True, False]
    assert str(bad) in results[0].error and results[0].probabilities == []
    assert "missing.jpg" in results[2].error
    assert results[1].probabilities


def test_runs_without_a_usable_model_are_clear_errors(make_run):
    store = RunStore()
    with pytest.raises(RunError, match="Run 99 does not exist"):
        predict.load_run_model(99, store)
    running = make_run(status="queued", name="busy", image_size=SIZE, epochs=1).id
    with pytest.raises(RunError, match="is queued, not finished"):
        predict.predict_images(running, [png_bytes()], store)
    run_id, _ = finished_run(make_run)
    (store.run_dir(run_id) / "model.keras").unlink()
    with pytest.raises(RunError, match="lost its model file"):
        predict.load_run_model(run_id, store)


def test_model_cache_reloads_when_the_file_changes(make_run):
    store = RunStore()
    run_id, _ = finished_run(make_run)
    first = predict.load_run_model(run_id, store)
    assert predict.load_run_model(run_id, store) is first
    path = store.run_dir(run_id) / "model.keras"
    make_scratch_cnn(image_size=SIZE, num_classes=2).save(path)
    os.utime(path, ns=(1, path.stat().st_mtime_ns + 10**9))
    assert predict.load_run_model(run_id, store) is not first
    predict.clear_model_cache()


def test_class_names_fall_back_to_report_and_csv(tmp_path, make_run):
    store = RunStore()
    run_id, _ = finished_run(make_run)
    record = store.get(run_id)
    record.summary.class_names = None
    with pytest.raises(RunError, match="class names"):
        predict.run_class_names(record, store)
    folder = store.run_dir(run_id)
    (folder / "predictions.csv").write_text("path,true,predicted,prob_x,prob_y\n")
    assert predict.run_class_names(record, store) == ["x", "y"]
    (folder / "report.json").write_text("{not json")  # unreadable: the CSV still answers
    assert predict.run_class_names(record, store) == ["x", "y"]
    report = evaluate_predictions(np.array([0, 1]), np.array([0.2, 0.7]), ["p", "q"])
    (folder / "report.json").write_text(json.dumps(report.to_dict()))
    assert predict.run_class_names(record, store) == ["p", "q"]


def _left_half_redness(batch, training=False):
    """A stand-in model: P(class 1) = mean red of the left half, which a mirror changes."""
    half = batch.shape[2] // 2
    return (batch[:, :, :half, 0].mean(axis=(1, 2)) / 255.0)[:, None]


def test_tta_flip_averages_the_image_and_its_mirror():
    from core.predict import class_probabilities

    images = np.zeros((3, 8, 8, 3), np.float32)
    images[:, :, :4, 0] = [[[100]], [[200]], [[255]]]  # red on the left only
    plain = class_probabilities(_left_half_redness, images, 2)
    flipped = class_probabilities(_left_half_redness, images, 2, tta="flip")
    np.testing.assert_allclose(plain[:, 1], [100 / 255, 200 / 255, 1.0])
    np.testing.assert_allclose(flipped[:, 1], plain[:, 1] / 2)  # the mirror has none
    crops = class_probabilities(_left_half_redness, images, 2, tta="crops")
    assert crops.shape == (3, 2) and np.allclose(crops.sum(axis=1), 1.0)
    assert not np.allclose(crops, flipped)  # the corner crops are views of their own
    with pytest.raises(ValueError, match="tta must be one of"):
        class_probabilities(_left_half_redness, images, 2, tta="rotate")
