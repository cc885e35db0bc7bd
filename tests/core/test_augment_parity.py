"""Our layers against the legacy ImageDataGenerator, transform by transform.

Fixed transforms: `RandomAffine` (what trains the geometry) and `RandomFlip` are given
one exact parameter (through `transform_images`) and compared with
`ImageDataGenerator.apply_transform` on a smooth test image, away from the borders.
Random draws: the parameters the layers draw for a config span the same ranges as
the generator's draws for the equivalent `ImageDataGenerator(...)` call.

Images are square: the legacy generator mixes up rows and columns on non-square
images (its height_shift_range moves pictures sideways and its zoom centre is off).
"""

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
legacy = pytest.importorskip("keras.src.legacy.preprocessing.image")

from core.augment import build_augmenter  # noqa: E402
from core.augment_config import PRESETS, AugmentConfig  # noqa: E402
from core.random_affine import RandomAffine  # noqa: E402

SIZE = 48
MARGIN = 10  # Pixels near the border depend on the fill and are not compared.


@pytest.fixture(scope="module")
def image():
    """A smooth, asymmetric test picture in [0, 255]."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype("float32")
    return np.stack([xx * 5, yy * 5, 128 + 60 * np.sin(xx / 5) * np.cos(yy / 7)], axis=-1).astype(
        "float32"
    )


def _legacy(image, **params):
    generator = legacy.ImageDataGenerator(fill_mode="nearest")
    return generator.apply_transform(image.copy(), params)


def _layer(config: AugmentConfig):
    """The single layer that `build_augmenter` makes for a one-setting config."""
    (layer,) = build_augmenter(config, seed=1).layers
    return layer


def _apply(layer, image, **fixed):
    """Applies `layer` with some entries of its random transformation replaced."""
    batch = image[None]
    transformation = layer.get_random_transformation(batch, training=True)
    transformation.update({key: keras.ops.convert_to_tensor(v) for key, v in fixed.items()})
    return np.asarray(layer.transform_images(batch, transformation, training=True))[0]


def _affine(image, angle=0.0, shift=(0.0, 0.0), shear=0.0, zoom=(1.0, 1.0)):
    """`RandomAffine` with one exact transformation: angle in degrees, shift and zoom (x, y)."""
    fixed = {"angle": [angle], "translations": [shift], "shear": [shear], "zoom": [zoom]}
    return _apply(
        RandomAffine(fill_mode="nearest"),
        image,
        **{key: np.asarray(value, "float32") for key, value in fixed.items()},
    )


def _inner_diff(a, b):
    return np.abs(a[MARGIN:-MARGIN, MARGIN:-MARGIN] - b[MARGIN:-MARGIN, MARGIN:-MARGIN]).max()


@pytest.mark.parametrize("degrees", [25.0, -12.0])
def test_fixed_rotation_matches(image, degrees):
    layer = _layer(AugmentConfig(rotation_degrees=40))
    ours = _affine(image, angle=degrees)
    assert layer.rotation_factor == pytest.approx(40 / 360, abs=1e-6)
    assert _inner_diff(ours, _legacy(image, theta=degrees)) < 1.0
    assert _inner_diff(ours, _legacy(image, theta=-degrees)) > 20  # the sign matters


def test_fixed_shift_matches(image):
    layer = _layer(AugmentConfig(width_shift=0.2, height_shift=0.1))
    assert (layer.width_factor, layer.height_factor) == (0.2, 0.1)
    # +0.1 of the height down and -0.15 of the width: the generator's tx/ty are
    # offsets of the sampling grid (tx along columns here), hence the minus signs.
    ours = _affine(image, shift=(-0.15 * SIZE, 0.1 * SIZE))
    theirs = _legacy(image, tx=0.15 * SIZE, ty=-0.1 * SIZE)
    assert _inner_diff(ours, theirs) < 1.0


@pytest.mark.parametrize("zoom", [0.8, 1.25])
def test_fixed_zoom_has_the_generators_meaning(image, zoom):
    """Scale z of ImageDataGenerator == RandomZoom factor z - 1 (same direction)."""
    assert _layer(AugmentConfig(zoom=0.3)).zoom_factor == 0.3
    ours = _affine(image, zoom=(zoom, zoom))
    assert _inner_diff(ours, _legacy(image, zx=zoom, zy=zoom)) < 1.0
    assert _inner_diff(ours, _legacy(image, zx=1 / zoom, zy=1 / zoom)) > 20


def test_fixed_zoom_axes(image):
    ours = _affine(image, zoom=(0.9, 1.2))
    assert _inner_diff(ours, _legacy(image, zx=0.9, zy=1.2)) < 1.0


@pytest.mark.parametrize("degrees", [10.0, -10.0])
def test_fixed_shear_relation(image, degrees):
    """RandomShear(tan a) == the generator's shear -a, minus its 1/cos(a) stretch, plus
    the shift that pivoting on the top-left corner instead of the centre adds."""
    layer = _layer(AugmentConfig(shear_degrees=abs(degrees)))
    factor = math.tan(math.radians(degrees))
    assert layer.shear_factor == pytest.approx(abs(factor), abs=1e-6)
    ours = _affine(image, shear=factor)
    theirs = _legacy(
        image,
        shear=-degrees,
        zy=1 / math.cos(math.radians(degrees)),
        tx=factor * (SIZE - 1) / 2,
    )
    assert _inner_diff(ours, theirs) < 1.0
    # Without the corner-pivot shift the pictures differ: the documented difference.
    assert _inner_diff(ours, _legacy(image, shear=-degrees)) > 10


def test_fixed_flip_matches(image):
    layer = _layer(AugmentConfig(horizontal_flip=True))
    ours = _apply(layer, image, flips=np.ones((1, 1, 1, 1), bool))
    np.testing.assert_allclose(ours, _legacy(image, flip_horizontal=True))
    layer = _layer(AugmentConfig(vertical_flip=True))
    ours = _apply(layer, image, flips=np.ones((1, 1, 1, 1), bool))
    np.testing.assert_allclose(ours, _legacy(image, flip_vertical=True))


# --- Parameter ranges over many random draws ---------------------------------

DRAWS = 2000


def _draws(layer):
    batch = np.zeros((DRAWS, 4, 4, 3), "float32")
    return layer.get_random_transformation(batch, training=True, seed=None)


def _legacy_draws(**kwargs):
    generator = legacy.ImageDataGenerator(**kwargs)
    np.random.seed(0)
    return [generator.get_random_transform((SIZE, SIZE, 3)) for _ in range(DRAWS)]


def _assert_same_uniform(ours, theirs, low, high, tol):
    ours, theirs = np.ravel(ours), np.ravel(theirs)
    for values in (ours, theirs):
        assert values.min() >= low - 1e-4 and values.max() <= high + 1e-4
        assert values.min() < low + tol and values.max() > high - tol
    quantiles = [0.1, 0.25, 0.5, 0.75, 0.9]
    np.testing.assert_allclose(
        np.quantile(ours, quantiles), np.quantile(theirs, quantiles), atol=tol * 2
    )


def test_rotation_angles_span_the_same_range():
    angles = np.asarray(_draws(_layer(AugmentConfig(rotation_degrees=40)))["angle"])
    theirs = [p["theta"] for p in _legacy_draws(rotation_range=40)]
    _assert_same_uniform(angles, theirs, -40, 40, tol=2.0)
    assert np.std(angles) == pytest.approx(80 / math.sqrt(12), rel=0.05)


def test_shifts_span_the_same_range():
    shifts = np.asarray(
        _draws(_layer(AugmentConfig(width_shift=0.2, height_shift=0.1)))["translations"]
    )
    params = _legacy_draws(width_shift_range=0.2, height_shift_range=0.1)
    _assert_same_uniform(shifts[:, 0] / 4, [p["ty"] / SIZE for p in params], -0.2, 0.2, tol=0.01)
    _assert_same_uniform(shifts[:, 1] / 4, [p["tx"] / SIZE for p in params], -0.1, 0.1, tol=0.01)


def test_shear_angles_span_the_same_range():
    factors = np.asarray(_draws(_layer(AugmentConfig(shear_degrees=20)))["shear"])
    angles = np.degrees(np.arctan(factors))
    theirs = [p["shear"] for p in _legacy_draws(shear_range=20)]
    # tan is not linear, so the angles are slightly denser near ±20°: tolerance 1°.
    _assert_same_uniform(angles, theirs, -20, 20, tol=1.0)


def test_zoom_scales_span_the_same_range_independently():
    zooms = np.asarray(_draws(_layer(AugmentConfig(zoom=0.2)))["zoom"])
    widths, heights = zooms[:, 0], zooms[:, 1]
    params = _legacy_draws(zoom_range=0.2)
    _assert_same_uniform(heights, [p["zy"] for p in params], 0.8, 1.2, tol=0.01)
    _assert_same_uniform(widths, [p["zx"] for p in params], 0.8, 1.2, tol=0.01)
    assert abs(np.corrcoef(heights, widths)[0, 1]) < 0.1  # drawn independently, as there


def test_flip_rate_is_one_half():
    flips = np.ravel(_draws(_layer(AugmentConfig(horizontal_flip=True)))["flips"])
    theirs = [p["flip_horizontal"] for p in _legacy_draws(horizontal_flip=True)]
    assert np.mean(flips) == pytest.approx(0.5, abs=0.05)
    assert np.mean(theirs) == pytest.approx(0.5, abs=0.05)


def test_legacy_code_builds_the_equivalent_generator():
    from core.augment import legacy_code

    config = PRESETS["blog: preview"]
    code = legacy_code(config).replace(
        "from tf_keras.preprocessing.image", "from keras.src.legacy.preprocessing.image"
    )
    scope = {}
    exec(code, scope)
    datagen = scope["datagen"]
    assert datagen.rotation_range == 40
    assert datagen.width_shift_range == 0.2 and datagen.height_shift_range == 0.2
    assert datagen.shear_range == pytest.approx(math.degrees(0.2), abs=0.05)  # the blog's radians
    assert datagen.zoom_range == [0.8, 1.2]
    assert datagen.horizontal_flip and datagen.fill_mode == "nearest"
