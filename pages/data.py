"""Data: choose the dataset, then see its health report and samples of each class."""

import pandas as pd
import streamlit as st

import charts
import labui
from core import dataroots, runs_view
from core.paths import app_home

st.title("Data")
SOURCES = [
    "Demo (synthetic)", "A folder", "Upload a zip", "Download Cats vs Dogs", "Build one here"
]  # fmt: skip
active = labui.active_dataset()  # the radio opens on it: any other set is a folder now
source = st.radio(
    "Where are your images?", SOURCES, index=0 if active == labui.DEMO else 1, horizontal=True,
    key="data_source",
)  # fmt: skip
chosen = None  # the dataset spec to activate, when a button says so

if source == SOURCES[0]:
    st.caption(
        "Procedurally drawn shapes on noisy backgrounds: small, fast to learn, clearly synthetic."
    )
    if st.button("Use the demo dataset", key="data_use_demo"):
        chosen = labui.DEMO
elif source == SOURCES[1]:
    roots = ", ".join(str(r) for r in dataroots.allowed_roots())
    st.caption(
        "A folder with `train/` and `validation/` (each holding one sub-folder per class), "
        f"or a folder of class sub-folders. Allowed places: {roots}; the server's owner can "
        f"add more with the environment variable `{dataroots.ALLOWED_DIRS_ENV}`."
    )
    found = [str(p) for p in dataroots.local_datasets()]
    here = found.index(active) if active in found else None
    picked = st.selectbox("Folders found", found, index=here, key="data_found")
    typed = st.text_input("…or type a path", key="data_path")
    if st.button("Use this folder", key="data_use_folder", disabled=not (typed or picked)):
        with labui.errors_shown("Opening the folder"):
            chosen = str(dataroots.check_allowed(typed or picked))
elif source == SOURCES[2]:
    from core.zipimport import free_name, import_zip

    upload = st.file_uploader("A zip of your dataset", type=["zip"], key="data_zip")
    name = st.text_input("Name it", value=free_name("my_dataset"), key="data_zip_name")
    if st.button("Import", key="data_import", disabled=upload is None):
        with labui.errors_shown("Importing the zip"), st.spinner("Extracting…"):
            chosen = str(import_zip(upload, name))
elif source == SOURCES[4]:
    chosen = labui.build_dataset_form()
else:
    st.caption("The 2,000 training / 1,000 validation photos of TensorFlow's tutorials (68 MB).")
    if st.button("Download", key="data_download"):
        from core.download import download_cats_vs_dogs

        bar = st.progress(0.0, text="Downloading…")

        def _show(done: int, total: int) -> None:
            mb = f"{done / 2**20:.0f} MB" + (f" of {total / 2**20:.0f} MB" if total else "")
            bar.progress(min(1.0, done / total) if total else 0.0, text=f"Downloading… {mb}")

        with labui.errors_shown("The download"):
            chosen = str(download_cats_vs_dogs(progress=_show))

if chosen is not None:
    labui.set_active_dataset(chosen)  # remembered in the app home: reloads keep it
    labui.forget_dataset(chosen)
    st.rerun()  # the sidebar shows the new choice

spec = labui.active_dataset()
ds = labui.dataset_or_stop(spec)

report = labui.health(spec, str(app_home()), ds.fingerprint())
st.divider()
st.subheader(ds.display_name)
kind = "binary" if ds.is_binary else "multi-class"
formats = ", ".join(f"{k} {v}" for k, v in report.formats.items())
st.caption(f"{ds.root} · {ds.num_classes} classes ({kind}) · formats: {formats}")
counts = runs_view.class_counts_frame(report)
left, right = st.columns(2)
left.dataframe(counts.pivot(index="class", columns="split", values="images"))
right.altair_chart(charts.class_counts(counts), key="data_counts_chart")

for problem in report.problems:
    (st.error if problem in report.blocking else st.warning)(problem)
if not report.problems:
    st.success("No problems found: every image decodes, no leakage, balanced classes.")
if report.undecodable or report.leaks or report.ignored:
    with st.expander("The files behind these problems"):
        for path, reason in report.undecodable + report.ignored:
            st.text(f"{path}: {reason}")
        if report.leaks:
            st.dataframe(pd.DataFrame(report.leaks), hide_index=True)

if report.sizes:
    sizes_text, sizes_chart = st.columns(2)
    sizes_text.markdown(
        f"**Image sizes**: width {report.sizes.width.text(' px')}, height "
        f"{report.sizes.height.text(' px')}. Every image is resized "
        "to the training size, so very different sizes and shapes change what the model sees."
    )
    sides = runs_view.longer_side_frame(report.sizes)
    sizes_chart.altair_chart(charts.longer_sides(sides), key="data_sizes_chart")

st.markdown("**Samples**")
for name in ds.class_names:
    paths = [s.path for s in ds.class_samples("train", name)][:6]
    st.caption(name)
    labui.image_grid([(labui.thumbnail(p), "") for p in paths])
