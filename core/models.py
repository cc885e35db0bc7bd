"""The lab's Keras models, all functional `keras.Model`s built here and nowhere else.

- `make_scratch_cnn`: the blog's small convnet, trained from scratch.
- `make_top_model`: the blog's classifier on top of bottleneck features.
- `make_classifier` / `make_finetune_model`: a conv base and a top model joined into
  one model that takes raw images (float [0, 255]), as fine-tuning trains it and as
  prediction uses it.
- `extraction_model`: a conv base with its preprocessing, for bottleneck features.
- `split_finetune_model`: a fine-tuning model cut into its frozen prefix and its
  trainable tail (issue 13: the prefix's output is cached when nothing augments).
- `load_model`: the one way to load a model the lab saved (custom layers included).

Every model takes float32 images in [0, 255] and scales them itself: the scratch CNN
with `Rescaling(1/255)`, pretrained bases with their own `preprocess_input`. The
augmentation stack, when given, sits right after the input (keras-io style): it is
active in `fit()` and a no-op in `predict()`, so the stack the Augment page previews
is the one that trains. Two classes get one sigmoid unit, three or more a softmax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import layers

from core import (
    backbones,
    random_affine,  # noqa: F401  (registers RandomAffine for load_model)
)


@keras.saving.register_keras_serializable(package="little_data_lab")
class Preprocess(layers.Layer):
    """A backbone's `preprocess_input` as a layer, so saved models carry it.

    Args:
        backbone: a key of `core.backbones.BACKBONES`.
    """

    def __init__(self, backbone: str, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self._entry = backbones.get_backbone(backbone)

    def call(self, images):
        return self._entry.preprocess(images)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "backbone": self.backbone}


def load_model(path) -> keras.Model:
    """Load a `.keras` file saved by the lab (its `Preprocess` and `RandomAffine` layers
    are registered by importing this module)."""
    return keras.saving.load_model(path, compile=False)


def output_layer(num_classes: int, name: str = "predictions") -> layers.Dense:
    """One sigmoid unit for two classes, a softmax over classes for three or more.

    Always float32 (under a mixed precision policy too): probabilities and the loss
    stay exact, as the Keras mixed precision guide asks of the last layer.
    """
    if num_classes < 2:
        raise ValueError(f"A classifier needs at least 2 classes; received {num_classes}.")
    if num_classes == 2:
        return layers.Dense(1, activation="sigmoid", name=name, dtype="float32")
    return layers.Dense(num_classes, activation="softmax", name=name, dtype="float32")


def loss_for(num_classes: int, label_smoothing: float = 0.0):
    """The matching loss for integer labels, optionally with label smoothing."""
    if not label_smoothing:
        return "binary_crossentropy" if num_classes == 2 else "sparse_categorical_crossentropy"
    if num_classes == 2:
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
    return SmoothedSparseCrossentropy(label_smoothing)


@keras.saving.register_keras_serializable(package="little_data_lab")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy with label smoothing (Keras's sparse loss has
    none): the target puts `1 - s` on the true class and spreads `s` over all classes."""

    def __init__(self, label_smoothing: float = 0.1, name="smoothed_sparse_crossentropy"):
        super().__init__(name=name)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        from keras import ops

        classes = ops.shape(y_pred)[-1]
        labels = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes)
        labels = labels * (1 - self.label_smoothing) + self.label_smoothing / classes
        return keras.losses.categorical_crossentropy(labels, y_pred)

    def get_config(self):
        return {"label_smoothing": self.label_smoothing, "name": self.name}


def _augmented_input(image_size: int, augmenter: keras.Model | None):
    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = inputs
    if augmenter is not None:
        x = augmenter(x)
    return inputs, x


def make_scratch_cnn(
    image_size: int = 150,
    num_classes: int = 2,
    augmenter: keras.Model | None = None,
    dropout: float = 0.5,
    l2: float = 0.0,
) -> keras.Model:
    """The blog's small convnet: 3 x (Conv 3x3 + ReLU + MaxPool 2x2), Dense(64), Dropout.

    Args:
        image_size: square input size (the blog: 150).
        num_classes: 2 (sigmoid unit) or more (softmax).
        augmenter: the augmentation stack (`core.augment.build_augmenter`) or None.
        dropout: dropout rate before the output (the blog: 0.5).
        l2: L2 weight-decay factor on the conv and hidden Dense kernels (0: off).

    Returns:
        An uncompiled functional model taking float32 [0, 255] images.
    """
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    inputs, x = _augmented_input(image_size, augmenter)
    x = layers.Rescaling(1.0 / 255, name="rescale")(x)  # the blog's rescale=1./255
    for index, filters in enumerate((32, 32, 64), start=1):
        x = layers.Conv2D(
            filters, 3, activation="relu", kernel_regularizer=regularizer, name=f"conv{index}"
        )(x)
        x = layers.MaxPooling2D(2, name=f"pool{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", kernel_regularizer=regularizer, name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = output_layer(num_classes)(x)
    return keras.Model(inputs, outputs, name="scratch_cnn")


def make_top_model(
    feature_shape: tuple[int, ...],
    num_classes: int = 2,
    head: str = "flatten",
    dropout: float = 0.5,
) -> keras.Model:
    """The blog's top model on bottleneck features: Flatten, Dense(256, ReLU), Dropout.

    Args:
        feature_shape: shape of one feature map from the conv base, e.g. (4, 4, 512).
        num_classes: 2 (sigmoid unit) or more (softmax).
        head: "flatten" (the blog's) or "gap" (global average pooling: far fewer weights).
        dropout: dropout rate before the output.

    Returns:
        An uncompiled functional model named "top".
    """
    if head not in ("flatten", "gap"):
        raise ValueError(f"head must be 'flatten' or 'gap'; received {head!r}.")
    inputs = keras.Input(shape=tuple(feature_shape), name="features")
    if head == "flatten":
        x = layers.Flatten(name="flatten")(inputs)
    else:
        x = layers.GlobalAveragePooling2D(name="gap")(inputs)
    x = layers.Dense(256, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = output_layer(num_classes)(x)
    return keras.Model(inputs, outputs, name="top")


def make_classifier(
    base: keras.Model,
    top: keras.Model,
    backbone: str,
    augmenter: keras.Model | None = None,
) -> keras.Model:
    """Raw images -> [augmentation] -> preprocess_input -> base -> top, as one model.

    The base is called with `training=False`, so its BatchNormalization layers run in
    inference mode even when some of them are unfrozen (the keras-io fine-tuning recipe).
    """
    size = base.input_shape[1]
    inputs, x = _augmented_input(size, augmenter)
    x = Preprocess(backbone, name="preprocess")(x)
    x = base(x, training=False)
    outputs = top(x)
    return keras.Model(inputs, outputs, name=f"{backbone}_classifier")


def extraction_model(base: keras.Model, backbone: str) -> keras.Model:
    """Bottleneck features of raw images: [0, 255] -> preprocess_input -> base (inference mode).

    Used by `core.features` to extract and by `core.estimate` to time extraction.
    """
    inputs = keras.Input(shape=base.input_shape[1:])
    x = Preprocess(backbone)(inputs)
    return keras.Model(inputs, base(x, training=False))


def make_finetune_model(
    base: keras.Model,
    top: keras.Model,
    backbone: str,
    augmenter: keras.Model | None = None,
    unfreeze_blocks: int = 1,
    train_batchnorm: bool = False,
) -> keras.Model:
    """The fine-tuning model: the last `unfreeze_blocks` blocks of the base and the top train.

    Args:
        base: the conv base from `core.backbones.build_base` (ImageNet weights).
        top: a top model already trained on this base's features (the blog insists).
        backbone: the base's registry key (for preprocessing and block boundaries).
        augmenter: the augmentation stack, or None.
        unfreeze_blocks: how many of the base's last blocks to train (1: VGG16's block 5).
        train_batchnorm: also train BatchNorm parameters (off: they stay frozen).

    Returns:
        An uncompiled model; everything below the boundary is frozen.
    """
    backbones.set_trainable(backbone, base, unfreeze_blocks, train_batchnorm)
    top.trainable = True
    return make_classifier(base, top, backbone, augmenter)


def count_params(model: keras.Model) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    total = sum(math.prod(w.shape) for w in model.weights)
    return int(total), int(trainable)


def make_improved_cnn(
    image_size: int = 128,
    num_classes: int = 2,
    augmenter: keras.Model | None = None,
    dropout: float = 0.3,
    widths: tuple[int, ...] = (32, 64, 128, 256),
) -> keras.Model:
    """An "improved small CNN" from scratch, beside the blog's (kept as the blog has it).

    A strided conv stem, then per width one Conv 3x3 + BatchNorm + ReLU and a 2x2
    max-pool; then global average pooling instead of Flatten + Dense(64) (few weights:
    less over-fitting on 2000 pictures), dropout and the output. BatchNorm lets AdamW
    train it fast. Plain convolutions: on 2 CPU cores a mini-Xception of separable
    convolutions cost ~3x the CPU time per batch (bench/improved_cnn.py).

    Args:
        image_size: square input size (default 128: cheap enough for 2 CPU cores).
        num_classes: 2 (sigmoid unit) or more (softmax).
        augmenter: the augmentation stack, or None.
        dropout: dropout rate before the output.
        widths: filters of the conv blocks; each block halves the resolution.

    Returns:
        An uncompiled functional model taking float32 [0, 255] images.
    """
    inputs, x = _augmented_input(image_size, augmenter)
    x = layers.Rescaling(1.0 / 255, name="rescale")(x)
    x = _conv_bn_relu(x, 32, strides=2, name="stem")
    for index, filters in enumerate(widths, start=1):
        x = _conv_bn_relu(x, filters, strides=1, name=f"block{index}")
        x = layers.MaxPooling2D(2, name=f"block{index}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = output_layer(num_classes)(x)
    return keras.Model(inputs, outputs, name="improved_cnn")


def _conv_bn_relu(x, filters: int, strides: int, name: str):
    x = layers.Conv2D(
        filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


@dataclass
class FinetuneSplit:
    """A fine-tuning model cut where its frozen part ends (issue 13).

    Attributes:
        prefix: raw images -> the split tensor: preprocessing and every layer below the
            first unfrozen block, in inference mode. Frozen: the same output every
            epoch when nothing augments the images, so it can be computed once.
        tail: the split tensor -> probabilities: the unfrozen block(s) (inference-mode
            BatchNorm, as in the whole model) and the top model. It shares its layer
            objects with the whole model: training the tail trains the whole model.
        layer: the name of the base's layer whose output is the split tensor.
    """

    prefix: keras.Model
    tail: keras.Model
    layer: str


def split_finetune_model(
    base: keras.Model, top: keras.Model, backbone: str, boundary: int
) -> FinetuneSplit:
    """Cut `make_finetune_model(base, top, backbone)` before `base.layers[boundary]`.

    Raises:
        ValueError: when not exactly one tensor crosses from the layers below
            `boundary` to those above it (a residual connection spanning the cut):
            the tail would need several inputs. The message names them.
    """
    crossing = _crossing_tensors(base, boundary)
    if len(crossing) != 1:
        names = ", ".join(t._keras_history[0].name for t in crossing) or "none"
        raise ValueError(
            f"{len(crossing)} tensors cross the frozen/trainable boundary of {backbone} "
            f"before layer {base.layers[boundary].name} ({names}); a cached prefix needs one."
        )
    split = crossing[0]
    inputs = keras.Input(shape=base.input_shape[1:], name="image")
    x = Preprocess(backbone, name="preprocess")(inputs)
    frozen = keras.Model(base.input, split, name="frozen_prefix")
    prefix = keras.Model(inputs, frozen(x, training=False), name=f"{backbone}_prefix")
    unfrozen = keras.Model(split, base.output, name="unfrozen_blocks")
    tail_input = keras.Input(shape=tuple(split.shape[1:]), name="prefix_output")
    tail = keras.Model(tail_input, top(unfrozen(tail_input, training=False)), name="tail")
    return FinetuneSplit(prefix, tail, split._keras_history[0].name)


def _crossing_tensors(base: keras.Model, boundary: int) -> list:
    """The tensors of `base`'s graph made below `base.layers[boundary]` and used at or
    above it (walks the graph back from the outputs through each tensor's node)."""
    above = {id(layer) for layer in base.layers[boundary:]}
    crossing, seen, stack = {}, set(), list(base.outputs)
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        operation, node_index, _ = tensor._keras_history
        for source in operation._inbound_nodes[node_index].input_tensors:
            if id(operation) in above and id(source._keras_history[0]) not in above:
                crossing[id(source)] = source
            stack.append(source)
    return list(crossing.values())
