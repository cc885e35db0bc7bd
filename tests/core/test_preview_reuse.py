"""The preview reuses earlier work on a slider change and still shows what trains."""

import dataclasses

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from core import augment  # noqa: E402
from core.augment_config import PRESETS, AugmentConfig  # noqa: E402


@pytest.fixture
def image():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)


def _trained(image, config, n, seed):
    """The first batch of the training stack, rounded as the preview rounds it."""
    batch = np.repeat(image[None].astype("float32"), n, axis=0)
    out = np.asarray(augment.build_augmenter(config, seed=seed)(batch, training=True))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def test_a_sequence_of_slider_changes_shows_what_trains(image):
    config = PRESETS["blog: preview"]
    changes = [
        {"zoom": 0.3},  # a late layer
        {"rotation_degrees": 20.0},  # the first layer
        {"horizontal_flip": False},  # a layer removed
        {"brightness": 0.3},  # a layer added at the end
        {"contrast": 0.2},
        {"width_shift": 0.0, "height_shift": 0.0},  # the indices after it move
    ]
    for seed in (0, 7):
        for change in changes:
            config = dataclasses.replace(config, **change)
            shown = np.stack(augment.preview(image, config, n=4, seed=seed))
            np.testing.assert_array_equal(shown, _trained(image, config, 4, seed), str(change))


def test_a_late_slider_change_reruns_only_that_layer(image, monkeypatch):
    config = AugmentConfig(rotation_degrees=30.0, width_shift=0.1, brightness=0.1, contrast=0.2)
    augment.preview(image, config, n=3, seed=1)
    runs, draws = [], []
    real_apply = augment._apply_layer

    def counting_apply(spec, seed, images):
        runs.append(spec[1])
        return real_apply(spec, seed, images)

    monkeypatch.setattr(augment, "_apply_layer", counting_apply)
    changed = dataclasses.replace(config, contrast=0.3)
    augment.preview(image, changed, n=3, seed=1)
    assert runs == ["RandomContrast"]
    runs.clear()
    augment.preview(image, dataclasses.replace(changed, zoom=0.1), n=3, seed=1)
    assert runs == ["RandomAffine", "RandomBrightness", "RandomContrast"]

    real_draw = keras.layers.RandomContrast.get_random_transformation

    def counting_draw(layer, *args, **kwargs):
        draws.append(type(layer).__name__)
        return real_draw(layer, *args, **kwargs)

    monkeypatch.setattr(keras.layers.RandomContrast, "get_random_transformation", counting_draw)
    augment.preview(image, dataclasses.replace(changed, rotation_degrees=12.0), n=3, seed=1)
    assert draws == []  # the contrast's draws for this seed and shape are reused
    augment.preview(image, dataclasses.replace(changed, rotation_degrees=12.0), n=3, seed=2)
    assert draws == ["RandomContrast"]  # a new seed draws anew


def test_another_image_is_not_served_from_the_cache(image):
    config = AugmentConfig(rotation_degrees=30.0)
    first = augment.preview(image, config, n=2, seed=0)
    other = 255 - image
    shown = augment.preview(other, config, n=2, seed=0)
    assert not np.array_equal(first[0], shown[0])
    np.testing.assert_array_equal(np.stack(shown), _trained(other, config, 2, 0))


@pytest.mark.parametrize(
    "flips",
    [
        {"horizontal_flip": True},
        {"vertical_flip": True},
        {"horizontal_flip": True, "vertical_flip": True},
    ],
)
def test_flips_done_in_numpy_match_the_layer(image, flips):
    for config in (AugmentConfig(**flips), AugmentConfig(zoom=0.1, contrast=0.2, **flips)):
        for seed in (0, 1):
            shown = np.stack(augment.preview(image, config, n=8, seed=seed))
            np.testing.assert_array_equal(shown, _trained(image, config, 8, seed))


def test_reused_outputs_stay_within_their_memory_limit(image, monkeypatch):
    monkeypatch.setattr(augment, "_PREFIX_BYTES_LIMIT", 3 * 4 * image.size * 4)
    config = AugmentConfig(rotation_degrees=30.0, zoom=0.2)
    for seed in range(4):
        augment.preview(image, config, n=4, seed=seed)
    assert 0 < augment._prefix_bytes() <= augment._PREFIX_BYTES_LIMIT
    assert len(augment._PREFIX_OUTPUTS) == 3
