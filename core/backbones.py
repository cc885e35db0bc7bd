"""Pretrained convolutional bases from `keras.applications`, and their ImageNet weights.

Each backbone knows its own `preprocess_input` (VGG16 and ResNet50 want caffe-style
BGR mean subtraction, not the blog's 1/255), the input size it was trained at, the
layer names that start each of its blocks (for choosing what fine-tuning unfreezes),
and the official file name of its no-top ImageNet weights in the Keras cache.

Weights are resolved here rather than by `weights="imagenet"`: Keras asks for a file
named after the input size (and downloads it), while a fully convolutional base
without its top accepts the weights of any size. So any input size loads the file
that is present, and a missing file that cannot be downloaded raises `WeightsError`
instead of silently training from random weights.

Example:

    base = build_base("mobilenet_v2_1.0", image_size=150)           # ImageNet weights
    base = build_base("vgg16", image_size=150, pretrained=False)    # explicit: random
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import WeightsError
from core.i18n import N_, _

if TYPE_CHECKING:  # Keras loads lazily: pages list backbones without importing it.
    import keras

_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class Backbone:
    """One entry of the registry.

    Attributes:
        name: registry key, e.g. "vgg16" or "mobilenet_v2_1.0".
        label: human-readable name.
        factory: builds the base: `factory(input_shape=..., weights=None, name=...)`.
        preprocess_mode: `keras.applications.imagenet_utils.preprocess_input` mode:
            "caffe", "tf", "torch", or "none" (the model normalises inside).
        native_size: the ImageNet training size (its weight files' size).
        default_size: the size the lab proposes (the blog's 150 where it works).
        min_size: the smallest input the architecture accepts.
        block_pattern: regex whose first group names the block a layer belongs to.
        weight_sizes: sizes with their own official weight file (else native_size).
        weight_name: official no-top file name for a given size.
        weight_url: download folder of the official files.
    """

    name: str
    label: str
    factory: Callable[..., keras.Model]
    preprocess_mode: str
    native_size: int
    default_size: int
    min_size: int
    block_pattern: str
    weight_sizes: tuple[int, ...]
    weight_name: Callable[[int], str]
    weight_url: str

    def weight_file(self, size: int) -> str:
        """The official file name Keras would look for at this input size."""
        return self.weight_name(size if size in self.weight_sizes else self.native_size)

    def preprocess(self, images):
        """This backbone's `preprocess_input` on float [0, 255] RGB images.

        Works on tensors of any backend and on numpy arrays (never in place).
        """
        if self.preprocess_mode == "none":
            return images
        from keras.applications import imagenet_utils

        if hasattr(images, "copy"):  # numpy: Keras would modify the array in place
            images = images.astype("float32", copy=True)
        return imagenet_utils.preprocess_input(images, mode=self.preprocess_mode)


def _mnv2_name(alpha: float) -> Callable[[int], str]:
    prefix = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels"
    return lambda size: f"{prefix}_{float(alpha)}_{size}_no_top.h5"


def _mnv1_name(alpha_text: str) -> Callable[[int], str]:
    return lambda size: f"mobilenet_{alpha_text}_{size}_tf_no_top.h5"


def _fixed(name: str) -> Callable[[int], str]:
    return lambda size: name


def _app(factory_name: str, **kwargs) -> Callable[..., keras.Model]:
    """A factory without top; resolved lazily so the registry costs nothing to import."""

    def build(**call_kwargs):
        import keras

        factory = getattr(keras.applications, factory_name)
        return factory(include_top=False, **kwargs, **call_kwargs)

    return build


_MNV2_SIZES = (96, 128, 160, 192, 224)
_MNV1_SIZES = (128, 160, 192, 224)

BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in [
        Backbone(
            "vgg16", "VGG16", _app("VGG16"), "caffe", 224, 150, 32,
            r"^(block\d+)_", (224,),
            _fixed("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"), _APPS + "vgg16/",
        ),
        Backbone(
            "mobilenet_v2_0.35", "MobileNetV2 α 0.35", _app("MobileNetV2", alpha=0.35),
            "tf", 224, 150, 32, r"^(expanded_conv|block_\d+)_", _MNV2_SIZES,
            _mnv2_name(0.35), _APPS + "mobilenet_v2/",
        ),
        Backbone(
            "mobilenet_v2_1.0", "MobileNetV2 α 1.0", _app("MobileNetV2", alpha=1.0),
            "tf", 224, 150, 32, r"^(expanded_conv|block_\d+)_", _MNV2_SIZES,
            _mnv2_name(1.0), _APPS + "mobilenet_v2/",
        ),
        Backbone(
            "mobilenet_0.25", "MobileNet α 0.25", _app("MobileNet", alpha=0.25),
            "tf", 224, 150, 32, r"^conv_(?:dw|pad)_(\d+)", _MNV1_SIZES,
            _mnv1_name("2_5"), _APPS + "mobilenet_v1/",
        ),
        Backbone(
            "efficientnet_b0", "EfficientNetB0", _app("EfficientNetB0"), "none", 224, 224,
            32, r"^(block\d+)[a-z]_", (224,), _fixed("efficientnetb0_notop.h5"),
            "https://storage.googleapis.com/keras-applications/",
        ),
        Backbone(
            "resnet50", "ResNet50", _app("ResNet50"), "caffe", 224, 224, 32,
            r"^(conv\d+)_", (224,),
            _fixed("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"), _APPS + "resnet/",
        ),
        Backbone(
            "xception", "Xception", _app("Xception"), "tf", 299, 299, 71,
            r"^(block\d+)_", (299,),
            _fixed("xception_weights_tf_dim_ordering_tf_kernels_notop.h5"),
            _APPS + "xception/",
        ),
    ]
}  # fmt: skip


def get_backbone(name: str) -> Backbone:
    """The registry entry for `name`.

    Raises:
        WeightsError: for an unknown name (lists the known ones).
    """
    try:
        return BACKBONES[name]
    except KeyError:
        known = ", ".join(BACKBONES)
        message = _("Unknown backbone '{name}'; choose one of: {known}.")
        raise WeightsError(message.format(name=name, known=known)) from None


# Keras application names whose default configuration is a registry entry.
_KERAS_NAMES = {
    "VGG16": "vgg16", "MobileNetV2": "mobilenet_v2_1.0", "EfficientNetB0": "efficientnet_b0",
    "ResNet50": "resnet50", "Xception": "xception",
}  # fmt: skip


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", text.lower())


def backbone_name(text: str) -> str:
    """The registry name for `text`: a registry name, or a Keras name such as `MobileNetV2`.

    Case, `-` and `_` do not matter (`mobilenetv2`, `mobilenet-v2-0.35`).

    Raises:
        WeightsError: for an unknown name (lists the known ones).
    """
    aliases = {_squash(name): name for name in BACKBONES}
    aliases.update({_squash(keras): name for keras, name in _KERAS_NAMES.items()})
    name = aliases.get(_squash(text))
    return get_backbone(name or text).name


def keras_cache_dir() -> Path:
    """`$KERAS_HOME/models`, else `~/.keras/models` (read at call time, unlike Keras)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def find_weights(name: str, image_size: int) -> Path | None:
    """The cached weight file to load for this input size, or None.

    The size's own official file wins; otherwise the native-size file (valid for any
    input size, since a base without its top is fully convolutional).
    """
    backbone = get_backbone(name)
    cache = keras_cache_dir()
    for file in (backbone.weight_file(image_size), backbone.weight_file(backbone.native_size)):
        if (cache / file).is_file():
            return cache / file
    return None


@lru_cache(maxsize=1)
def _network_reachable() -> bool:
    """Whether the weights' server answers (DNS + TCP, in a thread with a timeout)."""
    result = []

    def probe():
        try:
            socket.create_connection(("storage.googleapis.com", 443), timeout=2).close()
            result.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(3)
    return bool(result)


def can_download() -> bool:
    """False when offline, or when `LDL_OFFLINE=1` says so (tests, air-gapped machines)."""
    if os.environ.get("LDL_OFFLINE", "") not in ("", "0"):
        return False
    return _network_reachable()


CLI_REMEDY = N_("train without pretrained weights (--no-pretrained)")


def weights_status(
    name: str, image_size: int | None = None, remedy: str | None = None
) -> tuple[bool, str]:
    """Whether ImageNet weights for `name` can be used, and where they come from.

    Args:
        name: a key of `BACKBONES`.
        image_size: the planned input size (default: the backbone's).
        remedy: the last way out named when the weights are missing, worded for
            where the message is shown (the CLI's flag, the page's tick box).

    Returns:
        `(True, "<path>")` when the file is in the Keras cache,
        `(True, "downloadable on first use (<file>)")` when it is not but can be fetched,
        `(False, "<explanation of what to do>")` otherwise.
    """
    backbone = get_backbone(name)
    size = image_size or backbone.default_size
    path = find_weights(name, size)
    if path is not None:
        return True, str(path)
    file = backbone.weight_file(size)
    if can_download():
        return True, _("downloadable on first use ({file})").format(file=file)
    return False, _(
        "ImageNet weights for {network} ({file}) are not in the Keras cache {cache} and "
        "cannot be downloaded (offline): put the file there, point KERAS_HOME at a folder "
        "whose models/ has it, or {remedy}."
    ).format(
        network=backbone.label, file=file, cache=keras_cache_dir(),
        remedy=_(CLI_REMEDY) if remedy is None else remedy,
    )  # fmt: skip


def default_backbone(image_size: int | None = None) -> str:
    """The backbone to propose: the first whose ImageNet weights are in the Keras cache,
    else the first downloadable one (online), else the first of the registry."""
    names = list(BACKBONES)
    present = [n for n in names if find_weights(n, image_size or BACKBONES[n].default_size)]
    return present[0] if present else names[0]  # online, every file is downloadable


def choice_label(name: str, image_size: int | None = None) -> str:
    """The backbone's name for a picker, marked when its ImageNet weights are not here:
    "VGG16 (weights absent)", "ResNet50 (weights download on first use)"."""
    backbone = get_backbone(name)
    if find_weights(name, image_size or backbone.default_size):
        return backbone.label
    if can_download():
        return _("{network} (weights download on first use)").format(network=backbone.label)
    return _("{network} (weights absent)").format(network=backbone.label)


def _download(backbone: Backbone, size: int) -> Path:
    import keras

    file = backbone.weight_file(size)
    try:
        path = keras.utils.get_file(
            file, backbone.weight_url + file, cache_subdir="models",
            cache_dir=str(keras_cache_dir().parent),
        )  # fmt: skip
    except Exception as exc:  # network errors come in many types
        raise WeightsError(
            _(
                "Downloading ImageNet weights {file} for {network} failed ({error}); "
                "put the file in {cache} or train with --no-pretrained."
            ).format(file=file, network=backbone.label, error=exc, cache=keras_cache_dir())
        ) from exc
    return Path(path)


def build_base(name: str, image_size: int, pretrained: bool = True) -> keras.Model:
    """The convolutional base of `name` (no top), named "backbone", weights loaded.

    Args:
        name: a key of `BACKBONES`.
        image_size: square input size in pixels.
        pretrained: load ImageNet weights (True) or keep random ones (False, explicit).

    Returns:
        A functional `keras.Model` taking preprocessed `(size, size, 3)` images.

    Raises:
        WeightsError: unknown backbone, size too small, or weights not available.
    """
    backbone = get_backbone(name)
    if image_size < backbone.min_size:
        raise WeightsError(
            _("{network} needs images of at least {min} px; received image_size={size}.").format(
                network=backbone.label, min=backbone.min_size, size=image_size
            )
        )
    path = None
    if pretrained:
        path = find_weights(name, image_size)
        if path is None:
            available, explanation = weights_status(name, image_size)
            if not available:
                raise WeightsError(explanation)
            path = _download(backbone, image_size)
    base = backbone.factory(input_shape=(image_size, image_size, 3), weights=None, name="backbone")
    if path is not None:
        try:
            base.load_weights(str(path))
        except Exception as exc:
            message = _("Weight file {path} does not fit {network}: {error}")
            raise WeightsError(
                message.format(path=path, network=backbone.label, error=exc)
            ) from exc
    return base


def block_starts(name: str, base: keras.Model) -> list[int]:
    """Indices into `base.layers` where each block begins, in order."""
    pattern = re.compile(get_backbone(name).block_pattern)
    starts, seen = [], set()
    for index, layer in enumerate(base.layers):
        match = pattern.match(layer.name)
        if match and match.group(1) not in seen:
            seen.add(match.group(1))
            starts.append(index)
    return starts


def finetune_boundary(name: str, base: keras.Model, blocks: int = 1) -> int:
    """Index of the first layer to train when the last `blocks` blocks are unfrozen.

    For VGG16 and one block this is 15: the input layer and blocks 1-4 stay frozen.
    """
    starts = block_starts(name, base)
    if not 1 <= blocks <= len(starts):
        raise ValueError(f"blocks must be in 1..{len(starts)} for {name}; received {blocks}.")
    return starts[-blocks]


def set_trainable(
    name: str, base: keras.Model, blocks: int = 1, train_batchnorm: bool = False
) -> int:
    """Freeze everything below the last `blocks` blocks; returns the boundary index.

    BatchNormalization layers stay frozen unless `train_batchnorm` (a frozen BN layer
    in Keras 3 also runs in inference mode, which is what fine-tuning wants).
    """
    import keras

    boundary = finetune_boundary(name, base, blocks)
    base.trainable = True
    for index, layer in enumerate(base.layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= boundary and (train_batchnorm or not is_bn)
    return boundary
