"""Predict: class probabilities of one or more trained models, and where the model looked."""

import streamlit as st

import charts
import labui
from core import runs_view
from core.errors import LabError
from core.explain import explain_image
from core.predict import USABLE_STATUSES, predict_images

st.title("Predict")
store = labui.run_store()
runs = {r.id: r for r in store.list_runs() if r.status in USABLE_STATUSES}
if not runs:
    st.info("No finished run yet: train one on the **Train** page first.")
    st.stop()

chosen = st.multiselect(
    "Models (finished runs)", list(runs), default=list(runs)[:1],
    format_func=lambda i: f"#{i} {runs[i].name}", key="predict_runs",
)  # fmt: skip
uploads = st.file_uploader(
    "Images (JPEG, PNG, WebP, BMP, GIF)", type=["jpg", "jpeg", "png", "webp", "bmp", "gif"],
    accept_multiple_files=True, key="predict_upload",
)  # fmt: skip
images = list(uploads or [])
try:
    ds = labui.dataset()
    sample_class = st.selectbox(
        "…or pick a validation image of the active dataset, of class", ds.class_names,
        index=None, key="predict_class",
    )  # fmt: skip
except LabError:
    ds, sample_class = None, None
if sample_class is not None:
    paths = [
        s.path for s in ds.splits["validation"] if s.label == ds.class_names.index(sample_class)
    ]
    which = st.number_input("Which one", 1, len(paths), 1, key="predict_which")
    images.append(paths[which - 1])

if not chosen or not images:
    st.info("Choose at least one model and upload (or pick) an image.")
    st.stop()

results = {}
for run_id in chosen:
    try:
        results[f"#{run_id} {runs[run_id].name}"] = predict_images(run_id, images, store)
    except LabError as exc:
        labui.show_error(exc)  # e.g. the model file is gone: the other runs still answer
if not results:
    st.stop()
frame = runs_view.prediction_frame(results)
gradcam_run = chosen[0]
show_gradcam = st.toggle(
    f"Show where run #{gradcam_run} looked (Grad-CAM)", True, key="predict_gradcam"
)

for index, image in enumerate(images):
    first = next(iter(results.values()))[index]
    st.subheader(first.source.rsplit("/", 1)[-1])
    if not first.ok:
        st.error(first.error)
        continue
    left, middle, right = st.columns([1, 1, 2])
    left.image(labui.picture(image), caption="input", width=200)
    if show_gradcam:
        try:
            cam = explain_image(gradcam_run, image, store=store)
            middle.image(cam.overlay, caption=f"{cam.class_name} {cam.probability:.2f}", width=200)
        except LabError as exc:
            middle.warning(str(exc))
    probabilities = charts.probability_bars(frame[frame["image"] == index])
    right.container(key=f"predict_probabilities_{index}").altair_chart(probabilities)
