"""Compare runs: the table, overlaid curves, one run's confusion matrix and its mistakes."""

import pandas as pd
import streamlit as st

import charts
import labui
from core import export, runs_view
from core.errors import LabError, RunError
from core.eval_report import load_report

st.title("Compare runs")
store = labui.run_store()
records = store.list_runs()
if not records:
    st.info("No runs yet: start one on the **Train** page.")
    st.stop()

names = sorted({runs_view.dataset_label(r) for r in records})
ALL = "all datasets"
shown = st.selectbox("Dataset", [ALL, *names], key="compare_dataset")
records = [r for r in records if shown == ALL or runs_view.dataset_label(r) == shown]

table, columns, holdout_config = labui.holdout_table(runs_view.runs_table(records), store)
st.dataframe(
    table[columns],
    hide_index=True,
    column_config={
        "id": st.column_config.NumberColumn(width=40),
        "status": st.column_config.TextColumn(width=80),
        "size": st.column_config.NumberColumn(width=50),
        "epochs": st.column_config.TextColumn(width=55),  # "3/20": completed of planned
        "val acc": st.column_config.NumberColumn(format="%.3f", width=70),
        "n": st.column_config.NumberColumn(width=55),
        "train s": st.column_config.NumberColumn(format="%.0f", width=65),
        **holdout_config,
    },
)
csv = table.to_csv(index=False)  # every column, the hidden ones too
st.download_button("Download the table (CSV)", csv, "runs.csv", key="compare_csv")
labui.cv_section(records)
with st.expander("The blog's numbers (cats vs dogs, 2000 training / 800 validation images)"):
    st.dataframe(runs_view.blog_reference_table(), hide_index=True)

labels = {r.id: runs_view.run_label(r) for r in records}
labui.holdout_form(records, labels)
st.subheader("Curves")
overlay = st.multiselect(
    "Runs to overlay", list(labels), default=list(labels)[:3], format_func=labels.get,
    key="compare_overlay",
)  # fmt: skip
left, right = st.columns(2)
metric = left.radio("Metric", ["accuracy", "loss"], horizontal=True, key="compare_metric")
training = right.toggle("Training curves too (dashed)", key="compare_training")
frames = [runs_view.epoch_frame(store.epochs(i), run=labels[i]) for i in overlay]
curves = pd.concat(frames) if frames else pd.DataFrame()
splits = ("training", "validation") if training else ("validation",)
if curves.empty:
    st.caption("The chosen runs have no finished epoch yet.")
else:
    st.altair_chart(charts.overlay_with_reference(curves, metric, splits), key="compare_curves")

labui.paired_test(records, labels, store)

st.subheader("One run in detail")
best = runs_view.best_finished_run(records, labui.active_class_names())
run_id = st.selectbox(
    "Run", list(labels), index=list(labels).index(best.id) if best else None,
    format_func=labels.get, placeholder="No finished run: choose one", key="compare_run",
)  # fmt: skip
if run_id is None:
    st.stop()

record = store.get(run_id)
folder = store.run_folder(run_id)
if record.error:
    st.error(f"Run #{run_id} {record.status}: {record.error}")

try:
    report = load_report(folder)
except LabError as exc:  # an unreadable report.json: said once, the rest of the page stays
    labui.show_error(exc)
    report = None
if report is not None:
    st.markdown(runs_view.accuracy_sentence(report, bold=True))
    labui.top_run_note(record.summary)
    st.dataframe(
        pd.DataFrame(report.per_class),
        hide_index=True,
        column_config={
            "precision": st.column_config.NumberColumn(format="%.3f"),
            "recall": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    if folder.predictions().is_file():
        labui.calibration_section(run_id, store)
    labui.mistakes_section(run_id, report, folder.predictions())
elif not record.is_active and not folder.report().is_file():
    st.info(f"Run #{run_id} has no evaluation report ({record.status}).")

st.subheader("Manage")
left, right = st.columns(2)
new_name = left.text_input("Name", record.name, key=f"compare_name_{run_id}")
if left.button("Rename", key="compare_rename"):
    store.rename(run_id, new_name)
    st.rerun()
model_file = folder.model
left.download_button(
    "Download the model (.keras)", lambda: model_file.read_bytes(), f"run{run_id}.keras",
    disabled=not model_file.is_file(), key="compare_model",
)  # fmt: skip
tflite = export.exported_file(run_id, "tflite", store)
if tflite is not None:
    left.download_button(
        "Download for TensorFlow Lite (.tflite)", lambda: tflite.read_bytes(), tflite.name,
        key="compare_tflite",
    )  # fmt: skip
elif left.button(
    "Prepare a TensorFlow Lite file", key="compare_tflite_prepare",
    disabled=not model_file.is_file(), help="For phones and small devices; takes a few seconds.",
):  # fmt: skip
    try:
        with st.spinner("Converting to TensorFlow Lite…"):
            export.prepare_export(run_id, "tflite", store)
    except LabError as exc:
        labui.show_error(exc)
    else:
        st.rerun()
sure = right.checkbox(f"Yes, delete run #{run_id} and its files", key="compare_delete_sure")
if right.button("Delete run", disabled=not sure, key="compare_delete"):
    try:
        store.delete(run_id)
    except RunError as exc:
        labui.show_error(exc)
    else:
        st.rerun()
