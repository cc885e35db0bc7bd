"""The augmentation settings, in the units users know (degrees, fractions).

`AugmentConfig` holds the blog's `ImageDataGenerator` parameters plus brightness
and contrast. It is plain data: no TensorFlow import here, so pages that only
show or store settings start fast. `core.augment` turns a config into Keras
preprocessing layers.

Units, as shown in the UI:
- `rotation_degrees`: a random angle in [-r, r] degrees (ImageDataGenerator's
  `rotation_range`).
- `width_shift` / `height_shift`: a shift of up to this fraction of the width /
  height, either way.
- `shear_degrees`: a shear angle in [-s, s] degrees. The blog's `shear_range=0.2`
  was written when Keras read shear in radians (0.2 rad ≈ 11.5°); today's
  ImageDataGenerator reads degrees, so the blog presets use 11.5°.
- `zoom`: ImageDataGenerator's meaning: 0.2 draws a scale from [0.8, 1.2] for each
  axis, where a scale above 1 shows more of the scene (the object gets smaller).
- `brightness`: up to this fraction of the full 0-255 range added or removed
  (Keras `RandomBrightness`).
- `contrast`: a contrast factor drawn from [1 - c, 1 + c] (Keras `RandomContrast`).
"""

import dataclasses
import json
from dataclasses import dataclass

from core.i18n import N_, _

FILL_MODES = ("nearest", "reflect", "wrap", "constant")
# The fill modes as the page shows them: Keras's identifiers, which the Korean catalog
# follows with what each does (the values stay the identifiers).
FILL_MODE_WORDS = {
    "nearest": N_("nearest"),
    "reflect": N_("reflect"),
    "wrap": N_("wrap"),
    "constant": N_("constant"),
}

# Blog-era shear: 0.2 radians, expressed in degrees (one decimal).
BLOG_SHEAR_DEGREES = 11.5


@dataclass(frozen=True)
class Knob:
    """How the page shows one numeric field: label with units, range, step, help."""

    field: str
    label: str
    min: float
    max: float
    step: float
    help: str


# Allowed ranges (inclusive). They follow what the Keras layers accept:
# RandomShear needs tan(angle) <= 1 (45°), RandomZoom needs a scale above 0.
KNOBS = (
    Knob(
        "rotation_degrees",
        N_("Rotation (± degrees)"),
        0.0,
        180.0,
        1.0,
        N_("A random rotation up to this many degrees either way (the blog uses 40)."),
    ),
    Knob(
        "width_shift",
        N_("Width shift (± fraction of width)"),
        0.0,
        1.0,
        0.05,
        N_("Shift the picture sideways by up to this fraction of its width (the blog: 0.2)."),
    ),
    Knob(
        "height_shift",
        N_("Height shift (± fraction of height)"),
        0.0,
        1.0,
        0.05,
        N_("Shift the picture up or down by up to this fraction of its height (the blog: 0.2)."),
    ),
    Knob(
        "shear_degrees",
        N_("Shear (± degrees)"),
        0.0,
        45.0,
        0.5,
        N_(
            "A random shearing angle. The blog's shear_range=0.2 meant radians in 2016 "
            "Keras (≈11.5°); today's ImageDataGenerator reads degrees, so 0.2 would do nothing."
        ),
    ),
    Knob(
        "zoom",
        N_("Zoom (± fraction, scale 1-z…1+z)"),
        0.0,
        0.9,
        0.05,
        N_(
            "Randomly zoom inside pictures: 0.2 draws a scale in [0.8, 1.2] per axis, "
            "as ImageDataGenerator's zoom_range (above 1 shows more of the scene)."
        ),
    ),
    Knob(
        "brightness",
        N_("Brightness (± fraction of 0-255)"),
        0.0,
        1.0,
        0.05,
        N_("Add or remove up to this fraction of full brightness (not in the blog)."),
    ),
    Knob(
        "contrast",
        N_("Contrast (± fraction)"),
        0.0,
        1.0,
        0.05,
        N_("Scale the contrast by a factor in [1-c, 1+c] (not in the blog)."),
    ),
    Knob(
        "fill_value",
        N_("Fill value (0-255, constant mode)"),
        0.0,
        255.0,
        1.0,
        N_(
            "The grey level used for pixels that come from outside the picture "
            "when the fill mode is 'constant'."
        ),
    ),
)
KNOBS_BY_FIELD = {knob.field: knob for knob in KNOBS}
# The page's label and help for the choices that are not sliders (as `KNOBS` has them).
CHOICE_WORDS = {
    "preset": (
        N_("Preset"),
        N_(
            "'blog: training' is the generator the blog trains with; 'blog: preview' is the "
            "fuller one it shows first, to look at augmented cats."
        ),
    ),
    "horizontal_flip": (
        N_("Horizontal flip"),
        N_(
            "Mirror left-right, half the time. Fine for cats and dogs: a mirrored cat is "
            "still a cat. Not for text or digits."
        ),
    ),
    "vertical_flip": (
        N_("Vertical flip"),
        N_(
            "Upside down, half the time. Only for pictures without an up, such as "
            "microscope slides or satellite views."
        ),
    ),
    "fill_mode": (
        N_("Fill mode (pixels from outside the picture)"),
        N_(
            "How to fill what a rotation or shift uncovers. The blog uses 'nearest' "
            "(repeat the edge pixel); the Keras layers default to 'reflect'."
        ),
    ),
}


@dataclass(frozen=True)
class AugmentConfig:
    """Random augmentation settings; all zero / False means no augmentation.

    Frozen (hashable) so it can key caches; use `dataclasses.replace` to change it.
    """

    rotation_degrees: float = 0.0
    width_shift: float = 0.0
    height_shift: float = 0.0
    shear_degrees: float = 0.0
    zoom: float = 0.0
    horizontal_flip: bool = False
    vertical_flip: bool = False
    fill_mode: str = "nearest"
    fill_value: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0

    def __post_init__(self):
        # 40 and 40.0 are the same setting: store floats so equal configs share JSON.
        for knob in KNOBS:
            value = getattr(self, knob.field)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, knob.field, float(value))

    def validate(self) -> "AugmentConfig":
        """Checks every field's type and range.

        Returns:
            The config itself, so calls can be chained.

        Raises:
            ValueError: naming the first bad field and its allowed range.
        """
        for knob in KNOBS:
            value = getattr(self, knob.field)
            fields = dict(
                field=knob.field, low=f"{knob.min:g}", high=f"{knob.max:g}", value=repr(value)
            )
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(
                    _(
                        "Augmentation setting {field} must be a number between {low} and "
                        "{high}. Received: {field}={value}"
                    ).format(**fields)
                )
            if not knob.min <= value <= knob.max:
                raise ValueError(
                    _(
                        "Augmentation setting {field} must be between {low} and {high}. "
                        "Received: {field}={value}"
                    ).format(**fields)
                )
        for name in ("horizontal_flip", "vertical_flip"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    _(
                        "Augmentation setting {field} must be true or false. "
                        "Received: {field}={value}"
                    ).format(field=name, value=repr(getattr(self, name)))
                )
        if self.fill_mode not in FILL_MODES:
            raise ValueError(
                _(
                    "Augmentation setting fill_mode must be one of {modes}. "
                    "Received: fill_mode={value}"
                ).format(modes=", ".join(FILL_MODES), value=repr(self.fill_mode))
            )
        return self

    def is_identity(self) -> bool:
        """True when no augmentation is switched on."""
        return self == dataclasses.replace(
            AugmentConfig(), fill_mode=self.fill_mode, fill_value=self.fill_value
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AugmentConfig":
        """Builds and validates a config; missing fields take their defaults.

        Raises:
            ValueError: for an unknown field or a value out of range.
        """
        if not isinstance(data, dict):
            raise ValueError(
                _("An augmentation config must be a JSON object. Received: {data}").format(
                    data=repr(data)
                )
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                _("Unknown augmentation setting {name}; known: {known}.").format(
                    name=repr(unknown[0]), known=", ".join(sorted(known))
                )
            )
        values = dict(data)
        for name in ("horizontal_flip", "vertical_flip"):
            if isinstance(values.get(name), int) and values[name] in (0, 1):
                values[name] = bool(values[name])
        return cls(**values).validate()

    def to_json(self) -> str:
        """Compact JSON with sorted keys: equal configs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "AugmentConfig":
        """Parses `to_json()` output (or any JSON object of these fields).

        Raises:
            ValueError: for text that is not JSON, or a bad field.
        """
        try:
            data = json.loads(text)
        except (TypeError, json.JSONDecodeError) as err:
            raise ValueError(
                _("The augmentation config is not valid JSON: {error}.").format(error=err)
            ) from None
        return cls.from_dict(data)


# Preset names are identifiers (stored, typed in the CLI), translated where shown.
PRESETS: dict[str, AugmentConfig] = {
    N_("none"): AugmentConfig(),
    # The blog's training generator: shear_range=0.2, zoom_range=0.2, horizontal_flip.
    N_("blog: training"): AugmentConfig(
        shear_degrees=BLOG_SHEAR_DEGREES, zoom=0.2, horizontal_flip=True
    ),
    # The generator the blog shows first, to look at augmented cats.
    N_("blog: preview"): AugmentConfig(
        rotation_degrees=40.0,
        width_shift=0.2,
        height_shift=0.2,
        shear_degrees=BLOG_SHEAR_DEGREES,
        zoom=0.2,
        horizontal_flip=True,
    ),
    N_("strong"): AugmentConfig(
        rotation_degrees=60.0,
        width_shift=0.25,
        height_shift=0.25,
        shear_degrees=20.0,
        zoom=0.3,
        horizontal_flip=True,
        fill_mode="reflect",
        brightness=0.2,
        contrast=0.3,
    ),
}


def preset_name(config: AugmentConfig) -> str | None:
    """The name of the preset equal to `config`, or None."""
    return next((name for name, preset in PRESETS.items() if preset == config), None)
