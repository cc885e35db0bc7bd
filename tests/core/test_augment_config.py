"""AugmentConfig: validation, JSON round trip, presets, units; no TensorFlow needed."""

import dataclasses
import json
import math
import subprocess
import sys

import pytest

from core.augment_config import (
    FILL_MODES,
    KNOBS,
    PRESETS,
    AugmentConfig,
    preset_name,
)


def test_defaults_are_no_augmentation():
    assert AugmentConfig().is_identity()
    assert PRESETS["none"].is_identity()
    assert not PRESETS["blog: training"].is_identity()


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_are_valid_and_round_trip(name):
    config = PRESETS[name].validate()
    assert AugmentConfig.from_json(config.to_json()) == config
    assert AugmentConfig.from_dict(config.to_dict()) == config
    assert preset_name(config) == name


def test_required_presets_have_the_blogs_settings():
    training = PRESETS["blog: training"]
    assert (training.shear_degrees, training.zoom, training.horizontal_flip) == (11.5, 0.2, True)
    assert training.rotation_degrees == 0 and training.width_shift == 0
    preview = PRESETS["blog: preview"]
    assert preview.rotation_degrees == 40
    assert preview.width_shift == preview.height_shift == 0.2
    assert preview.fill_mode == "nearest"
    # The blog's shear_range=0.2 was radians: 11.5 degrees.
    assert preview.shear_degrees == pytest.approx(math.degrees(0.2), abs=0.05)
    strong = PRESETS["strong"]
    assert strong.rotation_degrees > preview.rotation_degrees and strong.zoom > preview.zoom


def test_json_is_canonical():
    a = AugmentConfig(rotation_degrees=40)
    b = AugmentConfig.from_dict({"rotation_degrees": 40.0})
    assert a.to_json() == b.to_json()
    assert json.loads(a.to_json())["rotation_degrees"] == 40.0


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("rotation_degrees", -1, "between 0 and 180"),
        ("rotation_degrees", 181, "between 0 and 180"),
        ("width_shift", 1.5, "between 0 and 1"),
        ("shear_degrees", 46, "between 0 and 45"),
        ("zoom", 1.0, "between 0 and 0.9"),
        ("brightness", -0.1, "between 0 and 1"),
        ("fill_value", 300, "between 0 and 255"),
        ("contrast", "high", "a number between 0 and 1"),
    ],
)
def test_validation_names_field_and_range(field, value, allowed):
    with pytest.raises(ValueError, match=f"{field} must be {allowed}") as info:
        AugmentConfig(**{field: value}).validate()
    assert repr(value) in str(info.value)


def test_validation_of_flags_and_fill_mode():
    with pytest.raises(ValueError, match="fill_mode must be one of nearest, reflect, wrap"):
        AugmentConfig(fill_mode="mirror").validate()
    with pytest.raises(ValueError, match="horizontal_flip must be true or false"):
        AugmentConfig(horizontal_flip="yes").validate()
    for mode in FILL_MODES:
        AugmentConfig(fill_mode=mode).validate()


def test_from_json_rejects_bad_input():
    with pytest.raises(ValueError, match="not valid JSON"):
        AugmentConfig.from_json("{rotation: 40")
    with pytest.raises(ValueError, match="Unknown augmentation setting 'rotation_range'"):
        AugmentConfig.from_json('{"rotation_range": 40}')
    with pytest.raises(ValueError, match="must be a JSON object"):
        AugmentConfig.from_json("[1, 2]")
    with pytest.raises(ValueError, match="zoom must be between"):
        AugmentConfig.from_json('{"zoom": 2}')


def test_missing_fields_take_defaults_and_flags_accept_0_1():
    config = AugmentConfig.from_dict({"zoom": 0.1, "horizontal_flip": 1})
    assert config == AugmentConfig(zoom=0.1, horizontal_flip=True)


def test_knobs_cover_every_numeric_field_with_units_and_help():
    numeric = {f.name for f in dataclasses.fields(AugmentConfig) if f.type in (float, "float")}
    assert {k.field for k in KNOBS} == numeric
    for knob in KNOBS:
        assert "(" in knob.label and knob.help and knob.min < knob.max
        default = getattr(AugmentConfig(), knob.field)
        assert knob.min <= default <= knob.max
    shear = next(k for k in KNOBS if k.field == "shear_degrees")
    assert "degrees" in shear.label and "radians" in shear.help


def test_frozen_and_hashable():
    config = PRESETS["strong"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.zoom = 0.5
    assert len({config, dataclasses.replace(config)}) == 1


def test_importing_the_config_does_not_load_tensorflow():
    code = (
        "import sys, core.augment_config; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_a_bad_setting_is_refused_in_korean():
    from core import i18n
    from core.augment_config import AugmentConfig

    i18n.set_language("ko")
    with pytest.raises(ValueError, match="이미지 증가 설정 zoom는 .* 사이"):
        AugmentConfig(zoom=5.0).validate()
