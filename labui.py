"""Shared UI helpers for the pages: session-state keys and cached wrappers.

Pages import this module; core never does. Keys that must survive a page
change live in keys no widget owns (Streamlit drops a widget's state when its
page is left). Heavy core modules are imported inside the functions, so that a
page that does not need TensorFlow never loads it.
"""

import contextlib
import dataclasses
import json
import logging
from pathlib import Path

import streamlit as st

from core import i18n, runs_view
from core.errors import LabError
from core.i18n import N_, _, ngettext
from core.paths import app_home
from core.preferences import load_preferences, save_preferences


def _leave_legacy_pages() -> None:
    """Make the entry script's `st.navigation` the app's shell from the very first request.

    Streamlit treats a `pages/` folder beside the entry script as a legacy multipage
    app until the first `st.navigation` call in the process: a direct URL such as
    `/train` on a fresh server would run `pages/train.py` alone, without the shell
    (lowercase file names as navigation, no sidebar status, narrow layout). Every
    page imports this module first, so switching that mode off here and rerunning
    renders the shell (which then runs the page the URL names).
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_legacy_pages()

# Cross-page state (no widget owns these keys), restored from the app home's
# preferences file on a session's first read.
ACTIVE_DATASET = "ldl_active_dataset"  # "demo" or a dataset folder path (str)
ACTIVE_AUGMENT = "ldl_active_augment"  # AugmentConfig as JSON (str)
RESTORE_NOTE = "ldl_restore_note"  # why the remembered dataset could not be restored
WATCH_RUN = "ldl_watch_run"  # id of the run the Train page follows (int)
ESTIMATES = "ldl_epoch_estimates"  # TrainConfig JSON -> EpochEstimate measured this session

LANGUAGE = "ldl_language"  # "en" or "ko": this session's interface language
LANGUAGE_PICK = "sidebar_language"  # the sidebar's language choice (widget key)

DEMO = "demo"
# The Train page's precision choice (core.devices.resolve_precision is the rule).
PRECISION_HELP = N_(
    "auto: mixed_float16 on a GPU, mixed_bfloat16 on a CPU with AMX, else float32 "
    "(on CPUs without AMX, bfloat16 is slower: bench/precision.py). mixed_float16 needs a "
    "GPU. The output layer always computes in float32."
)

_log = logging.getLogger("littledatalab")

# Each of `core.train_config.METHODS` in plain words, for the overview and the Train page.
METHOD_WORDS = {
    "scratch": (
        N_("Small CNN from scratch"),
        N_(
            "A small convolutional network (three convolution + max-pooling blocks, one dense "
            "layer, dropout) learns everything from your images alone. With only a couple of "
            "thousand pictures it over-fits fast, so random augmentation (shifts, shears, zooms, "
            "flips) and dropout do the heavy lifting: the model never sees the same picture twice."
        ),
    ),
    "bottleneck": (
        N_("Bottleneck features of a pretrained network"),
        N_(
            "A network trained on ImageNet (VGG16 in the blog) already knows edges, textures and "
            "object parts. Its convolutional base is run once over every image; the resulting "
            "'bottleneck' features are cached and only a small fully-connected classifier is "
            "trained on top. Training takes seconds per epoch and accuracy jumps."
        ),
    ),
    "finetune": (
        N_("Fine-tuning the top of a pretrained network"),
        N_(
            "Start from the classifier trained on bottleneck features, put it back on the "
            "pretrained base, unfreeze the last convolutional block and keep training the whole "
            "stack with a very small learning rate (SGD 1e-4, momentum 0.9). The top must be "
            "trained first, or its large random updates would wreck the pretrained features."
        ),
    ),
    # Not the blog's: the lab's own (issue 10).
    "improved": (
        N_("Improved small CNN"),
        N_(
            "Not in the blog: a small convolutional network with batch normalization after every "
            "convolution and global average pooling, trained from scratch at 128 px with "
            "stronger augmentation (rotation, shifts, zoom, flips, contrast), label smoothing and "
            "AdamW on a cosine learning-rate schedule with warm-up."
        ),
    ),
}


def method_words(method: str) -> tuple[str, str]:
    """A method's name and one paragraph about it, in the session's language."""
    title, text = METHOD_WORDS[method]
    return _(title), _(text)


def _session_language() -> str | None:
    """The language of the Streamlit session running this thread (None outside one)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    return st.session_state.get(LANGUAGE)


# Every message core and the pages translate asks the session it is shown in.
i18n.set_language_source(_session_language)


def resolve_language() -> str:
    """This run's language: `?lang=`, else the sidebar's remembered choice, else the
    browser's, else English. Call first in every run, before anything is written."""
    query = i18n.normalize(st.query_params.get("lang"))
    if query:
        st.session_state[LANGUAGE] = query
    elif LANGUAGE not in st.session_state:
        st.session_state[LANGUAGE] = (
            load_preferences().language
            or i18n.normalize(st.context.locale)
            or i18n.from_accept_language(st.context.headers.get("Accept-Language"))
            or i18n.DEFAULT_LANGUAGE
        )
    return st.session_state[LANGUAGE]


def _choose_language() -> None:
    language = st.session_state[LANGUAGE_PICK]
    st.session_state[LANGUAGE] = language
    st.query_params["lang"] = language  # so a ?lang= in the address agrees with the choice
    _remember(language=language)


def language_picker() -> None:
    """The sidebar's language choice, labelled in both languages."""
    # A page run without the entry script (tests) has not resolved its language yet.
    st.session_state[LANGUAGE_PICK] = st.session_state.get(LANGUAGE) or resolve_language()
    st.selectbox(
        "Language / 언어",
        list(i18n.LANGUAGES),
        format_func=i18n.LANGUAGES.get,
        key=LANGUAGE_PICK,
        on_change=_choose_language,
    )


def _restore() -> None:
    """A new session (reload, new tab, restarted server) starts on the remembered choices."""
    if ACTIVE_DATASET in st.session_state and ACTIVE_AUGMENT in st.session_state:
        return
    prefs = load_preferences()
    if ACTIVE_DATASET not in st.session_state:
        st.session_state[ACTIVE_DATASET] = prefs.dataset
        st.session_state[RESTORE_NOTE] = prefs.note
    st.session_state.setdefault(ACTIVE_AUGMENT, prefs.augment)


def _remember(**changes) -> None:
    prefs = load_preferences()
    prefs = dataclasses.replace(prefs, dataset=active_dataset(), augment=active_augment_json())
    save_preferences(dataclasses.replace(prefs, **changes))


def active_dataset() -> str:
    """The dataset chosen on the Data page: "demo" (the default) or a folder path."""
    _restore()
    return st.session_state[ACTIVE_DATASET]


def set_active_dataset(spec: str) -> None:
    """Make `spec` the active dataset for this session and the next ones."""
    st.session_state[ACTIVE_DATASET] = spec
    st.session_state[RESTORE_NOTE] = None
    _remember(dataset=spec)


def dataset_label(spec: str) -> str:
    """A dataset's short name for the sidebar and captions: its folder's name."""
    from core.datasets import display_name

    return display_name("demo", True) if spec == DEMO else runs_view.spec_label(spec)


def active_augment_json() -> str | None:
    """The active augmentation settings as JSON, or None when none were chosen."""
    _restore()
    return st.session_state[ACTIVE_AUGMENT]


def active_augment():
    """The `AugmentConfig` chosen on the Augment page, or None when none was chosen."""
    from core.augment_config import AugmentConfig

    raw = active_augment_json()
    return AugmentConfig.from_json(raw) if raw else None


def set_active_augment(config_json: str) -> None:
    """Make these augmentation settings (JSON) the ones training uses, now and later."""
    st.session_state[ACTIVE_AUGMENT] = config_json
    _remember(augment=config_json)


# The augmentation's fields in a few words, for the sidebar's summary of a custom setting.
_AUGMENT_FIELD_WORDS = {
    "rotation_degrees": N_("rotation degrees"), "width_shift": N_("width shift"),
    "height_shift": N_("height shift"), "shear_degrees": N_("shear degrees"),
    "zoom": N_("zoom"), "horizontal_flip": N_("horizontal flip"),
    "vertical_flip": N_("vertical flip"), "fill_value": N_("fill value"),
    "brightness": N_("brightness"), "contrast": N_("contrast"),
}  # fmt: skip


def describe_augment(config) -> str:
    """A one-line summary of an `AugmentConfig` (or None): the preset's name or what is on."""
    from core.augment_config import preset_name

    if config is None:
        return _("the method's default (none chosen on the Augment page)")
    settings = config.to_dict()
    word = {field: _(text) for field, text in _AUGMENT_FIELD_WORDS.items()}
    on = [f"{word.get(k, k)} {v:g}" for k, v in settings.items() if type(v) is float and v]
    on += [word.get(k, k) for k, v in settings.items() if v is True]
    preset = preset_name(config)
    return _(preset) if preset else ", ".join(on) or _("none")


@st.cache_resource(show_spinner=False)
def _store(home: str):
    from core.store import RunStore

    return RunStore()


def run_store():
    """The run store of the current app home, one per home (tests switch homes)."""
    return _store(str(app_home()))


@st.cache_resource(show_spinner=False)
def _dataset(spec: str, home: str, language: str):
    """Listed once per language: its skip reasons are sentences in that language."""
    from core.datasets import resolve_dataset

    return resolve_dataset(spec)


def dataset(spec: str | None = None):
    """The resolved `Dataset` for a spec (default: the active one); raises `LabError`."""
    with st.spinner(_("Loading the dataset…")):  # shown only when listing takes a while
        return _dataset(spec or active_dataset(), str(app_home()), i18n.current_language())


def dataset_or_stop(spec: str | None = None):
    """The resolved `Dataset`; on a `LabError`, shows it in plain words and stops the page."""
    try:
        return dataset(spec)
    except LabError as exc:
        show_error(exc)
    except Exception as exc:  # noqa: BLE001 - shown as one line, logged in full
        show_unexpected(_("Opening the dataset {name}").format(name=spec), exc)
    st.stop()


def forget_dataset(spec: str | None = None) -> None:
    """Drop cached listings so that a re-imported or changed folder is listed afresh."""
    _dataset.clear()


def health(spec: str, home: str, fingerprint: str):
    """The `HealthReport` of a dataset, cached by content fingerprint (and language: its
    problems are sentences)."""
    with st.spinner(_("Checking the dataset…")):
        return _health(spec, home, fingerprint, i18n.current_language())


@st.cache_data(show_spinner=False, max_entries=8)
def _health(spec: str, home: str, fingerprint: str, language: str):
    from core.health import health_report

    return health_report(_dataset(spec, home, language))  # no spinner inside a cached call


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


# Core messages name the CLI's flags; on a page, the control that does the same.
# (Translated messages keep the flag as it is: the last entry catches them.)
_PAGE_WORDS = {
    "train without pretrained weights (--no-pretrained)": N_("tick 'Use random weights instead'"),
    "train with --no-pretrained": N_("tick 'Use random weights instead'"),
    "--no-pretrained": N_("'Use random weights instead'"),
}


def page_words(message: str) -> str:
    """A core message worded for the page: the tick box, not the command-line flag."""
    for cli, page in _PAGE_WORDS.items():
        message = message.replace(cli, _(page))
    return message


def show_error(exc: Exception) -> None:
    """Show a core error in plain words (its message is one sentence)."""
    st.error(page_words(str(exc)), icon="⚠️")


def show_unexpected(action: str, exc: Exception) -> None:
    """One line for an error core did not foresee; the traceback goes to the server log."""
    _log.error("%s failed", action, exc_info=exc)
    detail = (str(exc).strip().splitlines() or [""])[0][:200]
    what = f"{type(exc).__name__}{': ' + detail if detail else ''}"
    message = _("{action} failed unexpectedly ({error}); the details are in the server's log.")
    st.error(message.format(action=action, error=what), icon="⚠️")


@contextlib.contextmanager
def errors_shown(action: str):
    """Runs the `with` block; any error becomes one line on the page, never a traceback.

    Streamlit's own control flow (`st.stop`, `st.rerun`) derives from BaseException
    and passes through.
    """
    try:
        yield
    except LabError as exc:
        show_error(exc)
    except Exception as exc:  # noqa: BLE001 - shown as one line, logged in full
        show_unexpected(action, exc)


format_seconds = runs_view.format_seconds


@st.fragment(run_every=3)
def _sidebar_state() -> None:
    """Refreshed every few seconds, so a change made on a page shows up without a click."""
    from core.runner import worker_state

    spec = active_dataset()
    label = _("**Dataset:** {name}").format(name=dataset_label(spec))
    st.markdown(label, help=None if spec == DEMO else spec)
    if st.session_state.get(RESTORE_NOTE):
        st.warning(st.session_state[RESTORE_NOTE])
    st.markdown(_("**Augmentation:** {what}").format(what=describe_augment(active_augment())))
    state = worker_state(run_store())
    if state.running is not None:
        run = state.running
        epoch = runs_view.activity(state.phase, state.epoch, state.epochs)
        st.markdown(
            _("**Training:** {name} (#{id}), {activity}").format(
                name=run.name, id=run.id, activity=epoch
            )
        )
        if state.eta_seconds is not None:
            st.caption(_("ETA {time}").format(time=format_seconds(state.eta_seconds)))
    else:
        st.markdown(_("**Runner:** idle"))
    if state.queued:
        st.caption(
            ngettext("{n} run queued", "{n} runs queued", state.queued).format(n=state.queued)
        )


@st.cache_resource(show_spinner=False)
def _start_up(home: str) -> list[str]:
    from core.tempdirs import clean_app_home

    removed = [str(p) for p in clean_app_home()]
    if removed:
        _log.info("removed stale temporary folders: %s", ", ".join(removed))
    return removed


def start_up() -> None:
    """Once per server and app home: remove what killed imports left behind."""
    _start_up(str(app_home()))


def sidebar() -> None:
    """Active dataset, active augmentation and the runner's state, on every page."""
    with st.sidebar:
        _sidebar_state()
        language_picker()


def image_grid(items: list[tuple], columns: int = 6) -> None:
    """Images in rows of `columns`; items are `(uint8 array or None, caption)`."""
    for start in range(0, len(items), columns):
        row = items[start : start + columns]
        for col, (image, caption) in zip(st.columns(columns), row, strict=False):
            if image is None:
                col.caption(_("cannot be shown: {name}").format(name=caption))
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


def active_class_names() -> list[str] | None:
    """The active dataset's class names, or None when it cannot be listed."""
    try:
        return list(dataset().class_names)
    except LabError:
        return None


# --- Data page: build a dataset from pictures ----------------------------------
BUILD_SHOTS = "data_build_shots"  # class index -> [(file name, bytes)] webcam shots
BUILD_SKIPPED = "data_build_skipped"  # files the last build skipped, shown once


def _keep_shot(index: int) -> None:
    """A new webcam picture joins its class (the camera widget holds one at a time)."""
    shot = st.session_state.get(f"data_build_cam_{index}")
    if shot is not None:
        shots = st.session_state.setdefault(BUILD_SHOTS, {}).setdefault(index, [])
        shots.append((f"webcam_{index + 1}_{len(shots) + 1}.jpg", shot.getvalue()))


def build_dataset_form() -> str | None:
    """The Data page's "Build one here"; returns the new dataset's folder once created."""
    from core.builder import MIN_PER_CLASS, build_dataset
    from core.imaging import UPLOAD_TYPES

    for name, reason in st.session_state.pop(BUILD_SKIPPED, []):
        st.warning(_("Skipped {name}: {reason}").format(name=name, reason=reason))
    st.caption(
        _(
            "Name each class and drop its pictures in (at least {n} each, more is "
            "better); a fifth of every class is set aside at random for validation."
        ).format(n=MIN_PER_CLASS)
    )
    n_classes = st.number_input(_("Classes"), 2, 12, 2, key="data_build_n")
    camera = st.toggle(_("Add webcam pictures"), False, key="data_build_camera")
    columns = st.columns(min(int(n_classes), 3))
    names, pictures = [], {}
    for index in range(int(n_classes)):
        with columns[index % len(columns)].container(border=True):
            name = st.text_input(
                _("Class name"), f"class {index + 1}", key=f"data_build_class_{index}"
            )
            files = st.file_uploader(
                _("Pictures"), type=UPLOAD_TYPES,
                accept_multiple_files=True, key=f"data_build_files_{index}",
            )  # fmt: skip
            if camera:
                st.camera_input(
                    _("Webcam"), key=f"data_build_cam_{index}", on_change=_keep_shot, args=(index,)
                )
            items = list(files or []) + st.session_state.get(BUILD_SHOTS, {}).get(index, [])
            count = ngettext("**{n}** picture", "**{n}** pictures", len(items))
            st.caption(count.format(n=len(items)))
            names.append(name.strip())
            pictures[name.strip()] = items
    dataset_name = st.text_input(_("Dataset name"), "my_pictures", key="data_build_name")
    replace = st.checkbox(_("Replace a dataset of that name"), key="data_build_replace")
    if not st.button(_("Create"), key="data_build_create", type="primary"):
        return None
    if len(pictures) < len(names):
        st.error(_("Two classes have the same name; give each class its own name."))
        return None
    try:
        with st.spinner(_("Checking and writing the pictures…")):
            built = build_dataset(dataset_name, pictures, replace=replace)
    except LabError as exc:
        show_error(exc)
        return None
    st.session_state[BUILD_SKIPPED] = built.skipped
    st.session_state.pop(BUILD_SHOTS, None)
    return str(built.path)


# --- Train page ----------------------------------------------------------------
def backbone_picker(column, size: int, key: str) -> tuple[str, bool]:
    """The pretrained network's picker and whether its weights are at hand.

    Returns `(backbone name, weights present or downloadable)`; when they are not,
    a warning says what to do.
    """
    from core import backbones

    names = list(backbones.BACKBONES)
    backbone = column.selectbox(
        _("Pretrained network"), names, names.index(backbones.default_backbone(size)),
        format_func=lambda b: backbones.choice_label(b, size), key="train_backbone" + key,
    )  # fmt: skip
    remedy = _("tick 'Use random weights instead'")
    ok, where = backbones.weights_status(backbone, size, remedy=remedy)
    if ok:  # the file's path is in the tooltip: a long path would break mid-word
        native = backbones.BACKBONES[backbone].default_size
        if backbones.find_weights(backbone, size or native) is not None:
            column.caption(_("ImageNet weights: present"), help=where)
        else:
            column.caption(_("ImageNet weights: downloaded on first use"), help=where)
    else:
        column.warning(where)
    return backbone, ok


def image_size_input(column, method: str, backbone: str | None, key: str) -> int:
    """The image size: the method's default, for pretrained methods the backbone's native
    size (it follows the picked backbone) until the user sets another size."""
    from core.train_config import TrainConfig

    follow = TrainConfig.defaults(method, **({"backbone": backbone} if backbone else {}))
    size_key, auto_key = "train_size" + key, "_train_size_auto" + key
    state = st.session_state
    if size_key not in state or state[size_key] == state.get(auto_key):
        state[size_key] = follow.image_size
    state[auto_key] = follow.image_size
    native = (
        _("Default {size} px (the network's native size); the blog used 150 px.")
        if follow.uses_backbone
        else _("Default {size} px; the blog used 150 px.")
    )
    return column.number_input(
        _("Image size (px)"), 16, 512, step=8, key=size_key,
        help=native.format(size=follow.image_size),
    )  # fmt: skip


BLOG_WIDGETS = {  # Train page widget (without its method suffix) -> TrainConfig field
    "train_epochs": "epochs", "train_batch": "batch_size", "train_size": "image_size",
    "train_optimizer": "optimizer", "train_lr": "learning_rate", "train_dropout": "dropout",
}  # fmt: skip


def apply_blog_settings(method: str, key: str) -> None:
    """Sets the Train page's fields to the blog's settings for `method` (150 px, its
    epochs, optimizer, dropout) and its augmentation (the Augment page's choice is dropped)."""
    from core.train_config import TrainConfig

    blog = TrainConfig.blog(method)
    for widget, field in BLOG_WIDGETS.items():
        st.session_state[widget + key] = getattr(blog, field)
    if method == "scratch":
        st.session_state["train_l2"] = blog.l2
    st.session_state[ACTIVE_AUGMENT] = None  # training falls back to the blog's default
    _remember(augment=None)


def blog_settings_button(method: str, key: str) -> None:
    """One click to the blog's settings for its three methods, with what it sets."""
    from core.train_config import BLOG_IMAGE_SIZE, BLOG_METHODS

    if method not in BLOG_METHODS:
        return
    left, right = st.columns([1, 3], vertical_alignment="center")
    left.button(
        _("Blog settings ({size} px)").format(size=BLOG_IMAGE_SIZE), key="train_blog_settings",
        on_click=apply_blog_settings, args=(method, key),
        help=_("Epochs, batch size, image size, optimizer, learning rate, dropout and "
               "augmentation as in the blog post (drops the Augment page's choice)."),
    )  # fmt: skip
    if method == "scratch":
        right.caption(_("Defaults: the blog's settings at the blog's 150 px. The button sets "
                        "every field to the blog's values."))  # fmt: skip
    else:
        right.caption(_("Defaults: the blog's settings at the network's native size (224 px for "
                        "VGG16 and the MobileNets). The button sets every field to the blog's "
                        "values."))  # fmt: skip


def augment_copies_input(column, key_suffix: str) -> int:
    """K augmented copies per training image, run once through the frozen layers."""
    return column.number_input(
        _("Augmented copies per image"), 0, 10, 0, key="train_copies" + key_suffix,
        help=_(
            "The frozen layers see each training image once, plus K augmented copies "
            "of it; their outputs are cached, and every epoch trains on all of them "
            "(the blog's footnote). An image then costs a fraction of augmenting anew, "
            "but an epoch covers 1 + K times as many: choose fewer epochs. 0: bottleneck "
            "features are not augmented, and fine-tuning augments every epoch."
        ),
    )  # fmt: skip


def finetune_settings(col1, col2, col3, wanted, store, class_names: list[str]) -> dict:
    """Fine-tuning's own settings: the top model's run, blocks to unfreeze, BatchNorm."""
    from core.top_runs import compatible_top_runs

    tops = {r.id: r for r in compatible_top_runs(store.list_runs(), wanted, class_names)}
    top_run = col3.selectbox(
        _("Top model from run"), [*tops, None], key="train_top",
        format_func=lambda i: _("none: train one first (stage 1)") if i is None
        else runs_view.run_title(tops[i]),
        help=_("Finished bottleneck runs with this network, image size, weights and classes."),
    )  # fmt: skip
    unfreeze = col1.number_input(_("Blocks to unfreeze"), 1, 5, 1, key="train_unfreeze")
    return {
        "top_run": top_run,
        "unfreeze_blocks": unfreeze,
        "train_batchnorm": col2.checkbox(_("Train BatchNorm parameters"), key="train_bn"),
    }


def top_run_note(summary) -> None:
    """Fine-tuning: its top run's figure and how its weights were chosen, and a warning
    when it ended below that run (nothing for other runs)."""
    sentence = runs_view.top_run_sentence(summary)
    if sentence:
        st.caption(sentence + ".")
    below_top_run_warning(summary)


def below_top_run_warning(summary) -> None:
    """The warning of a fine-tuning run that ended below its top run (else nothing)."""
    warning = runs_view.below_top_run_warning(summary)
    if warning:
        st.warning(warning)


def augment_caption(config, chosen: bool) -> str:
    """What training will augment with, and where that came from."""
    if chosen:
        return _("Augmentation: {what} (chosen on the Augment page).").format(
            what=describe_augment(config)
        )
    return _("Augmentation: {what} (the blog's default for this method).").format(
        what=describe_augment(config)
    )


def epoch_estimate(config, store, num_classes: int, n_train: int, n_val: int) -> None:
    """The time per epoch: from a past run like this one, else measured on request."""
    from core import estimate

    guess = estimate.from_history(
        store.list_runs(), config.method, config.backbone, config.data, config.image_size
    )
    if guess is None and not measured(config):
        if st.button(_("Estimate time per epoch"), key="train_measure"):
            with st.spinner(_("Timing a few training steps…")):
                measure_epoch(config, num_classes, n_train, n_val)
    guess = guess or measured(config)
    if guess is not None:
        words = dict(epoch=format_seconds(guess.seconds_per_epoch), basis=guess.basis)
        if guess.once_seconds:
            line = _("≈ {epoch} per epoch + {once} once ({basis}).")
            words["once"] = format_seconds(guess.once_seconds)
        else:
            line = _("≈ {epoch} per epoch ({basis}).")
        st.caption(line.format(**words))


def blog_queue(spec: str, config, backbone: str | None, augment, n_train: int, store):
    """The blog's three experiments: their rough total time, a confirmation, then a button.

    Returns the queued run ids once the user confirmed and pressed the button, else None.
    """
    from core import estimate, runner
    from core.backbones import BACKBONES, default_backbone
    from core.lab_results import queue_seconds
    from core.train_config import BLOG_IMAGE_SIZE, BLOG_METHODS, TrainConfig

    size = BLOG_IMAGE_SIZE  # the blog's three experiments at the blog's size
    backbone = backbone or default_backbone(size)
    plan = [TrainConfig.blog(m, backbone=backbone) for m in BLOG_METHODS]
    records = store.list_runs()
    history = {}
    for c in plan:
        guess = estimate.from_history(records, c.method, backbone, spec, size)
        if guess is not None:
            history[c.method] = guess.seconds_per_epoch
    seconds, basis = queue_seconds(plan, n_train, history)
    if seconds is None:
        length = _("an unknown time")
    else:
        length = _("about {time}").format(time=format_seconds(seconds))
    st.markdown(
        _(
            "Scratch, then bottleneck features of {network}, then fine-tuning on that top, "
            "each for the blog's {epochs} epochs at the blog's {size} px: **{length}** of "
            "training ({basis}), one run after the other in the background."
        ).format(
            network=BACKBONES[backbone].label, epochs=plan[0].epochs, size=size,
            length=length, basis=basis,
        )
    )  # fmt: skip
    sure = st.checkbox(_("Yes, train for {length}").format(length=length), key="train_blog_confirm")
    if not st.button(_("Queue the three runs"), key="train_blog", disabled=not sure):
        return None
    return runner.queue_blog_experiments(
        spec, image_size=size, backbone=backbone,
        pretrained=config.pretrained, augment=augment, store=store,
    )  # fmt: skip


# --- Compare page ----------------------------------------------------------------
def paired_test(records: list, labels: dict, store) -> None:
    """ "Is one run really better?": McNemar's exact test on two runs' paired predictions."""
    from core import significance

    st.subheader(_("Is one run really better?"))
    paired = [r.id for r in runs_view.comparable_runs(records)]
    if len(paired) < 2:
        st.caption(
            _(
                "With two finished runs validated on the same images, a paired test says here "
                "whether one is really better or the gap could be chance."
            )
        )
        return
    b_col, a_col = st.columns(2)
    run_b = b_col.selectbox(_("Is run"), paired, 0, format_func=labels.get, key="compare_b")
    run_a = a_col.selectbox(
        _("better than run"), paired, 1, format_func=labels.get, key="compare_a"
    )
    if run_a == run_b:
        return
    try:
        result = significance.compare_runs(run_a, run_b, store=store)
    except LabError as exc:
        show_error(exc)
        return
    st.markdown(result.sentence())
    st.caption(
        _(
            "McNemar's exact test: only the images that one run gets right and the other wrong "
            "count; if the runs were equally good, each would go either way by chance."
        )
    )


def cv_section(records: list) -> None:
    """k-fold cross-validations: one row per group (mean ± sd over its folds), and the
    fold runs of a chosen group. Nothing when there is none."""
    groups = runs_view.cv_table(records)
    if groups.empty:
        return
    st.subheader(_("Cross-validation"))
    number = st.column_config.NumberColumn(format="%.3f", width=70)
    shown, column_config = runs_view.shown_table(
        groups.drop(columns="cv_group"), {"mean acc": number, "sd": number}
    )
    st.dataframe(shown, hide_index=True, column_config=column_config)
    labels = dict(zip(groups["cv_group"], groups["group"], strict=True))
    group = st.selectbox(
        _("Show the folds of"), list(labels), format_func=labels.get, key="compare_cv_group"
    )
    folds = [r for r in records if r.config.cv_group == group]
    table = runs_view.runs_table(sorted(folds, key=lambda r: r.config.fold))
    fold_config = {"val acc": number, "train s": st.column_config.NumberColumn(format="%.0f")}
    table, fold_config = runs_view.shown_table(table[runs_view.SHOWN_COLUMNS], fold_config)
    st.dataframe(table, hide_index=True, column_config=fold_config)


def holdout_table(table, store):
    """The runs table with the chosen hold-out set's figures, the columns to show, their config.

    Returns `(table, columns, column_config)`; without stored evaluations, the table as is.
    """
    from core import holdout

    _run_holdout_request(store)
    evaluations = [e for e in store.evaluations() if e.run_id in set(table["id"])]
    sets = holdout.holdout_sets(evaluations)
    if not sets:
        return table, runs_view.SHOWN_COLUMNS, {}
    chosen = sets[0]
    if len(sets) > 1:
        chosen = st.selectbox(
            _("Hold-out set"), sets, format_func=runs_view.spec_label, key="compare_holdout_set"
        )
    latest = holdout.latest_by_run(evaluations, chosen)
    table = runs_view.with_holdout(table, latest)
    where = runs_view.SHOWN_COLUMNS.index("n") + 1
    columns = [*runs_view.SHOWN_COLUMNS[:where], runs_view.HOLDOUT_SHOWN,
               *runs_view.SHOWN_COLUMNS[where:]]  # fmt: skip
    sizes = sorted({e.n for e in latest.values()})
    name = runs_view.spec_label(chosen)
    name = name if chosen.lower() == DEMO else f"{name} ({chosen})"
    about = _(
        "Accuracy (95% interval) on {name}, n = {sizes} images, each run's latest evaluation"
    ).format(name=name, sizes=", ".join(map(str, sizes)))
    config = {runs_view.HOLDOUT_SHOWN: st.column_config.TextColumn(width=125, help=about)}
    st.caption(_("Hold-out column: {about}.").format(about=about))
    return table, columns, config


# Test-time augmentation modes (`core.predict.TTA_MODES`) in words.
TTA_WORDS = {"none": N_("none"), "flip": N_("flip"), "crops": N_("crops")}


def holdout_form(records: list, labels: dict) -> None:
    """The form to evaluate chosen runs on another labelled folder.

    Its button only records the request: `holdout_table` runs it at the top of the
    next run, with its progress there, so the table is drawn with the new figures.
    """
    from core import dataroots
    from core.predict import TTA_MODES, USABLE_STATUSES

    usable = [r.id for r in records if r.status in USABLE_STATUSES]
    with st.expander(_("Evaluate on a hold-out folder")):
        st.caption(
            _(
                "Score runs on labelled images they never saw: a folder of class sub-folders "
                "(every image) or a train/validation layout (its test split, else validation). "
                "Its classes must be the runs' classes."
            )
        )
        known = [DEMO, *(str(p) for p in dataroots.local_datasets())]
        st.selectbox(
            _("Labelled folder"), known, format_func=runs_view.spec_label,
            key="compare_holdout_known",
        )  # fmt: skip
        st.text_input(_("…or type a path"), key="compare_holdout_path")
        chosen = st.multiselect(
            _("Runs"), usable, default=usable, format_func=labels.get,
            placeholder=_("Choose options"), key="compare_holdout_runs",
        )  # fmt: skip
        st.radio(
            _("Test-time augmentation"), TTA_MODES, horizontal=True, key="compare_holdout_tta",
            format_func=lambda mode: _(TTA_WORDS.get(mode, mode)),
            help=_("flip averages each image with its mirror image; crops adds four corner crops."),
        )  # fmt: skip
        st.button(
            _("Evaluate"), key="compare_holdout_go", disabled=not chosen, on_click=_request_holdout
        )


def _request_holdout() -> None:
    """The Evaluate button's callback: what to evaluate, from the form's widgets."""
    state = st.session_state
    typed = (state.get("compare_holdout_path") or "").strip()
    state["compare_holdout_request"] = {
        "data": typed or state.get("compare_holdout_known") or DEMO,
        "typed": bool(typed),
        "runs": list(state.get("compare_holdout_runs") or []),
        "tta": state.get("compare_holdout_tta") or "none",
    }


def _run_holdout_request(store) -> None:
    """Evaluate what the form asked for, with a progress bar; each problem in one line."""
    from core import dataroots, holdout

    request = st.session_state.pop("compare_holdout_request", None)
    if not request:
        return
    with errors_shown(_("The evaluation")):
        data = request["data"]
        if request["typed"]:  # a typed path may only open the allowed folders
            data = str(dataroots.check_allowed(data))
        bar = st.progress(0.0)
        for done, run_id in enumerate(request["runs"]):
            text = _("Evaluating run #{run} ({done} of {total}) on {data}…").format(
                run=run_id, done=done + 1, total=len(request["runs"]), data=data
            )
            bar.progress(done / len(request["runs"]), text=text)
            try:
                holdout.evaluate_and_store(run_id, data, tta=request["tta"], store=store)
            except LabError as exc:  # one run's problem; the others are still scored
                show_error(exc)
        bar.empty()


def calibration_section(run_id: int, store) -> None:
    """The reliability diagram, its expected calibration error, and a temperature on request."""
    import charts
    from core import calibration

    result = calibration.run_calibration(run_id, store)
    temperature = calibration.load_temperature(store.run_dir(run_id))
    title = _("Can its confidence be trusted? Expected calibration error {ece}").format(
        ece=f"{result.ece:.3f}"
    )
    with st.expander(title):
        st.altair_chart(charts.reliability_diagram(runs_view.reliability_frame(result)))
        st.caption(
            _(
                "Each dot is a group of validation images of about the same confidence; a model "
                "whose confidence can be trusted keeps its dots on the dashed diagonal."
            )
        )
        if temperature is not None:
            st.markdown(
                _("Predictions use a fitted temperature of **{temperature}**.").format(
                    temperature=f"{temperature:.2f}"
                )
            )
            return
        help_text = _("Rescales the probabilities; the predicted classes stay the same.")
        if st.button(_("Fit a temperature"), key="compare_calibrate", help=help_text):
            fit = calibration.calibrate_run(run_id, store)
            st.success(
                _(
                    "Temperature {temperature}: expected calibration error {before} → {after}. "
                    "Predict uses it from now on."
                ).format(
                    temperature=f"{fit.temperature:.2f}",
                    before=f"{fit.ece_before:.3f}",
                    after=f"{fit.ece_after:.3f}",
                )  # fmt: skip
            )


def mistakes_section(run_id: int, report, predictions: Path) -> None:
    """The confusion matrix and the images behind the cell clicked (or picked) below it.

    Args:
        report: the run's `EvalReport`; predictions: its predictions CSV (may be missing).
    """
    import charts
    from core.metrics import confusion_cell, read_predictions_csv

    cells = runs_view.confusion_frame(report)
    options = list(zip(cells["true"], cells["predicted"], strict=True))
    counts = dict(zip(options, cells["count"], strict=True))

    def _pick_cell():  # A click on the heatmap sets the cell picker below.
        points = st.session_state[f"compare_cm_{run_id}"].selection.get("cell") or []
        if points:
            st.session_state[f"compare_cell_{run_id}"] = (points[0]["true"], points[0]["predicted"])

    st.altair_chart(
        charts.confusion_heatmap(cells), on_select=_pick_cell, key=f"compare_cm_{run_id}",
        selection_mode="cell",
    )  # fmt: skip
    wrong = [o for o in options if o[0] != o[1] and counts[o]]
    cell = st.selectbox(
        _("Images behind a cell (click the matrix or pick here)"), options,
        index=options.index(max(wrong, key=counts.get)) if wrong else 0,
        format_func=lambda o: _("true {true} → predicted {predicted} ({count})").format(
            true=o[0], predicted=o[1], count=counts[o]
        ),
        key=f"compare_cell_{run_id}",
    )  # fmt: skip
    rows = confusion_cell(read_predictions_csv(predictions), *cell) if predictions.is_file() else []
    shown = [(r["path"], r["predicted"], r["probabilities"][r["predicted"]]) for r in rows[:24]]
    image_grid(
        [(thumbnail(path), f"{pred} {p:.2f} · {Path(path).name}") for path, pred, p in shown]
    )
    if len(rows) > 24:
        st.caption(_("…and {n} more.").format(n=len(rows) - 24))


def more_train_options(defaults, k: str) -> tuple[dict, int]:
    """The Train page's "More options": settings most runs leave alone.

    Returns the config fields they set and the number of k-fold folds (1: one run).
    """
    from core.train_config import PRECISIONS

    values = {}
    with st.expander(_("More options")):
        values["seed"] = st.number_input(_("Seed"), 0, 2**31 - 1, defaults.seed, key="train_seed")
        best, why = _("Keep the best epoch's weights"), _("The best by validation accuracy.")
        values["checkpoint_best"] = st.checkbox(
            best, defaults.checkpoint_best, help=why, key="train_best" + k
        )
        patience = st.number_input(
            _("Early stopping patience (0: off)"), 0, 100, 0, key="train_patience"
        )
        values["early_stopping_patience"] = patience or None
        values["name"] = st.text_input(_("Run name (optional)"), key="train_name") or None
        folds = st.number_input(
            _("k-fold cross-validation: folds (1: off)"), 1, 20, 1, key="train_folds",
            help=_("One run per fold of training + validation pooled (fine-tuning folds train "
                   "their own top model); Compare shows the mean ± sd over the folds."),
        )  # fmt: skip
        values["precision"] = st.selectbox(
            _("Precision"), PRECISIONS, help=_(PRECISION_HELP), key="train_precision"
        )
        values["deterministic"] = st.checkbox(
            _("Reproducible: the same seed gives the same run"), True, key="train_repeatable",
            help=_("Off: faster, and a bottleneck run's top model compiles with XLA (about "
                   "3x faster epochs for the Flatten head at 224 px on a CPU), but two runs "
                   "with the same seed no longer match exactly."),
        )  # fmt: skip
    return values, folds
