"""Predict: class probabilities of one or more trained models, and where the model looked."""

import streamlit as st

import charts
import labui
from core import runs_view
from core.errors import LabError
from core.explain import explain_image
from core.i18n import N_, _
from core.imaging import UPLOAD_TYPES
from core.predict import USABLE_STATUSES, predict_images, run_input

# How a run fits images to its input size (`core.imaging.RESIZE_MODES`), in words.
RESIZE_WORDS = {"stretch": N_("stretch"), "crop": N_("crop"), "pad": N_("pad")}

st.title(_("Predict"))
store = labui.run_store()
runs = {r.id: r for r in store.list_runs() if r.status in USABLE_STATUSES}
if not runs:
    st.info(_("No finished run yet: train one on the **Train** page first."))
    st.stop()

labels = {i: runs_view.run_label(r) for i, r in runs.items()}
try:
    ds = labui.dataset()
except LabError:
    ds = None
class_names = list(ds.class_names) if ds else None
best = runs_view.best_finished_run(list(runs.values()), class_names)
chosen = st.multiselect(
    _("Models (finished runs; stopped ones are marked)"), list(runs),
    default=[best.id] if best else [], format_func=labels.get, key="predict_runs",
    placeholder=_("Choose options"),
)  # fmt: skip
for run_id in chosen:
    warning = runs_view.class_warning(runs[run_id], class_names, ds.name if ds else "")
    if warning:
        st.warning(warning)
uploads = st.file_uploader(
    _("Images (JPEG, PNG, WebP, BMP, GIF)"), type=UPLOAD_TYPES,
    accept_multiple_files=True, key="predict_upload",
)  # fmt: skip
images = list(uploads or [])
sample_class = None
if ds is not None:
    sample_class = st.selectbox(
        _("…or pick a validation image of the active dataset, of class"), ds.class_names,
        index=None, placeholder=_("Choose an option"), key="predict_class",
    )  # fmt: skip
if sample_class is not None:
    paths = [s.path for s in ds.class_samples("validation", sample_class)]
    which = st.number_input(_("Which one"), 1, len(paths), 1, key="predict_which")
    images.append(paths[which - 1])

if not chosen or not images:
    st.info(_("Choose at least one model and upload (or pick) an image."))
    st.stop()

results = {}
for run_id in chosen:
    try:
        results[run_id] = predict_images(run_id, images, store)
    except LabError as exc:
        labui.show_error(exc)  # e.g. the model file is gone: the other runs still answer
if not results:
    st.stop()
frame = runs_view.prediction_frame({labels[i]: p for i, p in results.items()})
gradcam_run = next(iter(results))
show_gradcam = st.toggle(
    _("Show where run #{run} looked (Grad-CAM)").format(run=gradcam_run),
    True,
    key="predict_gradcam",
)
size, mode = run_input(runs[gradcam_run])


def _show_image(image, index: int, left, middle) -> None:
    """The input; with Grad-CAM, the picture exactly as the model saw it and the heat map on it."""
    left = left.container(key=f"predict_input_{index}")
    middle = middle.container(key=f"predict_gradcam_{index}")
    if not show_gradcam:
        left.image(labui.picture(image), caption=_("input"), width=200)
        return
    try:
        cam = explain_image(gradcam_run, image, store=store)
    except LabError as exc:
        left.image(labui.picture(image), caption=_("input"), width=200)
        middle.warning(str(exc))
        return
    seen = _("as run #{run} saw it ({mode}, {size} px)").format(
        run=gradcam_run, mode=_(RESIZE_WORDS.get(mode, mode)), size=size
    )
    left.image(cam.image, caption=seen, width=200)
    middle.image(
        cam.overlay, caption=_("where it saw {name}").format(name=cam.class_name), width=200
    )


for index, image in enumerate(images):
    first = next(iter(results.values()))[index]
    st.subheader(first.source.rsplit("/", 1)[-1])
    if not first.ok:
        st.error(first.error)
        continue
    left, middle, right = st.columns([1, 1, 2])
    _show_image(image, index, left, middle)
    answers = right.container(key=f"predict_probabilities_{index}")
    for run_id, predictions in results.items():
        answers.metric(labels[run_id], runs_view.headline(predictions[index]))
        rows = frame[(frame["image"] == index) & (frame["run"] == labels[run_id])]
        answers.altair_chart(charts.probability_bars(rows))
