"""The Predict page on a run trained here for one epoch on the demo dataset."""

import io
import json

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.paths import PROJECT_ROOT
from core.store import RunStore
from core.train_config import TrainConfig
from core.training import start_run

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
    at.multiselect(key="predict_runs").set_value([run_id])  # one epoch: maybe no default
    at.file_uploader(key="predict_upload").set_value(
        [("red.png", _png(), "image/png"), ("notes.jpg", b"not an image at all", "image/jpeg")]
    )
    at.run()
    assert not at.exception
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1  # one probability chart: the good image
    assert any("notes.jpg" in e.value and "not an image" in e.value for e in at.error)
    captions = [c for image in at.get("image") for c in image.captions]
    # The picture as the model saw it (the run's resize mode and size), and the heat map on it.
    assert captions == [f"as run #{run_id} saw it (stretch, 32 px)", captions[1]]
    assert captions[1].startswith("where it saw ")
    assert at.metric[0].label == at.multiselect(key="predict_runs").format_func(run_id)

    (store.run_dir(run_id) / "model.keras").unlink()
    at.run()
    assert not at.exception
    assert any("lost its model file" in e.value for e in at.error)


def _model_run(make_run, name, classes, status="finished", accuracy=0.9, dataset="demo", **config):
    """A run with an untrained model of the right shape (predictions need no training)."""
    return make_run(
        status=status, classes=classes, model=True, name=name, data=dataset, image_size=32,
        epochs=1, summary={"num_classes": len(classes), "val_accuracy": accuracy}, **config,
    ).id  # fmt: skip


SHAPES = ["circles", "triangles"]


def test_best_finished_run_is_the_default_and_stopped_runs_are_marked(make_run):
    """Defect 5: a newer, stopped run at chance is listed as stopped, never the default."""
    good = _model_run(make_run, "good", SHAPES, accuracy=0.8)
    better_elsewhere = _model_run(make_run, "pets", ["cats", "dogs"], accuracy=0.95, dataset="/d/p")
    stopped = _model_run(make_run, "halfway", SHAPES, status="stopped", accuracy=0.5)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    picker = at.multiselect(key="predict_runs")
    assert picker.value == [good]  # the demo is active: its classes come first
    assert f"#{stopped} · scratch · halfway · stopped at 0.500" in picker.options
    assert f"#{better_elsewhere} · scratch · pets · 0.950" in picker.options


def test_each_model_lists_its_own_classes_with_a_headline_and_a_warning(tmp_path, make_run):
    """Defect 10: bars per model on its own classes, "class — %" per model, a class warning."""
    shapes = _model_run(make_run, "shapes", SHAPES)
    letters = _model_run(make_run, "letters", ["a", "b", "c"], dataset="/d/letters")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.multiselect(key="predict_runs").set_value([shapes, letters])
    at.file_uploader(key="predict_upload").set_value([("red.png", _png(), "image/png")]).run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert (
        len(warnings) == 1
        and f"Run #{letters}" in warnings[0]
        and "synthetic data" not in warnings[0]
    )
    specs = [__import__("json").loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert len(specs) == 2 and all("row" not in spec["encoding"] for spec in specs)
    headlines = {m.label: m.value for m in at.metric}
    assert len(headlines) == 2
    for value in headlines.values():
        predicted, percent = value.split(" — ")
        assert predicted in SHAPES + ["a", "b", "c"] and percent.endswith("%")
    shape_label = next(label for label in headlines if label.startswith(f"#{shapes} "))
    assert headlines[shape_label].split(" — ")[0] in SHAPES


def test_a_model_trained_on_the_synthetic_demo_is_called_so(tmp_path, make_run):
    from labui import ACTIVE_DATASET
    from tests.core.image_factory import make_image_folder

    demo_run = _model_run(make_run, "shapes", SHAPES)
    folder = make_image_folder(
        tmp_path / "pets", {"train": {"cats": 3, "dogs": 3}, "validation": {"cats": 2, "dogs": 2}}
    )
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state[ACTIVE_DATASET] = str(folder)
    at.run()
    assert not at.exception
    assert at.multiselect(key="predict_runs").value == [demo_run]  # the only one there is
    [warning] = [w.value for w in at.warning]
    assert (
        "synthetic data" in warning and "circles, triangles" in warning and "cats, dogs" in warning
    )


def test_gradcam_uses_the_run_s_resize_mode(make_run):
    """Defect 7: the heat map lies on the picture exactly as the model saw it."""
    run_id = _model_run(make_run, "cropped", SHAPES, resize_mode="crop")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.file_uploader(key="predict_upload").set_value([("wide.png", _png(), "image/png")]).run()
    assert not at.exception
    captions = [c for image in at.get("image") for c in image.captions]
    assert captions[0] == f"as run #{run_id} saw it (crop, 32 px)"


# What the Predict page shows with two models (one on other classes, one stopped listed)
# and an uploaded image: none of it may be left in English on the Korean page.
PREDICT_SENTENCES = [
    "Predict",
    "Models (finished runs; stopped ones are marked)",
    "…or pick a validation image of the active dataset, of class",
    "looked (Grad-CAM)",
    "stopped at",
    "was trained on other classes",
    "not on the classes of",
    "it can only answer with its own classes",
]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_predict_page_in_both_languages(language, make_run):
    from tests.app import korean

    shapes = _model_run(make_run, "shapes", SHAPES)
    letters = _model_run(make_run, "letters", ["a", "b", "c"], dataset="/d/letters")
    _model_run(make_run, "halfway", SHAPES, status="stopped", accuracy=0.5)

    def choose(at):
        at.session_state["predict_runs"] = [shapes, letters]

    at = korean.render(PAGE, language, TIMEOUT, setup=choose)
    at.file_uploader(key="predict_upload").set_value([("red.png", _png(), "image/png")]).run()
    korean.assert_spoken(at, PREDICT_SENTENCES, language)
    captions = " ".join(c for image in at.get("image") for c in image.captions)
    specs = json.dumps(
        [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")], ensure_ascii=False
    )
    if language == "en":
        assert f"as run #{shapes} saw it (stretch, 32 px)" in captions and '"probability"' in specs
    else:
        assert f"실행 #{shapes}이(가) 본 모습(늘이기, 32 px)" in captions
        assert "saw it" not in captions and '"확률"' in specs
