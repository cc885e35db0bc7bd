"""`RandomAffine`: the four Keras geometric layers' transforms, composed and resampled once."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from core.random_affine import RandomAffine  # noqa: E402

MARGIN = 12  # Pixels near the border depend on the fill and are not compared.


def _smooth(height, width, batch=3):
    yy, xx = np.mgrid[0:height, 0:width].astype("float32")
    image = np.stack([xx * 4, yy * 4, 128 + 60 * np.sin(xx / 5) * np.cos(yy / 7)], axis=-1)
    return np.repeat(image[None], batch, axis=0).astype("float32")


def _blog_layer(seed=1, **kwargs):
    factors = dict(
        rotation_factor=40 / 360,
        height_factor=0.2,
        width_factor=0.2,
        shear_factor=0.2,
        zoom_factor=0.2,
        fill_mode="nearest",
    )
    return RandomAffine(**{**factors, **kwargs}, seed=seed)


def _keras_stack(images, t):
    """The same draws through Keras' RandomRotation -> Translation -> Shear -> Zoom."""
    ops, batch = keras.ops, images.shape[0]
    height, width = images.shape[1:3]
    rotation = keras.layers.RandomRotation(0.1, fill_mode="nearest")
    zeros, ones = np.zeros(batch, "float32"), np.ones(batch, "float32")
    matrix = rotation._compute_affine_matrix(
        0.5, 0.5, ops.convert_to_tensor(t["angle"]), zeros, zeros, ones, zeros, zeros, height, width
    )
    x = rotation.transform_images(images, {"rotation_matrix": matrix})
    x = keras.layers.RandomTranslation(0.2, 0.2, fill_mode="nearest").transform_images(
        x, {"translations": t["translations"], "input_shape": x.shape}
    )
    shear = np.stack([np.asarray(t["shear"]), zeros], axis=1)
    x = keras.layers.RandomShear(x_factor=(0.0, 0.2), fill_mode="nearest").transform_images(
        x, {"shear_factor": shear, "input_shape": x.shape}
    )
    zoom = np.asarray(t["zoom"])
    x = keras.layers.RandomZoom((-0.2, 0.2), (-0.2, 0.2), fill_mode="nearest").transform_images(
        x, {"width_zoom": zoom[:, :1], "height_zoom": zoom[:, 1:], "input_shape": x.shape}
    )
    return np.asarray(x)


@pytest.mark.parametrize("size", [(48, 48), (40, 56)])
def test_composes_the_keras_layers_in_their_order(size):
    images = _smooth(*size)
    layer = _blog_layer()
    t = layer.get_random_transformation(images)
    ours = np.asarray(layer.transform_images(images, t))
    theirs = _keras_stack(images, t)
    inner = (slice(None), slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    # Four bilinear resamplings against one: close inside, never the same pixels outside.
    assert np.abs(ours - theirs)[inner].max() < 2.0
    assert np.abs(ours - images).max() > 20  # and it did transform
    # The other order reads elsewhere: the order is part of what is matched.
    swapped = dict(t, angle=-np.asarray(t["angle"]))
    assert np.abs(np.asarray(layer.transform_images(images, swapped)) - theirs)[inner].max() > 10


def test_resamples_once_so_it_blurs_less():
    noise = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    layer = _blog_layer()
    t = layer.get_random_transformation(noise)
    ours = np.asarray(layer.transform_images(noise, t))
    theirs = _keras_stack(noise, t)
    # Each bilinear pass averages neighbours; detail (the spread of pixel values) survives
    # one pass better than four.
    assert ours.std() > theirs.std() * 1.1


def test_each_setting_keeps_the_others_draws():
    images = _smooth(32, 32, batch=5)
    base = _blog_layer(seed=3).get_random_transformation(images)
    more_zoom = _blog_layer(seed=3, zoom_factor=0.4).get_random_transformation(images)
    no_shift = _blog_layer(seed=3, width_factor=0.0).get_random_transformation(images)
    np.testing.assert_allclose(base["angle"], more_zoom["angle"])
    np.testing.assert_allclose(base["translations"], more_zoom["translations"])
    zooms = [np.asarray(draws["zoom"]) - 1 for draws in (more_zoom, base)]
    np.testing.assert_allclose(zooms[0], 2 * zooms[1], atol=1e-6)
    np.testing.assert_allclose(base["shear"], no_shift["shear"])
    assert np.all(np.asarray(no_shift["translations"])[:, 0] == 0)


def test_training_only_one_image_and_seeds():
    images = _smooth(24, 24, batch=2)
    layer = _blog_layer(seed=5)
    np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)
    one = np.asarray(_blog_layer(seed=5)(images[0]))
    assert one.shape == (24, 24, 3) and not np.allclose(one, images[0])
    first = np.asarray(_blog_layer(seed=9)(images))
    np.testing.assert_array_equal(first, np.asarray(_blog_layer(seed=9)(images)))
    assert not np.array_equal(first[0], first[1])  # each image of a batch gets its own draw


def test_stays_float32_under_a_mixed_policy():
    images = _smooth(24, 24, batch=2)
    expected = np.asarray(_blog_layer(seed=4)(images))
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = _blog_layer(seed=4)
        out = mixed(images)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert mixed.compute_dtype == "float32" and out.dtype == "float32"
    np.testing.assert_array_equal(np.asarray(out), expected)


def test_saves_and_loads_inside_a_model(tmp_path):
    from core.models import load_model

    inputs = keras.Input((24, 24, 3))
    x = _blog_layer(fill_mode="constant", fill_value=128.0)(inputs)
    outputs = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    (affine,) = [layer for layer in loaded.layers if isinstance(layer, RandomAffine)]
    assert affine.get_config() == model.layers[1].get_config()
    images = _smooth(24, 24, batch=2)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0))


def test_rejects_ranges_the_transform_cannot_take():
    with pytest.raises(ValueError, match="shear_factor"):
        RandomAffine(shear_factor=1.5)
    with pytest.raises(ValueError, match="zoom_factor"):
        RandomAffine(zoom_factor=1.0)


def test_numpy_and_keras_compose_the_same_matrices():
    """The preview composes its cached draws in numpy; training, in the backend's ops."""
    from core.random_affine import affine_matrices

    draws = _blog_layer(seed=6).get_random_transformation(_smooth(40, 56, batch=64))
    in_numpy = affine_matrices({k: np.asarray(v) for k, v in draws.items()}, 40, 56, xp=np)
    in_keras = np.asarray(affine_matrices(draws, 40, 56))
    assert in_numpy.dtype == in_keras.dtype == np.float32 and in_numpy.shape == (64, 8)
    np.testing.assert_array_equal(in_numpy, in_keras)
