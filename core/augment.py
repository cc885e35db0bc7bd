"""Augmentation as Keras 3 preprocessing layers: the one stack for training and preview.

`build_augmenter(config)` turns an `AugmentConfig` (degrees, fractions) into a
`keras.Sequential`: one `RandomAffine` (`core.random_affine`) for rotation, shift,
shear and zoom, then `RandomFlip`, `RandomBrightness` and `RandomContrast`, in the
order ImageDataGenerator composes its transforms. The page's preview calls the very
same layers, so what users see is what trains.

`RandomAffine` draws what Keras' `RandomRotation`, `RandomTranslation`, `RandomShear`
and `RandomZoom` draw and composes their matrices, but resamples once: one
interpolation instead of four (sharper pictures, borders filled from the original) and
a quarter of the resampling, which the preview's latency needed (bench/preview_latency.py).
`keras_code` shows the four built-in layers, which anyone can paste into plain Keras.

Unit conversions (checked against the legacy ImageDataGenerator in
tests/core/test_augment_parity.py):
- rotation: the layers take a fraction of a full turn, so degrees / 360.
- shear: the layers take tan(angle), drawn in [-tan, tan]. It pivots about the
  top-left corner (as PIL and AutoAugment do), so it also shifts the picture sideways by up to
  tan(angle) * height / 2; ImageDataGenerator pivots about the centre and
  stretches the height by 1 / cos(angle).
- zoom: ImageDataGenerator's scale z in [1 - r, 1 + r] is the layers' 1 + factor,
  so the factor range is (-r, r); x and y are drawn independently, as there.
- fill mode: the layers default to 'reflect'; the config's mode (the blog:
  'nearest') is passed to every geometric layer.
"""

import functools
import hashlib
import io
import math
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from core.augment_config import AugmentConfig

_GEOMETRIC = ("RandomRotation", "RandomTranslation", "RandomShear", "RandomZoom")
# Layer i of a stack seeded with s gets seed s * _SEED_STRIDE + i, so that layers
# draw independent numbers and seeds s and s + 1 share no stream.
_SEED_STRIDE = 16


def layer_specs(config: AugmentConfig) -> list[tuple[str, dict]]:
    """The built-in Keras layers for `config` as `(keras.layers class name, kwargs)` pairs.

    What `keras_code` shows, and what `stack_specs` composes: the ranges and order are
    those that train. Settings at zero produce no layer.
    """
    config.validate()
    fill = {"fill_mode": config.fill_mode}
    if config.fill_mode == "constant":
        fill["fill_value"] = float(config.fill_value)
    specs = []
    if config.rotation_degrees:
        specs.append(("RandomRotation", {"factor": _rotation_factor(config), **fill}))
    if config.width_shift or config.height_shift:
        shifts = {"height_factor": config.height_shift, "width_factor": config.width_shift}
        specs.append(("RandomTranslation", {**shifts, **fill}))
    if config.shear_degrees:
        # (0, f), not f: the layer flips the sign at random anyway, so both draw from
        # [-f, f], but Keras 3.15 cannot reload the (-f, f) that a float is saved as.
        specs.append(("RandomShear", {"x_factor": (0.0, _shear_factor(config)), **fill}))
    if config.zoom:
        zoom = (-config.zoom, config.zoom)
        specs.append(("RandomZoom", {"height_factor": zoom, "width_factor": zoom, **fill}))
    flip = {
        (True, False): "horizontal",
        (False, True): "vertical",
        (True, True): "horizontal_and_vertical",
    }
    if config.horizontal_flip or config.vertical_flip:
        specs.append(("RandomFlip", {"mode": flip[config.horizontal_flip, config.vertical_flip]}))
    if config.brightness:
        specs.append(("RandomBrightness", {"factor": config.brightness, "value_range": (0, 255)}))
    if config.contrast:
        specs.append(("RandomContrast", {"factor": config.contrast, "value_range": (0, 255)}))
    return specs


def stack_specs(config: AugmentConfig) -> list[tuple[str, dict]]:
    """The layers the lab builds for `config`: `layer_specs` with its geometric layers
    composed into one `("RandomAffine", kwargs)` (class names of `_new_layer`)."""
    specs = layer_specs(config)
    rest = [spec for spec in specs if spec[0] not in _GEOMETRIC]
    if len(rest) == len(specs):
        return rest
    affine = {
        "rotation_factor": _rotation_factor(config),
        "height_factor": config.height_shift,
        "width_factor": config.width_shift,
        "shear_factor": _shear_factor(config),
        "zoom_factor": config.zoom,
        "fill_mode": config.fill_mode,
    }
    if config.fill_mode == "constant":
        affine["fill_value"] = float(config.fill_value)
    return [("RandomAffine", affine), *rest]


def _rotation_factor(config: AugmentConfig) -> float:
    return _round(config.rotation_degrees / 360)  # a fraction of a full turn


def _shear_factor(config: AugmentConfig) -> float:
    return _round(math.tan(math.radians(config.shear_degrees)))  # tan(angle)


def _round(value: float) -> float:
    # Six digits keep the code snippet readable and equal to what is built.
    return round(value, 6)


def build_augmenter(config: AugmentConfig, seed: int | None = None):
    """The augmentation stack for `config`, as in the keras-io examples.

    Works on float32 images in [0, 255], shape `(batch, H, W, 3)`, any H and W,
    eagerly, inside a model (right after the `Input`) or in a `tf.data` map.
    Called with `training=True` it augments; with `training=False` (the default
    inside `predict`/`evaluate`) it returns its input unchanged.

    Args:
        config: the settings.
        seed: None for fresh randomness; an int for a reproducible stream.

    Returns:
        A `keras.Sequential` named "augmentation". A config with everything off
        gives a Sequential holding one `Identity` layer (never None, never empty,
        since Keras cannot build an empty Sequential).

    Raises:
        ValueError: for a config out of range.
    """
    import keras

    layers = [
        _new_layer(index, name, kwargs, seed)
        for index, (name, kwargs) in enumerate(stack_specs(config))
    ]
    return keras.Sequential(layers or [keras.layers.Identity()], name="augmentation")


# Where a run's augmentation can sit (`run_augmenter`).
PLACES = ("model", "pipeline", "features")


def run_augmenter(config, place: str):
    """The stack a run augments with at `place`, or None when nothing augments there.

    The one augmenter of training, its timing (`core.estimate`) and bottleneck
    features; built by `build_augmenter`, like the Augment page's preview.

    Args:
        config: the run's `core.train_config.TrainConfig`.
        place: "model" (right after the model's input, active in `fit()`),
            "pipeline" (the tf.data map, when `config.augment_on` asks for it and
            TensorFlow is there) or "features" (augmented copies: bottleneck
            features, fine-tuning's frozen prefix).

    Returns:
        `build_augmenter(config.augment, seed=config.seed)`, or None: when every
        setting is off (no identity layer in the model), at the place the run does
        not augment, or for features without augmented copies.
    """
    from core.pipeline import has_tensorflow

    if place not in PLACES:
        raise ValueError(f"place must be one of {', '.join(PLACES)}; received {place!r}.")
    in_pipeline = config.augment_on == "pipeline" and has_tensorflow()
    used_here = {
        "model": not in_pipeline,
        "pipeline": in_pipeline,
        "features": config.augment_copies > 0,
    }[place]
    if not used_here or config.augment.is_identity():
        return None
    return build_augmenter(config.augment, seed=config.seed)


def _layer_seed(seed: int | None, index: int) -> int | None:
    return None if seed is None else seed * _SEED_STRIDE + index


def _new_layer(index: int, name: str, kwargs: dict, seed: int | None):
    """Layer `index` of a stack seeded with `seed`: the one place layers are made."""
    import keras

    from core.random_affine import RandomAffine

    layer_class = RandomAffine if name == "RandomAffine" else getattr(keras.layers, name)
    return layer_class(**kwargs, seed=_layer_seed(seed, index))


@functools.lru_cache(maxsize=256)
def _cached_layer(index: int, name: str, settings: tuple):
    """One built layer per (position in the stack, settings), seeds reset before use.

    Caching layers rather than whole stacks means a slider change rebuilds only
    the layer it touches. Layers run eagerly: tracing a graph per layer costs more
    than the several eager calls a dragged slider makes before moving on
    (measured with bench/preview_latency.py).
    """
    return _new_layer(index, name, dict(settings), seed=0)


# Streamlit serves sessions from threads and cached layers are shared: keep each
# seed reset and the call it prepares together.
_PREVIEW_LOCK = threading.Lock()


def _reset_seed(layer, seed: int, index: int) -> None:
    # Restores the layer's generator to the state `build_augmenter(config, seed)`
    # starts from, so a cached layer replays the same draws for the same seed.
    generator = getattr(layer, "generator", None)
    if generator is not None:
        generator.state.assign(np.array([_layer_seed(seed, index), 0], dtype="int64"))


def preview(image: np.ndarray, config: AugmentConfig, n: int = 9, seed: int = 0) -> list:
    """`n` augmented variants of one image, the same ones for the same seed.

    Runs the stack's layers (cached one by one) eagerly on a batch of `n` copies:
    the variants are exactly what `build_augmenter(config, seed)` produces on its
    first batch. A slider change touches one layer, so the work is shared with the
    previous calls: the output of every stack prefix before that layer is reused,
    and the layers after it reuse their random draws (which depend only on the layer,
    the seed and the batch shape, never on the pixels).

    Args:
        image: uint8 array `(H, W, 3)`.
        config: the settings.
        n: how many variants.
        seed: the random draw; another seed gives other variants.

    Returns:
        A list of `n` uint8 arrays shaped like `image`.

    Raises:
        ValueError: for an image that is not `(H, W, 3)`, `n < 1`, a negative seed
            or a bad config.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"preview needs an (H, W, 3) image. Received shape: {image.shape}")
    if n < 1 or seed < 0:
        raise ValueError(f"preview needs n >= 1 and seed >= 0. Received: n={n}, seed={seed}")
    specs = tuple(
        (index, name, tuple(sorted(kwargs.items())))
        for index, (name, kwargs) in enumerate(stack_specs(config))
    )
    start = (_image_digest(image), n, seed)
    with _PREVIEW_LOCK:
        done, out = _longest_cached_prefix(start, specs)
        if out is None:
            out = _batch_of_copies(image, n)
        for position in range(done, len(specs)):
            out = _apply_layer(specs[position], seed, out)
            _remember_prefix((*start, specs[: position + 1]), out)
    out = np.clip(np.rint(np.asarray(out)), 0, 255).astype(np.uint8)
    return list(out)


# Recent layer outputs, keyed by (image digest, n, seed, the stack's first layers):
# float32 batches (2.4 MB for 9 variants at 150 px), the newest kept within the limit.
_PREFIX_OUTPUTS: OrderedDict = OrderedDict()
_PREFIX_BYTES_LIMIT = 64 * 2**20
# Recent random draws, keyed by (layer spec, seed, batch shape); small tensors.
_DRAWS: OrderedDict = OrderedDict()
_DRAWS_LIMIT = 256


def _image_digest(image: np.ndarray) -> str:
    digest = hashlib.blake2b(image.tobytes(), digest_size=16)
    digest.update(repr((image.shape, image.dtype.str)).encode())
    return digest.hexdigest()


def _longest_cached_prefix(start: tuple, specs: tuple):
    """`(how many layers, their output)` for the longest stack prefix already run."""
    for length in range(len(specs), 0, -1):
        out = _PREFIX_OUTPUTS.get((*start, specs[:length]))
        if out is not None:
            _PREFIX_OUTPUTS.move_to_end((*start, specs[:length]))
            return length, out
    return 0, None


def _remember_prefix(key: tuple, out) -> None:
    _PREFIX_OUTPUTS[key] = out
    while len(_PREFIX_OUTPUTS) > 1 and _prefix_bytes() > _PREFIX_BYTES_LIMIT:
        _PREFIX_OUTPUTS.popitem(last=False)


def _prefix_bytes() -> int:
    return sum(4 * math.prod(out.shape) for out in _PREFIX_OUTPUTS.values())


def _batch_of_copies(image: np.ndarray, n: int):
    import keras

    return keras.ops.convert_to_tensor(np.broadcast_to(image.astype("float32"), (n, *image.shape)))


def _apply_layer(spec: tuple, seed: int, images):
    """What `layer(images, training=True)` computes, with the draws reused when cached.

    The two steps are those of Keras' `BaseImagePreprocessingLayer.call` for a batch.
    """
    index = spec[0]
    layer = _cached_layer(*spec)
    key = (spec, seed, tuple(images.shape))
    transformation = _DRAWS.get(key)
    if transformation is None:
        _reset_seed(layer, seed, index)
        transformation = layer.get_random_transformation(images, training=True)
        if spec[1] == "RandomAffine":  # composed in numpy from then on (RandomAffine)
            transformation = {name: np.asarray(value) for name, value in transformation.items()}
        _DRAWS[key] = transformation
        while len(_DRAWS) > _DRAWS_LIMIT:
            _DRAWS.popitem(last=False)
    if spec[1] == "RandomFlip" and layer.data_format == "channels_last":
        return _flip_in_numpy(images, transformation["flips"], layer.mode)
    if isinstance(images, np.ndarray):  # after a flip in numpy
        images = layer.backend.convert_to_tensor(images)
    return layer.transform_images(images, transformation=transformation, training=True)


def _flip_in_numpy(images, flips, mode: str) -> np.ndarray:
    """`RandomFlip._flip_inputs` in numpy (moving pixels only, so exactly the same):
    the images drawn to flip are mirrored on the mode's axes, together."""
    images = np.asarray(images)
    chosen = np.asarray(flips).reshape(-1)
    axes = ()
    if mode in ("horizontal", "horizontal_and_vertical"):
        axes += (2,)
    if mode in ("vertical", "horizontal_and_vertical"):
        axes += (1,)
    out = images.copy()
    out[chosen] = np.flip(images[chosen], axis=axes)
    return out


def save_previews(
    variants: list, out_dir: str | Path, prefix: str = "aug", original: np.ndarray | None = None
) -> list[Path]:
    """The blog's `save_to_dir` trick: writes the variants as PNG files.

    Args:
        variants: uint8 `(H, W, 3)` arrays, as returned by `preview`.
        out_dir: folder to write into (created).
        prefix: file name prefix (the blog's `save_prefix`).
        original: also written as `<prefix>_original.png` when given.

    Returns:
        The paths written, original first.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, image in _named_images(variants, prefix, original):
        path = out / name
        path.write_bytes(_png_bytes(image))
        paths.append(path)
    return paths


def previews_zip(variants: list, prefix: str = "aug", original: np.ndarray | None = None) -> bytes:
    """The same files as `save_previews`, as an in-memory zip for a download button."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, image in _named_images(variants, prefix, original):
            archive.writestr(name, _png_bytes(image))
    return buffer.getvalue()


def _named_images(variants, prefix, original):
    if original is not None:
        yield f"{prefix}_original.png", original
    for index, image in enumerate(variants):
        yield f"{prefix}_{index:02d}.png", image


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def keras_code(config: AugmentConfig) -> str:
    """Python code building the same augmentation with Keras 3's own layers, ready to copy.

    The lab resamples once for the four geometric layers (`RandomAffine`); the snippet
    keeps Keras' layers, which draw the same ranges, and says so.
    """
    lines = ["import keras", "from keras import layers", ""]
    if any(name in _GEOMETRIC for name, _ in layer_specs(config)):
        lines += [
            "# The lab composes rotation, shift, shear and zoom into one",
            "# transform (core/random_affine.py): one resampling per picture.",
        ]
    lines.append("augmentation = keras.Sequential([")
    for name, kwargs in layer_specs(config) or [("Identity", {})]:
        args = ", ".join(f"{key}={_literal(value)}" for key, value in kwargs.items())
        comment = _keras_comment(name, config)
        lines.append(f"    layers.{name}({args}),{comment}")
    lines += [
        '], name="augmentation")',
        "",
        "# In the model, right after the input:",
        "# x = augmentation(inputs)  # active in fit(), identity in predict()",
    ]
    return "\n".join(lines) + "\n"


def _keras_comment(name: str, config: AugmentConfig) -> str:
    if name == "RandomRotation":
        return f"  # ±{config.rotation_degrees:g}°: a fraction of a full turn"
    if name == "RandomShear":
        return f"  # ±{config.shear_degrees:g}°: tan(angle)"
    if name == "RandomZoom":
        return f"  # scale in [{1 - config.zoom:g}, {1 + config.zoom:g}] per axis"
    return ""


def _literal(value) -> str:
    if isinstance(value, float):
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ")"
    return repr(value).replace("'", '"')


def legacy_code(config: AugmentConfig) -> str:
    """The equivalent `ImageDataGenerator(...)` call (Keras 2 API, as in the blog)."""
    config.validate()
    args = []
    if config.rotation_degrees:
        args.append(f"rotation_range={config.rotation_degrees:g},")
    if config.width_shift:
        args.append(f"width_shift_range={config.width_shift:g},")
    if config.height_shift:
        args.append(f"height_shift_range={config.height_shift:g},")
    args.append("rescale=1.0 / 255,  # as the blog; in this lab the model rescales instead")
    if config.shear_degrees:
        args.append(
            f"shear_range={config.shear_degrees:g},  # degrees (the blog's 0.2 meant radians)"
        )
    if config.zoom:
        args.append(f"zoom_range={config.zoom:g},")
    if config.horizontal_flip:
        args.append("horizontal_flip=True,")
    if config.vertical_flip:
        args.append("vertical_flip=True,")
    if config.brightness:
        low, high = 1 - config.brightness, 1 + config.brightness
        args.append(f"brightness_range=({low:g}, {high:g}),  # multiplies; the layer adds")
    args.append(f'fill_mode="{config.fill_mode}",')
    if config.fill_mode == "constant":
        args.append(f"cval={config.fill_value:g},")
    lines = [
        "# Keras 2 API (removed from Keras 3): pip install tf_keras",
        "from tf_keras.preprocessing.image import ImageDataGenerator",
        "",
        "datagen = ImageDataGenerator(",
        *(f"    {arg}" for arg in args),
        ")",
    ]
    if config.contrast:
        lines.append(f"# contrast ±{config.contrast:g} has no ImageDataGenerator equivalent")
    return "\n".join(lines) + "\n"
