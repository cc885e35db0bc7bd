"""`RandomAffine`: rotation, shift, shear and zoom drawn per image, resampled once.

Keras' `RandomRotation`, `RandomTranslation`, `RandomShear` and `RandomZoom` each
resample the picture: stacked, that is four bilinear interpolations (four blurs), four
fills of the borders, and four `ImageProjectiveTransform` passes (about 10 ms each for
the Augment page's 9 variants at 150 px on 2 cores, the preview's floor). This layer
draws the same four parameters from the same ranges, composes the four layers'
matrices in the same order, and resamples once, as the legacy `ImageDataGenerator`
did. The fill then only ever copies pixels of the original picture.

Units are those of the Keras layers it replaces (`core.augment.layer_specs` converts
the lab's degrees and fractions):
- `rotation_factor` f: an angle in [-f, f] of a full turn, counter-clockwise.
- `height_factor` / `width_factor` f: a shift of up to f of the height / width.
- `shear_factor` s: an x-shear of tan(angle) in [-s, s], pivoting on the top-left corner
  (as `RandomShear`).
- `zoom_factor` r: a scale in [1 - r, 1 + r] for each axis, drawn independently (as
  `RandomZoom`; above 1 shows more of the scene).
"""

import math

import keras
import numpy as np
from keras import ops

# Columns of the per-image draw, each uniform in [-1, 1]. All six are drawn whatever
# the factors, so a change to one factor leaves the other parameters' draws alone.
_DRAWN = ("rotation", "shift_x", "shift_y", "shear", "zoom_x", "zoom_y")


@keras.saving.register_keras_serializable(package="little_data_lab")
class RandomAffine(keras.layers.Layer):
    """One random affine transform per image (channels last), active only in training.

    Args:
        rotation_factor: fraction of a full turn, either way.
        height_factor: fraction of the height, either way.
        width_factor: fraction of the width, either way.
        shear_factor: tan of the largest x-shear angle, at most 1.
        zoom_factor: the scale range's half width, below 1.
        fill_mode: "nearest", "reflect", "wrap" or "constant".
        fill_value: the colour outside the picture for "constant".
        interpolation: "bilinear" or "nearest".
        seed: an int for a reproducible stream, None for fresh randomness.
    """

    def __init__(
        self,
        rotation_factor=0.0,
        height_factor=0.0,
        width_factor=0.0,
        shear_factor=0.0,
        zoom_factor=0.0,
        fill_mode="reflect",
        fill_value=0.0,
        interpolation="bilinear",
        seed=None,
        **kwargs,
    ):
        # Geometry in float32 under any policy: bf16 coordinates would be off by pixels.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.rotation_factor = float(rotation_factor)
        self.height_factor = float(height_factor)
        self.width_factor = float(width_factor)
        self.shear_factor = float(shear_factor)
        self.zoom_factor = float(zoom_factor)
        if not 0 <= self.shear_factor <= 1 or not 0 <= self.zoom_factor < 1:
            raise ValueError(
                "RandomAffine needs 0 <= shear_factor <= 1 and 0 <= zoom_factor < 1. "
                f"Received: shear_factor={shear_factor}, zoom_factor={zoom_factor}"
            )
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        self.interpolation = interpolation
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    def call(self, images, training=True):
        if not training:
            return images
        transformation = self.get_random_transformation(images, training=True)
        return self.transform_images(images, transformation, training=True)

    def get_random_transformation(self, images, training=True, seed=None):
        """The parameters drawn for each image of `images` (a batch or one image).

        Returns:
            A dict of float32 tensors: "angle" in degrees `(batch,)`, "translations"
            in pixels `(batch, 2)` as (x, y), "shear" `(batch,)` and "zoom" `(batch, 2)`
            as (x, y); None when not training.
        """
        if not training:
            return None
        shape = ops.shape(images)
        batch = shape[0] if len(shape) == 4 else 1
        height, width = shape[-3], shape[-2]
        seed = self.generator if seed is None else seed
        u = keras.random.uniform((batch, len(_DRAWN)), -1.0, 1.0, seed=seed)
        size = ops.cast(ops.stack([width, height]), "float32")
        return {
            "angle": u[:, 0] * (self.rotation_factor * 360.0),
            "translations": u[:, 1:3] * ops.stack([self.width_factor, self.height_factor]) * size,
            "shear": u[:, 3] * self.shear_factor,
            "zoom": 1.0 + u[:, 4:6] * self.zoom_factor,
        }

    def transform_images(self, images, transformation, training=True):
        """`images` resampled once through each image's composed matrix."""
        if not training or transformation is None:
            return images
        images = ops.cast(images, self.compute_dtype)
        shape = ops.shape(images)
        # Parameters already in numpy (the Augment preview keeps its draws so) are composed
        # in numpy: the same ~40 small ops run eagerly in TensorFlow cost ~12 ms.
        xp = np if isinstance(transformation["angle"], np.ndarray) else ops
        matrices = affine_matrices(transformation, shape[-3], shape[-2], xp=xp)
        if len(shape) == 3:
            matrices = matrices[0]
        return keras.ops.image.affine_transform(
            images,
            matrices,
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            data_format="channels_last",
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rotation_factor": self.rotation_factor,
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
            "shear_factor": self.shear_factor,
            "zoom_factor": self.zoom_factor,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "interpolation": self.interpolation,
            "seed": self.seed,
        }


def affine_matrices(transformation: dict, height, width, xp=ops):
    """The 8-number transforms of `ImageProjectiveTransform`, one row per image.

    Each maps an output pixel to where it is read from in the input. Stacking the Keras
    layers rotation -> translation -> shear -> zoom reads output p from
    R @ T @ S @ Z @ p, with each matrix exactly as its layer builds it (rotation about
    the centre, zoom about the centre, shear about the top-left corner).

    Computed in float64 and returned in float32, so that numpy and TensorFlow give the
    same float32 matrices (the preview shows exactly what trains).

    Args:
        transformation: as `RandomAffine.get_random_transformation` returns it.
        height, width: the images' size.
        xp: `keras.ops`, or `numpy` for parameters in numpy arrays.
    """

    def float64(value):
        return np.asarray(value, "float64") if xp is np else ops.cast(value, "float64")

    angle = float64(transformation["angle"]) * (math.pi / 180.0)
    shift, zoom = float64(transformation["translations"]), float64(transformation["zoom"])
    cx, cy = (float64(width) - 1.0) / 2.0, (float64(height) - 1.0) / 2.0
    cos, sin = xp.cos(angle), xp.sin(angle)
    zero, one = xp.zeros_like(angle), xp.ones_like(angle)
    zx, zy = zoom[:, 0], zoom[:, 1]
    rows = [
        # rotation about the centre
        [(cos, -sin, cx - cx * cos + cy * sin), (sin, cos, cy - cx * sin - cy * cos)],
        [(one, zero, -shift[:, 0]), (zero, one, -shift[:, 1])],  # translation
        [(one, float64(transformation["shear"]), zero), (zero, one, zero)],  # shear
        [(zx, zero, cx * (1.0 - zx)), (zero, zy, cy * (1.0 - zy))],  # zoom about the centre
    ]
    rotate, translate, shear, scale = (_matrix(xp, *pair, (zero, zero, one)) for pair in rows)
    composed = xp.matmul(xp.matmul(rotate, translate), xp.matmul(shear, scale))
    top = xp.reshape(composed[:, :2, :], (-1, 6))
    matrices = xp.concatenate([top, xp.zeros_like(top[:, :2])], axis=1)
    return matrices.astype("float32") if xp is np else ops.cast(matrices, "float32")


def _matrix(xp, *rows):
    """`(batch, 3, 3)` matrices from three rows of three `(batch,)` entries."""
    return xp.stack([xp.stack(row, axis=-1) for row in rows], axis=-2)
