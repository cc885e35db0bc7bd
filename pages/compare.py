"""Compare runs: the table, overlaid curves, one run's confusion matrix and its mistakes."""

import pandas as pd
import streamlit as st

import charts
import labui
from core import export, runs_view
from core.errors import LabError, RunError
from core.eval_report import load_report
from core.i18n import _

st.title(_("Compare runs"))
store = labui.run_store()
records = store.list_runs()
if not records:
    st.info(_("No runs yet: start one on the **Train** page."))
    st.stop()

names = sorted({runs_view.dataset_label(r) for r in records})
ALL = _("all datasets")
shown = st.selectbox(_("Dataset"), [ALL, *names], key="compare_dataset")
records = [r for r in records if shown == ALL or runs_view.dataset_label(r) == shown]

table, columns, holdout_config = labui.holdout_table(runs_view.runs_table(records), store)
shown_table, column_config = runs_view.shown_table(
    table[columns],
    {
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
st.dataframe(shown_table, hide_index=True, column_config=column_config)
csv = table.to_csv(index=False)  # every column, the hidden ones too; English keys for machines
st.download_button(_("Download the table (CSV)"), csv, "runs.csv", key="compare_csv")
labui.cv_section(records)
with st.expander(_("The blog's numbers (cats vs dogs, 2000 training / 800 validation images)")):
    st.dataframe(runs_view.blog_reference_table(), hide_index=True)

labels = {r.id: runs_view.run_label(r) for r in records}
labui.holdout_form(records, labels)
st.subheader(_("Curves"))
overlay = st.multiselect(
    _("Runs to overlay"), list(labels), default=list(labels)[:3], format_func=labels.get,
    placeholder=_("Choose options"), key="compare_overlay",
)  # fmt: skip
left, right = st.columns(2)
metric = left.radio(
    _("Metric"), ["accuracy", "loss"], horizontal=True, key="compare_metric",
    format_func=lambda m: _(charts.METRIC_WORDS[m]),
)  # fmt: skip
training = right.toggle(_("Training curves too (dashed)"), key="compare_training")
frames = [runs_view.epoch_frame(store.epochs(i), run=labels[i]) for i in overlay]
curves = pd.concat(frames) if frames else pd.DataFrame()
splits = ("training", "validation") if training else ("validation",)
if curves.empty:
    st.caption(_("The chosen runs have no finished epoch yet."))
else:
    st.altair_chart(charts.overlay_with_reference(curves, metric, splits), key="compare_curves")

labui.paired_test(records, labels, store)

st.subheader(_("One run in detail"))
best = runs_view.best_finished_run(records, labui.active_class_names())
run_id = st.selectbox(
    _("Run"), list(labels), index=list(labels).index(best.id) if best else None,
    format_func=labels.get, placeholder=_("No finished run: choose one"), key="compare_run",
)  # fmt: skip
if run_id is None:
    st.stop()

record = store.get(run_id)
folder = store.run_folder(run_id)
if record.error:
    words = {"run": run_id, "status": runs_view.status_text(record.status), "error": record.error}
    st.error(_("Run #{run} {status}: {error}").format(**words))

try:
    report = load_report(folder)
except LabError as exc:  # an unreadable report.json: said once, the rest of the page stays
    labui.show_error(exc)
    report = None
if report is not None:
    st.markdown(runs_view.accuracy_sentence(report, bold=True))
    labui.top_run_note(record.summary)
    per_class, per_class_config = runs_view.shown_table(
        pd.DataFrame(report.per_class),
        {
            "precision": st.column_config.NumberColumn(format="%.3f"),
            "recall": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    st.dataframe(per_class, hide_index=True, column_config=per_class_config)
    if folder.predictions().is_file():
        labui.calibration_section(run_id, store)
    labui.mistakes_section(run_id, report, folder.predictions())
elif not record.is_active and not folder.report().is_file():
    status = runs_view.status_text(record.status)
    st.info(_("Run #{run} has no evaluation report ({status}).").format(run=run_id, status=status))

st.subheader(_("Manage"))
left, right = st.columns(2)
new_name = left.text_input(_("Name"), record.name, key=f"compare_name_{run_id}")
if left.button(_("Rename"), key="compare_rename"):
    store.rename(run_id, new_name)
    st.rerun()
model_file = folder.model
left.download_button(
    _("Download the model (.keras)"), lambda: model_file.read_bytes(), f"run{run_id}.keras",
    disabled=not model_file.is_file(), key="compare_model",
)  # fmt: skip
tflite = export.exported_file(run_id, "tflite", store)
if tflite is not None:
    left.download_button(
        _("Download for TensorFlow Lite (.tflite)"), lambda: tflite.read_bytes(), tflite.name,
        key="compare_tflite",
    )  # fmt: skip
elif left.button(
    _("Prepare a TensorFlow Lite file"), key="compare_tflite_prepare",
    disabled=not model_file.is_file(), help=_("For phones and small devices; takes a few seconds."),
):  # fmt: skip
    try:
        with st.spinner(_("Converting to TensorFlow Lite…")):
            export.prepare_export(run_id, "tflite", store)
    except LabError as exc:
        labui.show_error(exc)
    else:
        st.rerun()
sure = right.checkbox(
    _("Yes, delete run #{run} and its files").format(run=run_id), key="compare_delete_sure"
)
if right.button(_("Delete run"), disabled=not sure, key="compare_delete"):
    try:
        store.delete(run_id)
    except RunError as exc:
        labui.show_error(exc)
    else:
        st.rerun()
