"""Bottleneck features: what keys the cache, what is extracted, and cache hits."""

import numpy as np
import pytest

from core import backbones, features
from core.augment import build_augmenter
from core.augment_config import PRESETS
from core.pipeline import DecodedSplit

SIZE = 32


def _split(n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
    return DecodedSplit(images, np.arange(n) % 2, [f"img{i}.png" for i in range(n)])


@pytest.fixture(scope="module")
def base():
    return backbones.build_base("vgg16", SIZE, pretrained=False)


def test_key_changes_with_every_setting():
    args = dict(
        fingerprint="abc", backbone="vgg16", pretrained=True, image_size=150, resize_mode="stretch"
    )
    key = features.feature_key(**args)
    for change in (
        {"fingerprint": "abd"},
        {"backbone": "resnet50"},
        {"pretrained": False},
        {"image_size": 160},
        {"resize_mode": "crop"},
    ):
        assert features.feature_key(**{**args, **change}) != key
    assert features.feature_key(**args, augment={"zoom": 0.2}, seed=3) == key  # K = 0
    copies = features.feature_key(**args, copies=2, augment={"zoom": 0.2}, seed=3)
    assert copies != key
    assert features.feature_key(**args, copies=2, augment={"zoom": 0.3}, seed=3) != copies


def test_features_are_the_preprocessed_base_outputs(base):
    splits = {"train": _split(6, 0), "validation": _split(4, 1)}
    feats = features.load_or_extract(splits, ["a", "b"], "k1", lambda: base, "vgg16")
    assert feats.feature_shape == (1, 1, 512) and not feats.cache_hit
    expected = base.predict(
        backbones.get_backbone("vgg16").preprocess(splits["validation"].images.astype("float32")),
        verbose=0,
    )
    np.testing.assert_allclose(feats.x["validation"], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(feats.y["train"], splits["train"].labels)


def test_second_call_loads_from_disk_without_building_the_base(base):
    splits = {"train": _split(6, 0), "validation": _split(4, 1)}
    first = features.load_or_extract(splits, ["a", "b"], "k2", lambda: base, "vgg16")
    assert first.path.is_file() and first.path.suffix == ".npz"

    def no_base():
        raise AssertionError("the base was built again")

    second = features.load_or_extract(splits, ["a", "b"], "k2", no_base, "vgg16")
    assert second.cache_hit and second.extract_seconds == 0
    np.testing.assert_array_equal(first.x["train"], second.x["train"])
    assert second.paths["validation"] == first.paths["validation"]


def test_augmented_copies_follow_the_originals(base):
    splits = {"train": _split(4, 0), "validation": _split(2, 1)}
    augmenter = build_augmenter(PRESETS["strong"], seed=1)
    feats = features.load_or_extract(
        splits, ["a", "b"], "k3", lambda: base, "vgg16", copies=2, augmenter=augmenter
    )
    assert len(feats.x["train"]) == 12 and len(feats.x["validation"]) == 2
    np.testing.assert_array_equal(feats.y["train"], np.tile(splits["train"].labels, 3))
    assert not np.allclose(feats.x["train"][:4], feats.x["train"][4:8])


def test_damaged_cache_file_is_extracted_again(base):
    splits = {"train": _split(4, 0), "validation": _split(2, 1)}
    features.cache_path("k4").write_bytes(b"not a zip")
    feats = features.load_or_extract(splits, ["a", "b"], "k4", lambda: base, "vgg16")
    assert not feats.cache_hit and len(feats.x["train"]) == 4


def test_extraction_reports_each_batch_over_every_split_and_copy(base):
    splits = {"train": _split(300, 0), "validation": _split(40, 1)}  # train spans two chunks
    augmenter = build_augmenter(PRESETS["strong"], seed=1)
    calls = []
    features.load_or_extract(
        splits, ["a", "b"], "k5", lambda: base, "vgg16", copies=1, augmenter=augmenter,
        batch_size=32, progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    # train 256 + 44 images: 8 + 2 passes; validation 2; one augmented copy of train: 10.
    total = 10 + 2 + 10
    assert features.count_batches(300, 32) == 10
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [done for done, _ in calls] == list(range(total + 1))
