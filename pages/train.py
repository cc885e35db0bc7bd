"""Train: pick a method, its backbone and settings; start runs and watch them learn, live."""

import dataclasses

import streamlit as st

import charts
import labui
from core import runner, runs_view
from core.errors import LabError
from core.i18n import _
from core.train_config import METHODS, OPTIMIZERS, TrainConfig

st.title(_("Train"))
store = labui.run_store()
spec = labui.active_dataset()
ds = labui.dataset_or_stop(spec)
n_train, n_val = len(ds.splits["train"]), len(ds.splits["validation"])
st.markdown(
    _(
        "Training on **{name}**: {n_train} training / {n_val} validation images, "
        "classes {classes} (change it on the Data page)."
    ).format(
        name=labui.dataset_label(spec), n_train=n_train, n_val=n_val,
        classes=", ".join(ds.class_names),
    )
)  # fmt: skip

method = st.radio(
    _("Method"), METHODS, format_func=lambda m: labui.method_words(m)[0], horizontal=True,
    key="train_method",
)  # fmt: skip
st.caption(labui.method_words(method)[1])
defaults = TrainConfig.defaults(method)
k = f"_{method}"  # per-method keys: switching method brings back that method's defaults
values, ok, random_weights = {}, True, False
labui.blog_settings_button(method, k)

col1, col2, col3 = st.columns(3)
values["epochs"] = col1.number_input(_("Epochs"), 1, 500, defaults.epochs, key="train_epochs" + k)
values["batch_size"] = col1.number_input(
    _("Batch size"), 1, 512, defaults.batch_size, key="train_batch" + k
)
values["optimizer"] = col2.selectbox(
    _("Optimizer"), OPTIMIZERS, OPTIMIZERS.index(defaults.optimizer), key="train_optimizer" + k
)
values["learning_rate"] = col2.number_input(
    _("Learning rate"), 1e-6, 1.0, defaults.learning_rate, format="%.0e", step=1e-5,
    key="train_lr" + k,
)  # fmt: skip
values["dropout"] = col2.slider(
    _("Dropout"), 0.0, 0.9, defaults.dropout, 0.05, key="train_dropout" + k
)
if method == "scratch":
    values["l2"] = col3.number_input(
        _("L2 weight decay"), 0.0, 1.0, defaults.l2, format="%.4f", key="train_l2"
    )
elif defaults.uses_backbone:  # picked first: the image size follows its native size
    values["backbone"], ok = labui.backbone_picker(col3, st.session_state.get("train_size" + k), k)
    random_weights = col3.checkbox(_("Use random weights instead"), key="train_random" + k)
    values["pretrained"] = not random_weights
values["image_size"] = labui.image_size_input(col1, method, values.get("backbone"), k)
if method == "bottleneck":  # columns 1 and 2 are shorter: the network's column is full
    values["head"] = col2.radio(
        _("Top model"), ["flatten", "gap"], horizontal=True, key="train_head"
    )
if defaults.uses_backbone:
    values["augment_copies"] = labui.augment_copies_input(col1, k)
if method == "finetune":
    wanted = dataclasses.replace(defaults, **values)
    values.update(labui.finetune_settings(col1, col2, col3, wanted, store, ds.class_names))
more, folds = labui.more_train_options(defaults, k)
values.update(more)

augment = labui.active_augment()
values["augment"] = augment if augment is not None else defaults.augment
st.caption(labui.augment_caption(values["augment"], chosen=augment is not None))
config = dataclasses.replace(defaults, data=spec, **values)
if config.uses_backbone and not (ok or random_weights):
    st.info(_("Pick a network whose weights are present, or tick 'Use random weights instead'."))
    st.stop()

labui.epoch_estimate(config, store, ds.num_classes, n_train, n_val)

start, stop_slot = st.columns([1, 4])
if start.button(_("Start"), type="primary", key="train_start"):
    try:
        st.session_state[labui.WATCH_RUN] = runner.queue_cv(config, folds, store)[0]
    except LabError as exc:
        labui.show_error(exc)
with st.expander(_("Queue the blog's three experiments")):
    blog = labui.blog_queue(spec, config, values.get("backbone"), augment, n_train, store)
    if blog is not None:
        st.session_state[labui.WATCH_RUN] = blog[0]


def _watched():
    return runs_view.watched_run(store.list_runs(), st.session_state.get(labui.WATCH_RUN))


record = _watched()
drawn_active = record is not None and record.is_active


@st.fragment(run_every=2 if drawn_active else None)
def stop_control() -> None:
    """Stop while a run is active; when it ends, the page redraws without the button."""
    run = _watched()
    if run is None or not run.is_active:
        if drawn_active:
            st.rerun()
        return
    if st.button(_("Stop run #{id}").format(id=run.id), key="train_stop"):
        runner.stop(run.id, store)


with stop_slot:
    stop_control()


@st.fragment(run_every=2 if record is not None and record.is_active else None)
def monitor() -> None:
    run = _watched()
    if run is None:
        st.info(_("No runs yet: press Start."))
        return
    st.subheader(f"{runs_view.run_title(run)} — {runs_view.status_text(run.status)}")
    prog, eta = runs_view.run_progress(run, store)
    phase = store.phase(run.id) if run.status == "running" else None
    if run.status == "queued":
        st.caption(_("Waiting for the background worker…"))
    elif run.status == "running" and phase is None and prog is None:
        st.caption(_("Starting…"))
    if phase is not None and phase.name != "train":  # decoding, features, evaluation…
        st.container(key="train_phase").progress(phase.fraction, text=runs_view.phase_text(phase))
    if prog is not None:
        st.progress(prog.fraction, text=prog.text(eta if run.status == "running" else None))
    if run.error:
        st.error(f"{runs_view.status_text(run.status).capitalize()}: {labui.page_words(run.error)}")
    if run.status == "finished" and runs_view.result_line(run.summary):
        st.success(
            _("{result} See it on the Compare page.").format(
                result=runs_view.result_line(run.summary)
            )
        )
        labui.below_top_run_warning(run.summary)
    epochs = runs_view.epoch_frame(store.epochs(run.id))
    if not epochs.empty:
        st.container(key="train_epoch_curves").altair_chart(charts.epoch_curves(epochs))
    if prog is not None:
        st.caption(
            _("Within epoch {epoch}: running loss and accuracy per batch").format(epoch=prog.epoch)
        )
        batches = runs_view.batch_frame(store.batches(run.id, epoch=prog.epoch))
        st.container(key="train_batch_curves").altair_chart(charts.batch_curves(batches))


monitor()
