"""Augment: the blog's random transformations as Keras 3 layers, previewed as you move them."""

import dataclasses
import functools
from pathlib import Path

import streamlit as st

import labui
from core.augment import keras_code, legacy_code, preview, previews_zip
from core.augment_config import (
    CHOICE_WORDS,
    FILL_MODE_WORDS,
    FILL_MODES,
    KNOBS,
    PRESETS,
    AugmentConfig,
    preset_name,
)
from core.errors import LabError
from core.i18n import N_, _
from core.imaging import UPLOAD_TYPES

FIELDS = [f.name for f in dataclasses.fields(AugmentConfig)]
CUSTOM = N_("(custom)")  # the preset choice's value (English); shown translated
N_VARIANTS = 9


def _load(config: AugmentConfig) -> None:
    """Writes a config into the widgets' state (before they are drawn)."""
    for name, value in config.to_dict().items():
        st.session_state[f"augment_{name}"] = value


def _on_preset() -> None:
    if st.session_state["augment_preset"] in PRESETS:
        _load(PRESETS[st.session_state["augment_preset"]])


def _new_draw() -> None:
    st.session_state[labui.AUGMENT_SEED] = st.session_state.get(labui.AUGMENT_SEED, 0) + 1


# First visit (or back from another page): the draft, the active settings, or the blog's.
if "augment_zoom" not in st.session_state:
    saved = st.session_state.get(labui.AUGMENT_DRAFT) or labui.active_augment_json()
    _load(AugmentConfig.from_json(saved) if saved else PRESETS["blog: preview"])
current = AugmentConfig.from_dict({f: st.session_state[f"augment_{f}"] for f in FIELDS})
st.session_state["augment_preset"] = preset_name(current) or CUSTOM

st.title(_("Augment"))
st.caption(
    _(
        "The blog's `ImageDataGenerator` settings as Keras 3 preprocessing layers. The layers "
        "shown here are the very ones training uses: each epoch, every picture is seen with a "
        "new random draw, so the model never sees the same picture twice."
    )
)

controls, grid = st.columns([1, 2], gap="large")
with controls:
    label, tip = CHOICE_WORDS["preset"]
    st.selectbox(
        _(label), [CUSTOM, *PRESETS], key="augment_preset", on_change=_on_preset, help=_(tip),
        format_func=_,  # the names are identifiers; each is in the catalog
    )  # fmt: skip
    values = {}
    for knob in KNOBS:
        values[knob.field] = st.slider(
            _(knob.label),
            knob.min,
            knob.max,
            step=knob.step,
            key=f"augment_{knob.field}",
            help=_(knob.help),
            format="%.0f°" if knob.field.endswith("_degrees") else None,
            disabled=knob.field == "fill_value"
            and st.session_state["augment_fill_mode"] != "constant",
        )
    for flip in ("horizontal_flip", "vertical_flip"):
        label, tip = CHOICE_WORDS[flip]
        values[flip] = st.checkbox(_(label), key=f"augment_{flip}", help=_(tip))
    label, tip = CHOICE_WORDS["fill_mode"]
    values["fill_mode"] = st.selectbox(
        _(label), FILL_MODES, key="augment_fill_mode", help=_(tip),
        format_func=lambda mode: _(FILL_MODE_WORDS[mode]),
    )  # fmt: skip
config = AugmentConfig(**values)

with grid:
    image, caption = None, ""
    upload = st.file_uploader(
        _("Your own picture (optional)"), type=UPLOAD_TYPES,
        key="augment_upload", max_upload_size=20,
    )  # fmt: skip
    if upload is not None:
        try:
            image, caption = labui.augment_source(upload.getvalue(), upload.name), upload.name
        except LabError as err:
            labui.show_error(err)
    if image is None:
        dataset = labui.dataset_or_stop()
        pick_class, pick_number = st.columns(2)
        name = pick_class.selectbox(_("Class"), dataset.class_names, key="augment_class")
        samples = dataset.class_samples("train", name)
        if not samples:
            st.info(_("The class {name} has no training pictures.").format(name=name))
            st.stop()
        if st.session_state.get("augment_sample", 1) > len(samples):
            st.session_state["augment_sample"] = 1  # the new class has fewer pictures
        number = pick_number.number_input(
            _("Picture (1-{n})").format(n=len(samples)), 1, len(samples), key="augment_sample"
        )
        path = samples[int(number) - 1].path
        try:
            image, caption = labui.augment_source(path, path), Path(path).name
        except LabError as err:
            labui.show_error(err)
            st.stop()

    seed = st.session_state.get(labui.AUGMENT_SEED, 0)
    variants = preview(image, config, n=N_VARIANTS, seed=seed)
    tiles = [(v, _("draw {seed}.{n}").format(seed=seed, n=i + 1)) for i, v in enumerate(variants)]
    original = _("original: {name}").format(name=caption)
    labui.image_grid([(image, original), *tiles], columns=5)
    draw, use, download = st.columns(3)
    draw.button(
        _("New draw"), key="augment_redraw", on_click=_new_draw, help=_("Nine new random draws.")
    )
    if use.button(
        _("Use for training"), key="augment_use", type="primary",
        help=_("The Train page will augment with these settings (remembered across visits)."),
    ):  # fmt: skip
        labui.set_active_augment(config.to_json())
        chosen = _(preset_name(config) or N_("custom"))
        st.success(_("The Train page will use these settings ({name}).").format(name=chosen))
    download.download_button(
        _("Download (zip)"),
        data=functools.partial(previews_zip, variants, "augmented", image),
        file_name="augmented.zip",
        mime="application/zip",
        key="augment_zip",
        on_click="ignore",
        help=_(
            "These pictures as a zip: the blog's save_to_dir trick, to look at the "
            "variants before training on them."
        ),
    )
    keras_tab, legacy_tab = st.tabs(
        [_("Keras 3 layers"), _("ImageDataGenerator (Keras 2, the blog)")]
    )
    keras_tab.code(keras_code(config), language="python", wrap_lines=True)
    legacy_tab.code(legacy_code(config), language="python", wrap_lines=True)
st.session_state[labui.AUGMENT_DRAFT] = config.to_json()
