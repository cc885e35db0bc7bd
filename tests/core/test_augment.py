"""The augmentation layer stack: units, identity, seeds, preview, files, code snippets."""

import io
import math
import zipfile

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from core.augment import (  # noqa: E402
    build_augmenter,
    keras_code,
    layer_specs,
    legacy_code,
    preview,
    previews_zip,
    save_previews,
)
from core.augment_config import PRESETS, AugmentConfig  # noqa: E402


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)


def _by_name(stack):
    return {type(layer).__name__: layer for layer in stack.layers}


def test_layers_get_the_converted_units():
    layers = _by_name(build_augmenter(PRESETS["blog: preview"]))
    assert list(layers) == ["RandomAffine", "RandomFlip"]
    affine = layers["RandomAffine"]
    assert affine.rotation_factor == pytest.approx(40 / 360, abs=1e-6)
    assert (affine.width_factor, affine.height_factor) == (0.2, 0.2)
    assert affine.shear_factor == pytest.approx(math.tan(math.radians(11.5)), abs=1e-6)
    assert affine.zoom_factor == 0.2
    assert affine.fill_mode == "nearest"  # not the layers' default 'reflect'
    assert layers["RandomFlip"].mode == "horizontal"


def test_the_snippets_layers_get_the_same_units():
    specs = dict(layer_specs(PRESETS["blog: preview"]))
    assert list(specs) == [
        "RandomRotation",
        "RandomTranslation",
        "RandomShear",
        "RandomZoom",
        "RandomFlip",
    ]
    assert specs["RandomRotation"]["factor"] == pytest.approx(40 / 360, abs=1e-6)
    assert specs["RandomTranslation"]["height_factor"] == 0.2
    assert specs["RandomShear"]["x_factor"] == pytest.approx(
        (0, math.tan(math.radians(11.5))), abs=1e-6
    )
    assert specs["RandomZoom"]["height_factor"] == (-0.2, 0.2)
    for name in ("RandomRotation", "RandomTranslation", "RandomShear", "RandomZoom"):
        assert specs[name]["fill_mode"] == "nearest"


def test_constant_fill_and_color_layers():
    config = AugmentConfig(
        rotation_degrees=10,
        fill_mode="constant",
        fill_value=128,
        vertical_flip=True,
        horizontal_flip=True,
        brightness=0.2,
        contrast=0.3,
    )
    layers = _by_name(build_augmenter(config))
    assert layers["RandomAffine"].fill_value == 128.0
    assert layers["RandomAffine"].fill_mode == "constant"
    assert layers["RandomFlip"].mode == "horizontal_and_vertical"
    assert layers["RandomBrightness"].value_range == [0, 255]
    assert layers["RandomContrast"].value_range == (0, 255)


def test_all_off_is_an_identity_sequential(image):
    stack = build_augmenter(PRESETS["none"], seed=3)
    assert isinstance(stack, keras.Sequential)
    assert [type(layer).__name__ for layer in stack.layers] == ["Identity"]
    batch = image[None].astype("float32")
    np.testing.assert_array_equal(np.asarray(stack(batch, training=True)), batch)


@pytest.mark.parametrize("shape", [(2, 32, 48, 3), (1, 17, 23, 3)])
def test_training_augments_inference_passes_through(shape):
    batch = np.random.default_rng(1).uniform(0, 255, shape).astype("float32")
    stack = build_augmenter(PRESETS["strong"], seed=5)
    augmented = np.asarray(stack(batch, training=True))
    assert augmented.shape == shape and augmented.dtype == np.float32
    assert 0 <= augmented.min() and augmented.max() <= 255
    assert not np.allclose(augmented, batch)
    np.testing.assert_array_equal(np.asarray(stack(batch, training=False)), batch)


def test_seeded_stacks_repeat_and_unseeded_differ(image):
    batch = np.repeat(image[None].astype("float32"), 4, axis=0)
    config = PRESETS["blog: preview"]
    a = np.asarray(build_augmenter(config, seed=7)(batch, training=True))
    b = np.asarray(build_augmenter(config, seed=7)(batch, training=True))
    c = np.asarray(build_augmenter(config, seed=8)(batch, training=True))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])  # each image of a batch gets its own draw


def test_works_in_tf_data_and_inside_a_saved_model(tmp_path):
    import tensorflow as tf

    augmenter = build_augmenter(PRESETS["strong"], seed=2)
    images = np.random.default_rng(2).uniform(0, 255, (4, 24, 24, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(images).batch(2)
    ds = ds.map(lambda x: augmenter(x, training=True))
    assert [tuple(b.shape) for b in ds] == [(2, 24, 24, 3)] * 2

    inputs = keras.Input((24, 24, 3))
    x = build_augmenter(PRESETS["blog: preview"])(inputs)
    outputs = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "m.keras"
    model.save(path)  # RandomShear's saved range must load again (see layer_specs)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        reloaded.predict(images, verbose=0), model.predict(images, verbose=0)
    )


def test_preview_is_deterministic_and_is_what_trains(image):
    config = PRESETS["blog: preview"]
    first = preview(image, config, n=6, seed=4)
    again = preview(image, config, n=6, seed=4)
    other = preview(image, config, n=6, seed=5)
    assert len(first) == 6 and all(v.shape == image.shape and v.dtype == np.uint8 for v in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not any(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    batch = np.repeat(image[None].astype("float32"), 6, axis=0)
    trained = np.asarray(build_augmenter(config, seed=4)(batch, training=True))
    np.testing.assert_array_equal(
        np.stack(first), np.clip(np.rint(trained), 0, 255).astype("uint8")
    )


def test_preview_changes_with_the_config(image):
    a = preview(image, AugmentConfig(rotation_degrees=10), n=3, seed=0)
    b = preview(image, AugmentConfig(rotation_degrees=30), n=3, seed=0)
    assert not np.array_equal(np.stack(a), np.stack(b))
    same = preview(image, PRESETS["none"], n=2, seed=0)
    assert all(np.array_equal(v, image) for v in same)


def test_preview_rejects_bad_input(image):
    with pytest.raises(ValueError, match="shape"):
        preview(image[..., 0], PRESETS["none"])
    with pytest.raises(ValueError, match="n >= 1"):
        preview(image, PRESETS["none"], n=0)
    with pytest.raises(ValueError, match="zoom must be between"):
        preview(image, AugmentConfig(zoom=5))


def test_save_previews_and_zip_hold_the_same_files(image, tmp_path):
    from PIL import Image

    variants = preview(image, PRESETS["blog: training"], n=3, seed=0)
    paths = save_previews(variants, tmp_path / "out", prefix="cat", original=image)
    assert [p.name for p in paths] == ["cat_original.png", "cat_00.png", "cat_01.png", "cat_02.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(paths[1])), variants[0])
    with zipfile.ZipFile(io.BytesIO(previews_zip(variants, "cat", image))) as archive:
        assert archive.namelist() == [p.name for p in paths]
        assert archive.read("cat_02.png") == paths[3].read_bytes()


@pytest.mark.parametrize("name", list(PRESETS))
def test_keras_code_builds_the_keras_layers_the_lab_composes(name):
    config = PRESETS[name]
    scope = {}
    exec(keras_code(config), scope)
    shown = [(type(layer).__name__, layer.get_config()) for layer in scope["augmentation"].layers]
    expected = [
        (layer_name, getattr(keras.layers, layer_name)(**kwargs).get_config())
        for layer_name, kwargs in layer_specs(config) or [("Identity", {})]
    ]
    strip = ("name", "seed")
    assert [(n, {k: v for k, v in c.items() if k not in strip}) for n, c in shown] == [
        (n, {k: v for k, v in c.items() if k not in strip}) for n, c in expected
    ]
    # Past the geometry, the snippet's layers are the very ones that train.
    built = [type(layer).__name__ for layer in build_augmenter(config).layers]
    tail = [n for n, _ in shown if n not in ("RandomRotation", "RandomTranslation")]
    tail = [n for n in tail if n not in ("RandomShear", "RandomZoom")]
    assert [n for n in built if n != "RandomAffine"] == tail
    assert ("RandomAffine" in built) == (len(tail) < len(shown))


def test_code_snippets_say_the_units():
    code = keras_code(PRESETS["blog: preview"])
    assert "±40°" in code and 'fill_mode="nearest"' in code and "tan(angle)" in code
    assert "one resampling" in code and "one resampling" not in keras_code(PRESETS["none"])
    legacy = legacy_code(PRESETS["strong"])
    assert "shear_range=20" in legacy and "contrast" in legacy
    assert "brightness_range=(0.8, 1.2)" in legacy
    assert layer_specs(PRESETS["none"]) == []


def test_run_augmenter_places_the_stack_where_the_run_augments():
    from core.augment import run_augmenter
    from core.train_config import TrainConfig

    in_model = TrainConfig.defaults("scratch", augment_on="model", seed=3)
    in_pipeline = TrainConfig.defaults("scratch", augment_on="pipeline", seed=3)
    assert run_augmenter(in_model, "pipeline") is None
    assert run_augmenter(in_pipeline, "model") is None
    stacks = [run_augmenter(in_model, "model"), run_augmenter(in_pipeline, "pipeline")]
    expected = [type(layer).__name__ for layer in build_augmenter(in_model.augment).layers]
    assert expected and all([type(x).__name__ for x in s.layers] == expected for s in stacks)
    # The run's seed makes its draws: the same as build_augmenter(config.augment, seed).
    batch = np.full((2, 32, 32, 3), 100.0, dtype="float32")
    batch[:, :16] = 200.0
    made = np.asarray(stacks[0](batch, training=True))
    direct = np.asarray(build_augmenter(in_model.augment, seed=3)(batch, training=True))
    np.testing.assert_array_equal(made, direct)


def test_run_augmenter_gives_none_when_nothing_augments():
    from core.augment import run_augmenter
    from core.train_config import TrainConfig

    plain = TrainConfig.defaults("scratch", augment=PRESETS["none"])
    assert run_augmenter(plain, "model") is None and run_augmenter(plain, "pipeline") is None
    bottleneck = TrainConfig.defaults("bottleneck", augment=PRESETS["strong"])
    assert run_augmenter(bottleneck, "features") is None  # no augmented copies asked for
    copies = TrainConfig.defaults("bottleneck", augment=PRESETS["strong"], augment_copies=2)
    assert run_augmenter(copies, "features") is not None
    with pytest.raises(ValueError, match="place"):
        run_augmenter(copies, "elsewhere")
