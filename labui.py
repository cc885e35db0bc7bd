"""Shared UI helpers for the pages: session-state keys and cached wrappers.

Pages import this module; core never does. Keys that must survive a page
change live in keys no widget owns (Streamlit drops a widget's state when its
page is left). Heavy core modules are imported inside the functions, so that a
page that does not need TensorFlow never loads it.
"""

import json

import streamlit as st

from core import runs_view
from core.errors import LabError
from core.paths import app_home

# Cross-page state (no widget owns these keys).
ACTIVE_DATASET = "ldl_active_dataset"  # "demo" or a dataset folder path (str)
ACTIVE_AUGMENT = "ldl_active_augment"  # AugmentConfig as JSON (str)
WATCH_RUN = "ldl_watch_run"  # id of the run the Train page follows (int)
ESTIMATES = "ldl_epoch_estimates"  # TrainConfig JSON -> EpochEstimate measured this session

DEMO = "demo"

# The blog's three methods in plain words, for the overview and the Train page.
METHODS = {
    "scratch": (
        "Small CNN from scratch",
        "A small convolutional network (three convolution + max-pooling blocks, one dense "
        "layer, dropout) learns everything from your images alone. With only a couple of "
        "thousand pictures it over-fits fast, so random augmentation (shifts, shears, zooms, "
        "flips) and dropout do the heavy lifting: the model never sees the same picture twice.",
    ),
    "bottleneck": (
        "Bottleneck features of a pretrained network",
        "A network trained on ImageNet (VGG16 in the blog) already knows edges, textures and "
        "object parts. Its convolutional base is run once over every image; the resulting "
        "'bottleneck' features are cached and only a small fully-connected classifier is "
        "trained on top. Training takes seconds per epoch and accuracy jumps.",
    ),
    "finetune": (
        "Fine-tuning the top of a pretrained network",
        "Start from the classifier trained on bottleneck features, put it back on the "
        "pretrained base, unfreeze the last convolutional block and keep training the whole "
        "stack with a very small learning rate (SGD 1e-4, momentum 0.9). The top must be "
        "trained first, or its large random updates would wreck the pretrained features.",
    ),
}


def active_dataset() -> str:
    """The dataset chosen on the Data page: "demo" (the default) or a folder path."""
    return st.session_state.get(ACTIVE_DATASET, DEMO)


def active_augment() -> dict | None:
    """The augmentation settings chosen on the Augment page, or None when none were chosen."""
    raw = st.session_state.get(ACTIVE_AUGMENT)
    return json.loads(raw) if raw else None


def describe_augment(settings: dict | None) -> str:
    """A one-line summary of augmentation settings: the preset's name or what is on."""
    from core.augment_config import AugmentConfig, preset_name

    if settings is None:
        return "the method's default (none chosen on the Augment page)"
    config = AugmentConfig.from_dict(settings)
    on = [f"{k.replace('_', ' ')} {v:g}" for k, v in settings.items() if type(v) is float and v]
    on += [k.replace("_", " ") for k, v in settings.items() if v is True]
    return preset_name(config) or ", ".join(on) or "none"


@st.cache_resource(show_spinner=False)
def _store(home: str):
    from core.store import RunStore

    return RunStore()


def run_store():
    """The run store of the current app home, one per home (tests switch homes)."""
    return _store(str(app_home()))


@st.cache_resource(show_spinner="Loading the dataset…")
def _dataset(spec: str, home: str):
    from core.datasets import resolve_dataset

    return resolve_dataset(spec)


def dataset(spec: str | None = None):
    """The resolved `Dataset` for a spec (default: the active one); raises `LabError`."""
    return _dataset(spec or active_dataset(), str(app_home()))


def dataset_or_stop(spec: str | None = None):
    """The resolved `Dataset`; on a `LabError`, shows it in plain words and stops the page."""
    try:
        return dataset(spec)
    except LabError as exc:
        show_error(exc)
        st.stop()


def forget_dataset(spec: str | None = None) -> None:
    """Drop cached listings so that a re-imported or changed folder is listed afresh."""
    _dataset.clear()


@st.cache_data(show_spinner="Checking the dataset…", max_entries=8)
def health(spec: str, home: str, fingerprint: str) -> dict:
    """The health report of a dataset as a dict, cached by content fingerprint."""
    from core.health import health_report

    return health_report(dataset(spec)).to_dict()


def measure_epoch(config, num_classes: int, n_train: int, n_val: int):
    """Time two short epochs of `config` (see `core.estimate.measure`); remembered.

    The dataset's files give the decoding time, and its cached features count as such.
    """
    from core.estimate import measure

    try:
        listed = dataset(str(config.data))
    except LabError:
        listed = None  # the epoch can still be timed
    result = measure(config, num_classes, n_train, n_val, dataset=listed)
    st.session_state.setdefault(ESTIMATES, {})[_config_key(config)] = result
    return result


def measured(config):
    """The estimate measured earlier in this session for this config, or None."""
    return st.session_state.get(ESTIMATES, {}).get(_config_key(config))


def _config_key(config) -> str:
    settings = {k: v for k, v in config.to_dict().items() if k not in ("name", "seed", "epochs")}
    return json.dumps(settings, sort_keys=True)


@st.cache_data(show_spinner=False, max_entries=512)
def thumbnail(path: str, size: int = 128):
    """A small RGB thumbnail of an image file (uint8 array), or None if it cannot be read."""
    from core.errors import ImageError
    from core.imaging import load_square

    try:
        return load_square(path, size, "pad")
    except ImageError:
        return None


def picture(source):
    """An uploaded file, bytes or path as an RGB PIL image for `st.image` (any format)."""
    from core.imaging import open_rgb

    if hasattr(source, "seek"):
        source.seek(0)  # core may have read the upload already
    return open_rgb(source)


def show_error(exc: Exception) -> None:
    """Show a core error in plain words (its message is one sentence)."""
    st.error(str(exc), icon="⚠️")


format_seconds = runs_view.format_seconds


@st.fragment(run_every=3)
def _sidebar_state() -> None:
    """Refreshed every few seconds, so a change made on a page shows up without a click."""
    from core.runner import worker_state

    spec = active_dataset()
    st.markdown(f"**Dataset:** {'demo (synthetic)' if spec == DEMO else spec}")
    st.markdown(f"**Augmentation:** {describe_augment(active_augment())}")
    state = worker_state(run_store())
    if state.running is not None:
        run = state.running
        epoch = runs_view.activity(state.phase, state.epoch, state.epochs)
        st.markdown(f"**Training:** {run.name} (#{run.id}), {epoch}")
        if state.eta_seconds is not None:
            st.caption(f"ETA {format_seconds(state.eta_seconds)}")
    else:
        st.markdown("**Runner:** idle")
    if state.queued:
        st.caption(f"{state.queued} run(s) queued")


def sidebar() -> None:
    """Active dataset, active augmentation and the runner's state, on every page."""
    with st.sidebar:
        _sidebar_state()


def image_grid(items: list[tuple], columns: int = 6) -> None:
    """Images in rows of `columns`; items are `(uint8 array or None, caption)`."""
    for start in range(0, len(items), columns):
        row = items[start : start + columns]
        for col, (image, caption) in zip(st.columns(columns), row, strict=False):
            if image is None:
                col.caption(f"cannot be shown: {caption}")
            else:
                col.image(image, caption=caption)


# --- Augment page --------------------------------------------------------------
AUGMENT_SIZE = 150  # The blog's target size: previews at the scale that trains.
AUGMENT_SEED = "augment_seed"  # The preview's random draw (int); no widget owns it.
AUGMENT_DRAFT = "augment_draft"  # The page's settings as JSON, kept across page changes.


@st.cache_data(show_spinner=False, max_entries=64)
def augment_source(source: str | bytes, name: str):
    """The picture to augment, decoded and squared once per file (raises `ImageError`)."""
    from core.imaging import load_square

    return load_square(source, AUGMENT_SIZE, "stretch", name=name)
