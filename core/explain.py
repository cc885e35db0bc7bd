"""Grad-CAM: where a model looked when it chose a class (after the keras-io example).

`make_gradcam_heatmap` is pure (model and images in, heat-map out) and
`overlay_heatmap` only draws, with a small jet-like colour map in numpy (no
matplotlib). The lab's pretrained models nest their conv base as a sub-model
(`image -> preprocess -> base -> top`), so the last convolutional layer is
searched inside nested models too.

The explained score is the class's pre-activation logit, as in the keras-io
example (which sets the last layer's activation to None): the gradient of a
saturated sigmoid or softmax is ~0, so a confident prediction would otherwise
give a flat map. The model is never changed (it is shared by every session):
the forward pass is run in stages over the same layers, the last conv layer's
feature map is taken on the way, and the output layer's logits are computed
from its own kernel and bias.

Example:

    heatmap = make_gradcam_heatmap(model, images[None].astype("float32"))
    picture = overlay_heatmap(images, heatmap)
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

# Layers whose 4-D output is a convolutional feature map worth explaining; pooling,
# dropout, augmentation and input layers are skipped.
_FEATURE_LAYERS = (
    "Conv2D",
    "SeparableConv2D",
    "DepthwiseConv2D",
    "Conv2DTranspose",
    "BatchNormalization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Add",
    "Concatenate",
    "Multiply",
)


def find_last_conv_layer(model):
    """The last layer with a 4-D convolutional feature map, searching nested models.

    Args:
        model: a Keras model (functional or Sequential), possibly holding
            sub-models such as a `keras.applications` base.

    Returns:
        The layer (it may belong to a nested sub-model).

    Raises:
        ValueError: when the model has no such layer.
    """
    layer = _last_conv(model)
    if layer is None:
        raise ValueError(f"Model '{model.name}' has no convolutional layer to explain.")
    return layer


def find_layer(model, name: str):
    """The layer called `name` in `model` or any model nested in it.

    Raises:
        ValueError: when no layer has that name.
    """
    for layer in _walk(model):
        if layer.name == name:
            return layer
    raise ValueError(f"Model '{model.name}' has no layer named '{name}'.")


def make_gradcam_heatmap(
    model, image_batch, last_conv_layer_name: str | None = None, class_index: int | None = None
) -> np.ndarray:
    """The Grad-CAM heat-map of one image: how much each region pushed one class up.

    The gradient of the class score with respect to the last conv feature map,
    averaged over space, weighs the map's channels; the weighted sum, ReLU'd and
    scaled to [0, 1], is the heat-map.

    Args:
        model: a Keras classifier taking float images in [0, 255].
        image_batch: `(1, H, W, 3)` or `(H, W, 3)` image (uint8 or float [0, 255]).
        last_conv_layer_name: the feature-map layer (searched in nested models
            too); default: the last convolutional one.
        class_index: the class to explain; default: the predicted one. For a
            one-unit sigmoid output, class 1's score is p and class 0's is 1 - p.

    Returns:
        A float32 `(h, w)` array in [0, 1] at the feature map's resolution
        (all zeros when nothing supports the class).

    Raises:
        ValueError: no convolutional layer, an unknown layer name, or a class
            index out of range.
    """
    import tensorflow as tf

    images = np.asarray(image_batch, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    images = tf.constant(images[:1])
    layer = (
        find_layer(model, last_conv_layer_name)
        if last_conv_layer_name
        else find_last_conv_layer(model)
    )
    head = _output_layer(model)
    found: dict = {}
    with tf.GradientTape() as tape:
        scores, reached = _staged_forward(model, images, layer, head, found, tape)
        if "feature_map" not in found:
            raise ValueError(
                f"Layer '{layer.name}' is not on the path from the input to the output."
            )
        score = _class_score(scores, class_index, logits=reached)
    _check_staging(model, images, scores, head if reached else None)
    feature_map = found["feature_map"]
    grads = tape.gradient(score, feature_map)
    if grads is None:
        raise ValueError(f"The output of model '{model.name}' does not depend on '{layer.name}'.")
    weights = tf.reduce_mean(grads, axis=(0, 1, 2))  # one weight per channel
    heatmap = tf.nn.relu(tf.tensordot(feature_map[0], weights, axes=1)).numpy()
    peak = float(heatmap.max())
    return (heatmap / peak if peak > 0 else np.zeros_like(heatmap)).astype(np.float32)


def jet_colormap(n: int = 256) -> np.ndarray:
    """A jet-like colour map: `(n, 3)` uint8, dark blue → cyan → yellow → dark red."""
    x = np.linspace(0.0, 1.0, n)
    channels = [np.clip(1.5 - np.abs(4 * x - c), 0, 1) for c in (3, 2, 1)]  # r, g, b
    return np.round(np.stack(channels, axis=1) * 255).astype(np.uint8)


_JET = jet_colormap()


def overlay_heatmap(image, heatmap, alpha: float = 0.4) -> np.ndarray:
    """Draw a heat-map over an image in jet colours.

    Args:
        image: `(H, W, 3)` uint8 RGB image.
        heatmap: `(h, w)` values in [0, 1] (resized to `H x W` here, bilinear).
        alpha: weight of the colours over the image, 0 (image only) to 1.

    Returns:
        A `(H, W, 3)` uint8 image.
    """
    from PIL import Image

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"overlay_heatmap needs an (H, W, 3) image. Received: {image.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1. Received: alpha={alpha}")
    height, width = image.shape[:2]
    small = Image.fromarray(np.clip(np.asarray(heatmap, dtype=np.float32), 0, 1), mode="F")
    resized = np.asarray(small.resize((width, height), Image.Resampling.BILINEAR))
    colours = _JET[np.clip(np.round(resized * 255), 0, 255).astype(np.uint8)]
    blended = (1 - alpha) * image.astype(np.float32) + alpha * colours.astype(np.float32)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


@dataclass
class Explanation:
    """A Grad-CAM result ready to show: the input, its heat-map and the overlay."""

    image: np.ndarray  # (size, size, 3) uint8, as the model saw it
    heatmap: np.ndarray  # (h, w) float32 in [0, 1]
    overlay: np.ndarray  # (size, size, 3) uint8
    class_name: str
    probability: float
    layer_name: str


def explain_image(
    run_id: int, source, class_index: int | None = None, alpha: float = 0.4, store=None
) -> Explanation:
    """Grad-CAM of a run's model on one image (the Predict page's one call).

    Args:
        run_id: a finished run.
        source: a path, bytes, an uploaded file or a PIL image.
        class_index: the class to explain; default: the predicted one.
        alpha: weight of the heat-map colours in the overlay.
        store: the run store (default: the app home's).

    Raises:
        RunError: the run is not usable; ImageError: the input is not an image.
    """
    from core import predict
    from core.store import RunStore

    store = store or RunStore()
    record = store.get(run_id)
    model = predict.load_run_model(run_id, store)
    class_names = predict.run_class_names(record, store)
    size, mode = predict.run_input(record)
    image = predict.prepare_image(source, size, mode, name=predict.source_name(source, 0))
    probs = predict.class_probabilities(model, image[None], len(class_names))[0]
    chosen = int(np.argmax(probs)) if class_index is None else int(class_index)
    layer = find_last_conv_layer(model)
    heatmap = make_gradcam_heatmap(model, image[None], layer.name, chosen)
    return Explanation(
        image=image,
        heatmap=heatmap,
        overlay=overlay_heatmap(image, heatmap, alpha),
        class_name=class_names[chosen],
        probability=float(probs[chosen]),
        layer_name=layer.name,
    )


def _walk(model):
    """Every layer of `model`, nested models' layers included, in graph order."""
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers"):
            yield from _walk(layer)


def _last_conv(model):
    for layer in reversed(getattr(model, "layers", [])):
        if hasattr(layer, "layers"):  # a nested model: its last conv is later than ours
            found = _last_conv(layer)
            if found is not None:
                return found
        elif type(layer).__name__ in _FEATURE_LAYERS and _is_feature_map(layer):
            return layer
    return None


def _is_feature_map(layer) -> bool:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):  # a layer called several times has no one output
        return False
    return len(shape) == 4 and (shape[1] or 2) > 1 and (shape[2] or 2) > 1


def _output_layer(model):
    """The model's last layer when it is a Dense with a sigmoid or softmax, else None."""
    last = model
    while getattr(last, "layers", None):
        last = last.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    if type(last).__name__ == "Dense" and activation in ("sigmoid", "softmax"):
        return last
    return None


def _contains(model, layer) -> bool:
    return any(inner is layer for inner in _walk(model))


def _staged_forward(model, x, conv, head, found: dict, tape):
    """Run `model` on `x` over its own layers; returns (output, whether `head` was reached).

    The conv layer's output lands in `found["feature_map"]`. When the output layer
    `head` is reached, its logits (kernel and bias, no activation) are returned instead
    of its probabilities. A sub-model holding the conv layer directly (such as a
    `keras.applications` base, not a plain chain) runs as one staged model over its
    own graph; everything else is taken as a chain of layers, which
    `_check_staging` verifies against the model's own output.
    """
    direct = getattr(model, "layers", [])
    if any(layer is conv for layer in direct):
        head_here = head is not None and any(layer is head for layer in direct)
        staged = _staged_model(model, conv, head if head_here else None)
        feature_map, out = staged(x, training=False)
        tape.watch(feature_map)
        found["feature_map"] = feature_map
        return (_logits(head, out), True) if head_here else (out, False)
    for layer in direct:
        if type(layer).__name__ == "InputLayer":
            continue
        if layer is head:
            return _logits(head, x), True
        if hasattr(layer, "layers") and (_contains(layer, conv) or _contains(layer, head)):
            x, reached = _staged_forward(layer, x, conv, head, found, tape)
            if reached:
                return x, True
        else:
            x = layer(x, training=False)
    return x, False


_staged_models: dict = {}
_staged_lock = threading.Lock()


def _staged_model(model, conv, head):
    """`model`'s input to [conv output, head's input or model output], built once per model.

    A new `keras.Model` over the existing graph: the original layers are shared,
    nothing of them changes.
    """
    import keras

    key = (id(model), conv.name, head.name if head is not None else None)
    with _staged_lock:
        cached = _staged_models.get(key)
        if cached is not None and cached[0]() is model:
            return cached[1]
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        staged = keras.Model(inputs, [conv.output, head.input if head else model.output])
        _staged_models[key] = (weakref.ref(model), staged)
        for stale in [k for k, (ref, _) in _staged_models.items() if ref() is None]:
            del _staged_models[stale]
        return staged


def _logits(head, x):
    """The output layer's pre-activation scores: x @ kernel + bias."""
    from keras import ops

    z = ops.matmul(x, head.kernel)
    return z + head.bias if head.use_bias else z


def _check_staging(model, images, scores, head) -> None:
    """The staged pass must give the model's own output, or the map would explain another model.

    Args:
        scores: the staged pass's result: logits when `head` is given, else the output.
    """
    from keras import activations

    expected = np.asarray(model(images, training=False))
    got = np.asarray(activations.get(head.activation)(scores) if head is not None else scores)
    if got.shape != expected.shape or not np.allclose(got, expected, atol=1e-4, rtol=1e-3):
        raise ValueError(f"Model '{model.name}' is not a chain of layers that Grad-CAM can follow.")


def _class_score(scores, class_index: int | None, logits: bool = True):
    """The score whose gradient is explained: one class's score for the first image.

    With logits, a one-unit binary model's score is z for class 1 and -z for class 0
    (the logit of 1 - p); with probabilities (a model without a Dense output layer)
    it is p and 1 - p.
    """
    import tensorflow as tf

    scores = tf.convert_to_tensor(scores)
    units = int(scores.shape[-1])
    if units == 1:
        z = scores[0, 0]
        threshold = 0.0 if logits else 0.5
        index = int(z >= threshold) if class_index is None else int(class_index)
        if index not in (0, 1):
            raise ValueError(f"class_index must be 0 or 1 for a binary model. Received: {index}")
        if index == 1:
            return z
        return -z if logits else 1.0 - z
    index = int(tf.argmax(scores[0])) if class_index is None else int(class_index)
    if not 0 <= index < units:
        raise ValueError(f"class_index must be in [0, {units}). Received: {index}")
    return scores[0, index]
