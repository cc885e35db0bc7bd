"""The Predict page on a run trained here for one epoch on the demo dataset."""

import io

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.paths import PROJECT_ROOT
from core.store import RunStore
from core.training import TrainConfig, start_run

PAGE = str(PROJECT_ROOT / "pages/predict.py")
TIMEOUT = 180


def _png(color=(200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((48, 64, 3), color, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_no_finished_run_says_where_to_go():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "Train" in at.info[0].value


def test_probabilities_gradcam_bad_file_and_lost_model():
    store = RunStore()
    config = TrainConfig.defaults("scratch", epochs=1, image_size=32, name="tiny")
    run_id = start_run(config, store)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert at.multiselect(key="predict_runs").value == [run_id]
    at.file_uploader(key="predict_upload").set_value(
        [("red.png", _png(), "image/png"), ("notes.jpg", b"not an image at all", "image/jpeg")]
    )
    at.run()
    assert not at.exception
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1  # one probability chart: the good image
    assert any("notes.jpg" in e.value and "not an image" in e.value for e in at.error)
    captions = [c for image in at.get("image") for c in image.captions]
    assert "input" in captions and len(captions) == 2  # the input and its Grad-CAM overlay

    (store.run_dir(run_id) / "model.keras").unlink()
    at.run()
    assert not at.exception
    assert any("lost its model file" in e.value for e in at.error)
