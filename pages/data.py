"""Data: choose the dataset, then see its health report and samples of each class."""

import pandas as pd
import streamlit as st

import charts
import labui
from core import dataroots, runs_view
from core.datasets import split_word
from core.i18n import N_, _
from core.paths import app_home

st.title(_("Data"))
SOURCES = [
    N_("Demo (synthetic)"), N_("A folder"), N_("Upload a zip"), N_("Download Cats vs Dogs"),
    N_("Build one here"),
]  # fmt: skip
active = labui.active_dataset()  # the radio opens on it: any other set is a folder now
source = st.radio(
    _("Where are your images?"), SOURCES, index=0 if active == labui.DEMO else 1,
    horizontal=True, format_func=_, key="data_source",
)  # fmt: skip
chosen = None  # the dataset spec to activate, when a button says so

if source == SOURCES[0]:
    st.caption(
        _(
            "Procedurally drawn shapes on noisy backgrounds: small, fast to learn, "
            "clearly synthetic."
        )
    )
    if st.button(_("Use the demo dataset"), key="data_use_demo"):
        chosen = labui.DEMO
elif source == SOURCES[1]:
    roots = ", ".join(str(r) for r in dataroots.allowed_roots())
    st.caption(
        _(
            "A folder with `train/` and `validation/` (each holding one sub-folder per class), "
            "or a folder of class sub-folders. Allowed places: {roots}; the server's owner can "
            "add more with the environment variable `{variable}`."
        ).format(roots=roots, variable=dataroots.ALLOWED_DIRS_ENV)
    )
    found = [str(p) for p in dataroots.local_datasets()]
    here = found.index(active) if active in found else None
    picked = st.selectbox(_("Folders found"), found, index=here, key="data_found")
    typed = st.text_input(_("…or type a path"), key="data_path")
    if st.button(_("Use this folder"), key="data_use_folder", disabled=not (typed or picked)):
        with labui.errors_shown(_("Opening the folder")):
            chosen = str(dataroots.check_allowed(typed or picked))
elif source == SOURCES[2]:
    from core.zipimport import free_name, import_zip

    upload = st.file_uploader(_("A zip of your dataset"), type=["zip"], key="data_zip")
    name = st.text_input(_("Name it"), value=free_name("my_dataset"), key="data_zip_name")
    if st.button(_("Import"), key="data_import", disabled=upload is None):
        with labui.errors_shown(_("Importing the zip")), st.spinner(_("Extracting…")):
            chosen = str(import_zip(upload, name))
elif source == SOURCES[4]:
    chosen = labui.build_dataset_form()
else:
    st.caption(_("The 2,000 training / 1,000 validation photos of TensorFlow's tutorials (68 MB)."))
    if st.button(_("Download"), key="data_download"):
        from core.download import download_cats_vs_dogs

        bar = st.progress(0.0, text=_("Downloading…"))

        def _show(done: int, total: int) -> None:
            done_mb, total_mb = f"{done / 2**20:.0f}", f"{total / 2**20:.0f}"
            mb = _("{done} MB of {total} MB") if total else _("{done} MB")
            text = _("Downloading… {size}").format(size=mb.format(done=done_mb, total=total_mb))
            bar.progress(min(1.0, done / total) if total else 0.0, text=text)

        with labui.errors_shown(_("The download")):
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
kind = _("binary") if ds.is_binary else _("multi-class")
formats = ", ".join(f"{k} {v}" for k, v in report.formats.items())
st.caption(
    _("{root} · {n} classes ({kind}) · formats: {formats}").format(
        root=ds.root, n=ds.num_classes, kind=kind, formats=formats
    )
)
counts = runs_view.class_counts_frame(report)
table = counts.pivot(index="class", columns="split", values="images")
table = table.rename(columns=split_word).rename_axis(index=_("class"), columns=_("split"))
left, right = st.columns(2)
left.dataframe(table)
right.altair_chart(charts.class_counts(counts), key="data_counts_chart")

for problem in report.problems:
    (st.error if problem in report.blocking else st.warning)(problem)
if not report.problems:
    st.success(_("No problems found: every image decodes, no leakage, balanced classes."))
if report.undecodable or report.leaks or report.ignored:
    with st.expander(_("The files behind these problems")):
        for path, reason in report.undecodable + report.ignored:
            st.text(f"{path}: {reason}")
        if report.leaks:
            leaks = pd.DataFrame(report.leaks).assign(split=lambda f: f["split"].map(split_word))
            words = {"train": _("training file"), "other": _("near-copy"), "split": _("split"),
                     "distance": _("differing bits")}  # fmt: skip
            st.dataframe(leaks.rename(columns=words), hide_index=True)

if report.sizes:
    PX = " px"  # the unit, the same in both languages
    sizes_text, sizes_chart = st.columns(2)
    sizes_text.markdown(
        _(
            "**Image sizes**: width {width}, height {height}. Every image is resized to the "
            "training size, so very different sizes and shapes change what the model sees."
        ).format(width=report.sizes.width.text(PX), height=report.sizes.height.text(PX))
    )
    sides = runs_view.longer_side_frame(report.sizes)
    sizes_chart.altair_chart(charts.longer_sides(sides), key="data_sizes_chart")

st.markdown(_("**Samples**"))
for name in ds.class_names:
    paths = [s.path for s in ds.class_samples("train", name)][:6]
    st.caption(name)
    labui.image_grid([(labui.thumbnail(p), "") for p in paths])
