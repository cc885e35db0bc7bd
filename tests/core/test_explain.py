"""core.explain: Grad-CAM on the scratch CNN and on a model with a nested pretrained base."""

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from core import explain, predict
from core.models import make_classifier, make_scratch_cnn, make_top_model
from core.store import RunStore


def _image(size, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (1, size, size, 3)).astype("float32")


def _reference_flat(model, images, layer_name, class_index):
    """The keras-io recipe (last activation set to None), on a copy of a flat model."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.layers[-1].activation = None
    grad_model = keras.Model(copy.inputs[0], [copy.get_layer(layer_name).output, copy.output])
    with tf.GradientTape() as tape:
        conv, logits = grad_model(images)
        score = logits[:, 0] if logits.shape[-1] == 1 else logits[:, class_index]
        if logits.shape[-1] == 1 and class_index == 0:
            score = -score  # the logit of 1 - p
    return _cam(conv, tape.gradient(score, conv))


def _cam(conv, grads):
    weights = tf.reduce_mean(grads, axis=(0, 1, 2))
    heat = tf.nn.relu(conv[0] @ weights[:, None])[..., 0].numpy()
    return heat / heat.max() if heat.max() > 0 else heat


@pytest.fixture(scope="module")
def scratch():
    keras.utils.set_random_seed(3)
    return make_scratch_cnn(image_size=32, num_classes=2)


@pytest.fixture(scope="module")
def nested():
    """MobileNetV2 α 0.35 (random weights) nested as a sub-model, as the lab builds it."""
    keras.utils.set_random_seed(4)
    base = keras.applications.MobileNetV2(
        input_shape=(64, 64, 3), alpha=0.35, include_top=False, weights=None
    )
    top = make_top_model(base.output_shape[1:], num_classes=3, head="gap")
    return make_classifier(base, top, "mobilenet_v2_0.35"), base


def test_scratch_cnn_heatmap_matches_the_keras_io_recipe(scratch):
    images = _image(32)
    assert explain.find_last_conv_layer(scratch).name == "conv3"
    for class_index in (0, 1):
        heat = explain.make_gradcam_heatmap(scratch, images, class_index=class_index)
        assert heat.shape == (4, 4) and heat.dtype == np.float32
        assert 0.0 <= heat.min() and heat.max() <= 1.0
        np.testing.assert_allclose(
            heat, _reference_flat(scratch, images, "conv3", class_index), atol=1e-5
        )
    # The explicit layer name and a single (H, W, 3) image work too.
    earlier = explain.make_gradcam_heatmap(scratch, images[0], last_conv_layer_name="conv2")
    assert earlier.shape == (13, 13)
    # The shared model is not changed: no hook on its layers, its activation intact.
    assert "call" not in vars(scratch.get_layer("conv3"))
    assert scratch.get_layer("predictions").activation.__name__ == "sigmoid"


def test_nested_backbone_is_searched_and_explained(nested):
    model, base = nested
    images = _image(64, seed=1)
    layer = explain.find_last_conv_layer(model)
    assert layer.name == "out_relu" and layer is base.get_layer("out_relu")
    inner = "block_16_project"  # deep inside the base, not the base's own output
    heat = explain.make_gradcam_heatmap(model, images, last_conv_layer_name=inner, class_index=2)
    # Reference: the same computation staged by hand across the nested graphs, on the logit.
    staged = keras.Model(base.inputs[0], [base.get_layer(inner).output, base.output])
    top = model.get_layer("top")
    output = top.get_layer("predictions")
    hidden = keras.Model(top.inputs[0], output.input)
    with tf.GradientTape() as tape:
        conv, features = staged(model.get_layer("preprocess")(images), training=False)
        score = (hidden(features, training=False) @ output.kernel + output.bias)[:, 2]
    np.testing.assert_allclose(heat, _cam(conv, tape.gradient(score, conv)), atol=1e-4)
    default = explain.make_gradcam_heatmap(model, images)
    assert default.shape == (2, 2) and np.isfinite(default).all()


def test_errors_for_unknown_layer_class_or_no_conv(scratch):
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        explain.make_gradcam_heatmap(scratch, _image(32), last_conv_layer_name="nope")
    with pytest.raises(ValueError, match="class_index"):
        explain.make_gradcam_heatmap(scratch, _image(32), class_index=2)
    inputs = keras.Input((8,))
    dense = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    with pytest.raises(ValueError, match="no convolutional layer"):
        explain.find_last_conv_layer(dense)


def test_jet_colormap_runs_blue_to_red():
    lut = explain.jet_colormap()
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert lut[0, 2] > 100 and lut[0, 0] == 0  # dark blue at 0
    assert lut[-1, 0] > 100 and lut[-1, 2] == 0  # dark red at 1
    assert lut[128, 1] == 255  # green in the middle


def test_overlay_blends_and_resizes():
    image = np.full((40, 60, 3), 100, dtype=np.uint8)
    heat = np.array([[0.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    out = explain.overlay_heatmap(image, heat, alpha=0.5)
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert out[0, -1, 0] > out[-1, 0, 0]  # hot corner redder than the cold one
    assert out[-1, 0, 2] > out[-1, 0, 0]  # cold corner bluish
    np.testing.assert_array_equal(explain.overlay_heatmap(image, heat, alpha=0.0), image)
    with pytest.raises(ValueError):
        explain.overlay_heatmap(image[..., 0], heat)


def test_explain_image_for_a_stored_run(make_run):
    store = RunStore()
    keras.utils.set_random_seed(5)
    classes = ["a", "b", "c"]
    run_id = make_run(name="tiny", image_size=32, epochs=1, classes=classes, model=True).id
    buffer = io.BytesIO()
    Image.fromarray(_image(50)[0].astype(np.uint8)).save(buffer, format="JPEG")
    result = explain.explain_image(run_id, buffer.getvalue(), class_index=1, store=store)
    assert result.image.shape == result.overlay.shape == (32, 32, 3)
    (prediction,) = predict.predict_images(run_id, [buffer.getvalue()], store)
    assert result.class_name == "b"  # the class asked for, at the probability Predict gives
    assert result.probability == pytest.approx(prediction.probabilities[1], abs=1e-5)
    assert result.layer_name == "conv3" and result.heatmap.shape == (4, 4)


def test_explain_a_saved_and_reloaded_nested_model(nested, make_run):
    model, _ = nested
    store = RunStore()
    run_id = make_run(
        "bottleneck", name="mnv2", backbone="mobilenet_v2_0.35", image_size=64,
        pretrained=False, epochs=1, classes=["a", "b", "c"], model=model,
    ).id  # fmt: skip
    result = explain.explain_image(
        run_id, Image.fromarray(_image(80)[0].astype(np.uint8)), store=store
    )
    assert result.layer_name == "out_relu" and result.heatmap.shape == (2, 2)
    assert result.overlay.shape == (64, 64, 3)
    expected = explain.make_gradcam_heatmap(
        model, result.image[None], "out_relu", ["a", "b", "c"].index(result.class_name)
    )
    np.testing.assert_allclose(result.heatmap, expected, atol=1e-4)


def _squares(n, rng):
    """Synthetic: noise, and for class 1 a white 8x8 square somewhere."""
    images = rng.uniform(0, 120, (n, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 2, n)
    for image, label in zip(images, labels, strict=True):
        row, col = rng.integers(0, 24, 2)
        if label:
            image[row : row + 8, col : col + 8] = 255.0
    return images, labels


def test_a_confident_prediction_gets_a_heatmap_with_contrast():
    """The probability saturates (its gradient is 0); the logit's does not (defect 7)."""
    rng = np.random.default_rng(0)
    images, labels = _squares(192, rng)
    keras.utils.set_random_seed(1)
    model = make_scratch_cnn(image_size=32, num_classes=2)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    model.fit(images, labels, epochs=8, batch_size=32, verbose=0)
    test_images, _ = _squares(24, rng)
    probs = np.asarray(model(test_images, training=False))[:, 0]
    image = test_images[int(np.argmax(probs))][None]
    assert probs.max() > 0.99  # confident
    # The old recipe, on the probability: saturated, so its gradient vanishes.
    grad_model = keras.Model(model.inputs[0], [model.get_layer("conv3").output, model.output])
    with tf.GradientTape() as tape:
        conv, preds = grad_model(image)
        probability = preds[:, 0]
    flat = _cam(conv, tape.gradient(probability, conv))
    heat = explain.make_gradcam_heatmap(model, image)
    assert heat.max() - heat.min() > 0.5
    assert flat.max() - flat.min() < heat.max() - heat.min()


@pytest.mark.parametrize("method", ["scratch", "bottleneck", "finetune"])
def test_every_method_s_model_explains(method):
    """Structure only (random weights): the three methods' saved models all explain."""
    from core.augment import build_augmenter
    from core.augment_config import PRESETS
    from core.backbones import build_base
    from core.models import make_finetune_model

    keras.utils.set_random_seed(6)
    augmenter = build_augmenter(PRESETS["blog: training"])
    if method == "scratch":
        model = make_scratch_cnn(image_size=48, num_classes=3, augmenter=augmenter)
    else:
        base = build_base("mobilenet_v2_0.35", 48, pretrained=False)
        top = make_top_model(base.output_shape[1:], num_classes=2)
        model = (
            make_classifier(base, top, "mobilenet_v2_0.35")
            if method == "bottleneck"
            else make_finetune_model(base, top, "mobilenet_v2_0.35", augmenter=augmenter)
        )
    for class_index in (None, 0, 1):
        heat = explain.make_gradcam_heatmap(model, _image(48, seed=2), class_index=class_index)
        assert heat.ndim == 2 and np.isfinite(heat).all() and heat.max() <= 1.0
    activation = _last_dense(model).activation.__name__
    assert activation in ("sigmoid", "softmax")  # the shared model is left as it was


def _last_dense(model):
    while hasattr(model, "layers"):
        model = model.layers[-1]
    return model


def test_two_threads_explaining_one_cached_run_get_correct_identical_maps():
    """The Predict page's sessions share one cached model per run: explaining it from two
    threads at once must neither change it nor let one explanation leak into the other."""
    import threading

    from core import predict

    store = RunStore()
    keras.utils.set_random_seed(11)
    run_id = store.create_run(
        name="shared", method="scratch", backbone=None, config={"image_size": 32},
        dataset="demo", fingerprint="", epochs_planned=1, pretrained=False,
    )  # fmt: skip
    make_scratch_cnn(image_size=32, num_classes=3).save(store.run_dir(run_id) / "model.keras")
    store.update_summary(run_id, class_names=["a", "b", "c"])
    store.finish(run_id, "finished")
    picture = io.BytesIO()
    Image.fromarray(_image(40, seed=2)[0].astype(np.uint8)).save(picture, format="PNG")
    model = predict.load_run_model(run_id, store)
    layers = list(explain._walk(model))
    images = _image(32)
    before = np.asarray(model(images, training=False))

    orders = {"first": [0, 1, 2, 0, 1, 2], "second": [2, 1, 0, 2, 1, 0]}
    results = {name: {} for name in orders}
    barrier, errors = threading.Barrier(len(orders)), []

    def explain_all(name):
        try:
            barrier.wait()
            for class_index in orders[name]:
                result = explain.explain_image(run_id, picture.getvalue(), class_index, store=store)
                results[name].setdefault(class_index, []).append(result)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=explain_all, args=(name,)) for name in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and not any(thread.is_alive() for thread in threads)

    assert predict.load_run_model(run_id, store) is model  # the same cached model...
    assert all("call" not in vars(layer) for layer in layers)  # ...with no layer patched
    assert model.layers[-1].activation.__name__ == "softmax"
    np.testing.assert_array_equal(np.asarray(model(images, training=False)), before)
    seen = results["first"][0][0].image[None].astype("float32")
    maps = {}
    for class_index in range(3):
        expected = _reference_flat(model, seen, "conv3", class_index)
        got = [r.heatmap for name in orders for r in results[name][class_index]]
        for heatmap in got:
            np.testing.assert_array_equal(heatmap, got[0])  # identical in both threads
            np.testing.assert_allclose(heatmap, expected, atol=1e-5)  # and correct
        maps[class_index] = got[0]
    assert not np.allclose(maps[0], maps[1]) or not np.allclose(maps[1], maps[2])
