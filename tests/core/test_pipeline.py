"""Decode once, cache, and serve shuffled tf.data epochs with aligned labels."""

import numpy as np
import pytest

from core import pipeline
from core.datasets import load_dataset
from core.errors import DatasetError
from tests.core.image_factory import make_image_folder, write_bad_file

LAYOUT = {"train": {"cats": 5, "dogs": 4}, "validation": {"cats": 2, "dogs": 2}}


@pytest.fixture
def dataset(tmp_path):
    pipeline.clear_cache()
    return load_dataset(make_image_folder(tmp_path / "pets", LAYOUT, size=(40, 30)))


def test_load_split_shapes_labels_and_paths(dataset):
    decoded = pipeline.load_split(dataset, "train", 24)
    assert decoded.images.shape == (9, 24, 24, 3) and decoded.images.dtype == np.uint8
    assert decoded.labels.tolist() == [s.label for s in dataset.splits["train"]]
    assert decoded.paths == [s.path for s in dataset.splits["train"]]
    assert decoded.class_names == ["cats", "dogs"] and not decoded.skipped


def test_images_follow_their_labels(dataset):
    # The factory tints cats red-ish and dogs blue-ish: check alignment per image.
    decoded = pipeline.load_split(dataset, "train", 16)
    red_minus_blue = decoded.images[..., 0].mean((1, 2)) - decoded.images[..., 2].mean((1, 2))
    assert ((red_minus_blue > 0) == (decoded.labels == 0)).all()


def test_load_split_is_memoised_and_keyed(dataset):
    first = pipeline.load_split(dataset, "train", 24)
    assert pipeline.load_split(dataset, "train", 24) is first
    assert pipeline.load_split(dataset, "train", 24, "pad") is not first
    assert pipeline.load_split(dataset, "train", 20) is not first
    assert not first.images.flags.writeable


@pytest.mark.parametrize("mode", ["stretch", "crop", "pad"])
def test_resize_modes(dataset, mode):
    decoded = pipeline.load_split(dataset, "validation", 20, mode)
    assert decoded.images.shape == (4, 20, 20, 3)
    if mode == "pad":  # 40×30 images padded to a square: black bands top and bottom.
        assert decoded.images[:, 0].max() == 0


def test_bad_files_are_skipped_and_labels_stay_aligned(dataset, tmp_path):
    root = dataset.root
    write_bad_file(root / "train" / "cats" / "cats_zz_broken.jpg", "truncated")
    write_bad_file(root / "train" / "dogs" / "dogs_aa_empty.jpg", "zero_byte")
    write_bad_file(root / "train" / "dogs" / "dogs_ab_cmyk.jpg", "cmyk")
    ds = load_dataset(root)
    decoded = pipeline.load_split(ds, "train", 16)
    assert len(decoded) == 10 and decoded.images.shape[0] == 10
    assert {p.rsplit("/", 1)[1] for p, _ in decoded.skipped} == {
        "cats_zz_broken.jpg",
        "dogs_aa_empty.jpg",
    }
    by_path = {s.path: s.label for s in ds.splits["train"]}
    assert decoded.labels.tolist() == [by_path[p] for p in decoded.paths]


def test_errors(dataset, tmp_path):
    with pytest.raises(DatasetError, match="no test split"):
        pipeline.load_split(dataset, "test", 16)
    with pytest.raises(ValueError, match="resize_mode"):
        pipeline.load_split(dataset, "train", 16, "squash")
    for sample in dataset.splits["validation"]:
        write_bad_file(sample.path, "corrupt")
    with pytest.raises(DatasetError, match="None of the 4 images"):
        pipeline.load_split(load_dataset(dataset.root), "validation", 16)


def test_progress_callback(dataset):
    calls = []
    pipeline.load_split(dataset, "train", 16, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (9, 9)


def test_tf_dataset_batches_and_reshuffles(dataset):
    import tensorflow as tf

    decoded = pipeline.load_split(dataset, "train", 16)
    images, labels = next(iter(pipeline.make_tf_dataset(decoded, 4, shuffle=True, seed=3)))
    assert images.dtype == tf.float32 and labels.dtype == tf.int32
    assert images.shape == (4, 16, 16, 3) and float(tf.reduce_max(images)) > 1.0

    def epoch(d):  # One pass: (labels, per-image mean pixel), in the order served.
        batches = [(y.numpy(), x.numpy().mean((1, 2, 3))) for x, y in d]
        return tuple(np.concatenate(part) for part in zip(*batches, strict=True))

    ds = pipeline.make_tf_dataset(decoded, batch_size=4, shuffle=True, seed=3)
    labels1, means1 = epoch(ds)
    labels2, means2 = epoch(ds)
    assert sorted(labels1.tolist()) == sorted(decoded.labels.tolist())
    assert not np.array_equal(means1, means2)  # Reshuffled every epoch.
    again = pipeline.make_tf_dataset(decoded, batch_size=4, shuffle=True, seed=3)
    np.testing.assert_array_equal(epoch(again)[1], means1)  # Same seed, same order.
    # Images stay with their labels through shuffling.
    source = np.abs(decoded.images.mean((1, 2, 3))[None, :] - means1[:, None]).argmin(axis=1)
    np.testing.assert_array_equal(decoded.labels[source], labels1)


def test_repeating_tf_dataset_serves_whole_reshuffled_epochs(dataset):
    decoded = pipeline.load_split(dataset, "train", 16)
    n, batch = len(decoded), 4
    steps = -(-n // batch)  # what fit() gets as steps_per_epoch
    ds = pipeline.make_tf_dataset(decoded, batch, shuffle=True, seed=3, repeat=True)
    served = iter(ds)
    epochs = [
        np.concatenate([next(served)[0].numpy().mean((1, 2, 3)) for _ in range(steps)])
        for _ in range(2)
    ]
    everything = np.sort(decoded.images.mean((1, 2, 3)))
    for means in epochs:  # each run of `steps` batches is exactly one epoch
        np.testing.assert_allclose(np.sort(means), everything, rtol=1e-6)
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled between epochs
    single = pipeline.make_tf_dataset(decoded, batch, shuffle=True, seed=3)
    first = np.concatenate([x.numpy().mean((1, 2, 3)) for x, _ in single])
    np.testing.assert_array_equal(epochs[0], first)  # the same order as without repeat


def test_tf_dataset_unshuffled_order_and_remainder(dataset):
    decoded = pipeline.load_split(dataset, "train", 16)
    ds = pipeline.make_tf_dataset(decoded, batch_size=4, shuffle=False)
    labels = np.concatenate([y.numpy() for _, y in ds])
    assert labels.tolist() == decoded.labels.tolist()
    dropped = pipeline.make_tf_dataset(decoded, 4, shuffle=False, drop_remainder=True)
    assert sum(int(x.shape[0]) for x, _ in dropped) == 8


def test_tf_dataset_applies_augmenter_in_training_mode(dataset):
    import keras

    class Flag(keras.layers.Layer):
        def call(self, x, training=None):
            return x * 0.0 + (1.0 if training else -1.0)

    decoded = pipeline.load_split(dataset, "train", 16)
    ds = pipeline.make_tf_dataset(decoded, 9, shuffle=False, augmenter=Flag())
    images, _ = next(iter(ds))
    assert float(images.numpy().min()) == 1.0
