"""The Augment page under AppTest, on a tiny generated dataset (and once on the demo)."""

import io
import json

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import labui
from core.augment_config import PRESETS, AugmentConfig
from core.paths import PROJECT_ROOT
from tests.app import korean

PAGE = str(PROJECT_ROOT / "pages/augment.py")
TIMEOUT = 60


@pytest.fixture
def tiny_dataset(app_home):
    """Two classes of three 40-px pictures each, in the app home."""
    root = app_home / "datasets" / "tiny"
    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        folder = root / "train" / name
        folder.mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{name}{i}.png")
    return root


@pytest.fixture
def page(tiny_dataset):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state[labui.ACTIVE_DATASET] = str(tiny_dataset)
    return at.run()


def _images(at):
    """The preview grid's images, as the proto's URLs (they change with the pixels)."""
    return [url for image in at.get("image") for url in image.value]


def test_renders_the_blog_preset_and_the_code(page):
    at = page
    assert not at.exception and not at.error
    assert at.selectbox(key="augment_preset").value == "blog: preview"
    assert at.slider(key="augment_rotation_degrees").value == 40
    assert len(_images(at)) == 10  # the original and nine variants
    code = "\n".join(c.value for c in at.code)
    assert "layers.RandomRotation" in code and "ImageDataGenerator(" in code
    assert "rotation_range=40" in code


def test_moving_a_slider_changes_the_preview(page):
    at = page
    before = _images(at)
    at.slider(key="augment_rotation_degrees").set_value(90).run()
    assert not at.exception
    after = _images(at)
    assert after[0] == before[0]  # the original stays
    assert after[1:] != before[1:]
    assert at.selectbox(key="augment_preset").value == "(custom)"
    assert "±90°" in at.code[0].value


def test_new_draw_changes_the_preview_and_same_settings_repeat(page):
    at = page
    before = _images(at)
    at.button(key="augment_redraw").click().run()
    assert _images(at)[1:] != before[1:]
    assert at.session_state[labui.AUGMENT_SEED] == 1


def test_a_preset_sets_the_sliders(page):
    at = page
    at.selectbox(key="augment_preset").set_value("strong").run()
    strong = PRESETS["strong"]
    assert at.slider(key="augment_rotation_degrees").value == strong.rotation_degrees
    assert at.slider(key="augment_shear_degrees").value == strong.shear_degrees
    assert at.selectbox(key="augment_fill_mode").value == "reflect"
    assert at.checkbox(key="augment_horizontal_flip").value is True
    assert not at.exception


def test_use_for_training_stores_the_settings(page):
    at = page
    at.selectbox(key="augment_preset").set_value("blog: training").run()
    at.button(key="augment_use").click().run()
    stored = AugmentConfig.from_json(at.session_state[labui.ACTIVE_AUGMENT])
    assert stored == PRESETS["blog: training"]
    assert "Train page will use" in at.success[0].value


def test_active_settings_are_loaded_on_arrival(tiny_dataset):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state[labui.ACTIVE_DATASET] = str(tiny_dataset)
    at.session_state[labui.ACTIVE_AUGMENT] = json.dumps({"zoom": 0.35, "vertical_flip": True})
    at.run()
    assert at.slider(key="augment_zoom").value == 0.35
    assert at.checkbox(key="augment_vertical_flip").value is True


def test_picking_another_class_and_picture(page):
    at = page
    original = _images(at)[0]
    at.selectbox(key="augment_class").set_value("dogs").run()
    at.number_input(key="augment_sample").set_value(3).run()
    assert not at.exception and _images(at)[0] != original


def test_a_non_image_upload_shows_one_error_and_the_page_keeps_working(page):
    at = page
    at.file_uploader(key="augment_upload").upload("holiday.jpg", b"this is text", "image/jpeg")
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "holiday.jpg" in at.error[0].value
    assert len(_images(at)) == 10  # falls back to the dataset picture
    at.slider(key="augment_zoom").set_value(0.5).run()
    assert not at.exception


def test_an_uploaded_image_is_previewed(page):
    at = page
    buffer = io.BytesIO()
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(buffer, format="PNG")
    at.file_uploader(key="augment_upload").upload("mine.png", buffer.getvalue(), "image/png")
    at.run()
    assert not at.exception and not at.error
    assert "mine.png" in at.get("image")[0].captions[0]


def test_the_demo_dataset_is_used_when_none_is_chosen():
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception and not at.error
    from core.demo import DEMO_CLASSES

    assert at.selectbox(key="augment_class").options == sorted(DEMO_CLASSES)
    assert len(_images(at)) == 10


def test_settings_used_for_training_survive_a_new_session(page):
    page.slider(key="augment_rotation_degrees").set_value(25.0).run()
    page.button(key="augment_use").click().run()
    again = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()  # a reload / new tab
    assert not again.exception
    assert json.loads(again.session_state["ldl_active_augment"])["rotation_degrees"] == 25.0
    assert again.slider(key="augment_rotation_degrees").value == 25.0


def test_labels_are_short_and_degrees_read_as_degrees(page):
    assert page.checkbox(key="augment_horizontal_flip").label == "Horizontal flip"
    assert page.button(key="augment_use").label == "Use for training"
    assert page.slider(key="augment_rotation_degrees").proto.format == "%.0f°"
    assert page.get("file_uploader")[0].proto.max_upload_size_mb == 20


# What the Augment page shows on the demo: controls, their help, buttons, code tabs
# (the Korean page must show none of them).
AUGMENT_SENTENCES = [
    "The blog's `ImageDataGenerator` settings as Keras 3 preprocessing layers.",
    "Preset",
    "'blog: training' is the generator the blog trains with",
    "Rotation (± degrees)",
    "A random rotation up to this many degrees either way (the blog uses 40).",
    "Shear (± degrees)",
    "Horizontal flip",
    "Mirror left-right, half the time.",
    "Fill mode (pixels from outside the picture)",
    "New draw",
    "Use for training",
    "Picture (1-200)",
    "Keras 3 layers",
    "ImageDataGenerator (Keras 2, the blog)",
]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_augment_page_in_both_languages(language):
    at = korean.render(PAGE, language, 120)
    korean.assert_spoken(at, AUGMENT_SENTENCES, language)
    assert len(_images(at)) == 10  # the preview is there, in either language
    preset = at.selectbox(key="augment_preset")
    assert preset.value == "blog: preview"  # the stored identifier, whatever the language
    shown = "블로그: 미리보기" if language == "ko" else "blog: preview"
    assert shown in preset.options
    captions = at.get("image")[0].captions + at.get("image")[1].captions
    assert any(c.startswith("원본: " if language == "ko" else "original: ") for c in captions)
    if language == "ko":
        from core import i18n

        i18n.set_language("ko")  # AppTest formats the choices (with `_`) outside the session
        at.button(key="augment_use").click().run()
        assert at.success[0].value == "학습 페이지가 이 설정(블로그: 미리보기)을 사용합니다."
