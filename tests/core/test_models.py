"""The lab's models: the blog's small CNN, the top model, the fine-tuning model."""

import keras
import numpy as np
import pytest

from core import backbones, models
from core.augment import build_augmenter
from core.augment_config import PRESETS


def _images(n=4, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def test_scratch_cnn_is_the_blogs_model():
    model = models.make_scratch_cnn(150, 2)
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == [
        "Rescaling", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D",
        "MaxPooling2D", "Flatten", "Dense", "Dropout", "Dense",
    ]  # fmt: skip
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 32, 64]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert model.get_layer("rescale").scale == pytest.approx(1 / 255)
    assert model.get_layer("dropout").rate == 0.5
    out = model.get_layer("predictions")
    assert out.units == 1 and out.activation.__name__ == "sigmoid"
    # 150 -> 148 -> 74 -> 72 -> 36 -> 34 -> 17: Flatten gives 17*17*64 = 18496 values.
    expected = 896 + 9248 + 18496 + (18496 * 64 + 64) + 65
    assert models.count_params(model) == (expected, expected)


def test_three_or_more_classes_use_softmax():
    model = models.make_scratch_cnn(32, 5)
    out = model.get_layer("predictions")
    assert out.units == 5 and out.activation.__name__ == "softmax"
    np.testing.assert_allclose(model.predict(_images(), verbose=0).sum(axis=1), 1, atol=1e-5)
    assert models.loss_for(5) == "sparse_categorical_crossentropy"
    assert models.loss_for(2) == "binary_crossentropy"
    with pytest.raises(ValueError):
        models.make_scratch_cnn(32, 1)


def test_augmentation_trains_but_not_at_inference():
    augmenter = build_augmenter(PRESETS["blog: preview"], seed=1)
    model = models.make_scratch_cnn(32, 2, augmenter=augmenter, dropout=0.0)
    assert model.layers[1] is augmenter
    x = _images()
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    trained = np.asarray(model(x, training=True))
    assert not np.allclose(trained, np.asarray(model(x, training=False)))


def test_l2_adds_weight_penalties():
    assert len(models.make_scratch_cnn(32, 2).losses) == 0
    assert len(models.make_scratch_cnn(32, 2, l2=1e-4).losses) == 4  # 3 convs + Dense(64)


def test_top_model_heads():
    flat = models.make_top_model((4, 4, 512), 2)
    assert [type(layer).__name__ for layer in flat.layers[1:]] == [
        "Flatten", "Dense", "Dropout", "Dense",
    ]  # fmt: skip
    assert flat.get_layer("dense").units == 256
    gap = models.make_top_model((4, 4, 512), 3, head="gap")
    assert gap.get_layer("predictions").units == 3
    assert models.count_params(gap)[0] < models.count_params(flat)[0] / 10
    with pytest.raises(ValueError):
        models.make_top_model((4, 4, 512), 2, head="max")


def test_finetune_model_trains_only_the_last_block_and_the_top():
    base = backbones.build_base("vgg16", 32, pretrained=False)
    top = models.make_top_model(base.output_shape[1:], 2)
    model = models.make_finetune_model(base, top, "vgg16")
    names = {w.path.split("/")[0] for w in model.trainable_weights}
    assert names == {"block5_conv1", "block5_conv2", "block5_conv3", "dense", "predictions"}
    assert isinstance(model.get_layer("preprocess"), models.Preprocess)


def test_finetune_keeps_batchnorm_statistics_frozen():
    base = backbones.build_base("mobilenet_v2_0.35", 32, pretrained=False)
    top = models.make_top_model(base.output_shape[1:], 2, head="gap")
    model = models.make_finetune_model(base, top, "mobilenet_v2_0.35")
    bn = base.get_layer("block_16_project_BN")
    before = [np.array(w) for w in bn.weights]
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.fit(_images(8), np.array([0, 1] * 4), epochs=1, batch_size=4, verbose=0)
    for old, new in zip(before, bn.weights, strict=True):
        np.testing.assert_array_equal(old, np.array(new))
    assert not bn.trainable and base.get_layer("block_16_project").trainable


def test_saved_model_round_trip_keeps_preprocessing(tmp_path):
    base = backbones.build_base("vgg16", 32, pretrained=False)
    top = models.make_top_model(base.output_shape[1:], 2)
    model = models.make_classifier(base, top, "vgg16")
    model.save(tmp_path / "model.keras")
    loaded = models.load_model(tmp_path / "model.keras")
    x = _images()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_improved_cnn_has_batchnorm_blocks_and_global_pooling():
    model = models.make_improved_cnn(64, 2)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("BatchNormalization") == kinds.count("Conv2D") == 1 + 4  # stem, blocks
    assert "GlobalAveragePooling2D" in kinds and "Flatten" not in kinds
    assert model.output_shape == (None, 1)
    blog_total, _ = models.count_params(models.make_scratch_cnn(150, 2))
    assert models.count_params(model)[0] < blog_total / 3  # GAP: no big dense layer
    assert models.make_improved_cnn(32, 5).output_shape == (None, 5)


def test_improved_cnn_saves_and_loads_with_its_augmenter(tmp_path):
    augmenter = build_augmenter(PRESETS["strong"], seed=1)
    model = models.make_improved_cnn(32, 3, augmenter=augmenter, widths=(8, 16))
    model.save(tmp_path / "model.keras")
    loaded = models.load_model(tmp_path / "model.keras")
    x = _images()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_label_smoothing_moves_probability_onto_the_other_classes():
    assert models.loss_for(2) == "binary_crossentropy"
    assert models.loss_for(3, 0.0) == "sparse_categorical_crossentropy"
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype="float32")
    labels = np.array([0, 2])
    smoothing = 0.3
    targets = np.eye(3)[labels] * (1 - smoothing) + smoothing / 3
    expected = float(np.mean(-(targets * np.log(probs)).sum(axis=1)))
    loss = models.loss_for(3, smoothing)
    assert float(loss(labels, probs)) == pytest.approx(expected, rel=1e-5)
    plain = keras.losses.SparseCategoricalCrossentropy()(labels, probs)
    assert float(loss(labels, probs)) > float(plain)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert restored.label_smoothing == smoothing
    binary = models.loss_for(2, 0.2)
    assert isinstance(binary, keras.losses.BinaryCrossentropy)
