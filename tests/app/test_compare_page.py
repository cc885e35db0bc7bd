"""The Compare page on runs recorded directly in the store (no training needed)."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.paths import PROJECT_ROOT
from core.store import RunStore

PAGE = str(PROJECT_ROOT / "pages/compare.py")
TIMEOUT = 60
CLASSES = ["cats", "dogs"]


def _finished_run(
    make_run, tmp_path, name: str, y_pred: list[int], data="demo", model=b"not really a model"
) -> int:
    """A finished run with two epochs, a report and per-image predictions."""
    y_true = np.array([0, 0, 1, 1])
    probs = np.where(np.array(y_pred) == 1, 0.8, 0.3)
    paths = []
    for i, label in enumerate(y_true):
        path = tmp_path / f"{name}_{i}.png"
        Image.new("RGB", (40, 30), (200 * int(label), 90, 30)).save(path)
        paths.append(str(path))
    history = [
        {"loss": 0.7, "accuracy": acc, "val_loss": 0.6, "val_accuracy": acc} for acc in (0.6, 0.75)
    ]
    return make_run(
        name=name, data=data, image_size=32, epochs=2, classes=CLASSES, history=history,
        predictions=(paths, y_true, probs), model=model,
        summary={"total_params": 10, "trainable_params": 8, "train_seconds": 3.0},
    ).id  # fmt: skip


def test_no_runs_says_where_to_start():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "Train" in at.info[0].value


def test_table_curves_confusion_and_mistakes(tmp_path, make_run):
    first = _finished_run(make_run, tmp_path, "first", [0, 1, 1, 1])  # one cat called a dog
    second = _finished_run(make_run, tmp_path, "second", [0, 0, 1, 1])
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["id"]) == [second, first]
    assert table.loc[table["id"] == first, "val acc"].item() == 0.75
    assert table.loc[table["id"] == first, "n"].item() == 4
    assert table.loc[table["id"] == first, "status"].item() == "finished"
    # The newest run is chosen; it has no mistakes, so the picker shows a diagonal cell.
    at.selectbox(key="compare_run").set_value(first).run()
    assert not at.exception
    assert at.selectbox(key=f"compare_cell_{first}").value == ("cats", "dogs")
    captions = [c for image in at.get("image") for c in image.captions]
    # The one cat taken for a dog, with its probability.
    assert len(captions) == 1 and captions[0].startswith("dogs 0.80")


def test_rename_and_delete(tmp_path, make_run):
    store = RunStore()
    run_id = _finished_run(make_run, tmp_path, "old", [0, 1, 1, 1])
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.text_input(key=f"compare_name_{run_id}").set_value("renamed")
    at.button(key="compare_rename").click().run()
    assert not at.exception
    assert store.get(run_id).name == "renamed"
    assert at.button(key="compare_delete").disabled
    at.checkbox(key="compare_delete_sure").check().run()
    at.button(key="compare_delete").click().run()
    assert not at.exception
    assert store.list_runs() == []
    assert "Train" in at.info[0].value


def _spec(at) -> dict:
    return __import__("json").loads(at.get("vega_lite_chart")[0].proto.spec)


def test_best_finished_run_is_the_default_and_stopped_runs_are_marked(tmp_path, make_run):
    """Defect 5: a newer stopped run is neither the default nor unmarked."""
    good = _finished_run(make_run, tmp_path, "good", [0, 1, 1, 1])  # 0.75
    stopped = make_run(
        status="stopped", summary={"val_accuracy": 0.5}, name="halfway", image_size=32, epochs=5
    ).id
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    picker = at.selectbox(key="compare_run")
    assert picker.value == good
    assert f"#{stopped} · scratch · halfway · stopped at 0.500" in picker.options
    table = at.dataframe[0].value
    assert table.loc[table["id"] == stopped, "status"].item() == "stopped"


def test_only_unfinished_runs_leave_the_detail_unchosen(make_run):
    run_id = make_run(
        status="failed", error="out of memory", name="broken", image_size=32, epochs=5
    ).id
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.selectbox(key="compare_run").value is None
    at.selectbox(key="compare_run").set_value(run_id).run()
    assert any("out of memory" in e.value for e in at.error)


def test_dataset_column_and_filter(tmp_path, make_run):
    """Defect 6: which data each run saw, and only one dataset's runs on request."""
    demo = _finished_run(make_run, tmp_path, "demo run", [0, 1, 1, 1])
    pets = _finished_run(make_run, tmp_path, "pets run", [0, 0, 1, 1], data="/data/cats_vs_dogs")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    table = at.dataframe[0].value
    assert table.set_index("id")["dataset"].to_dict() == {
        demo: "demo (synthetic)",
        pets: "cats_vs_dogs",
    }
    assert list(table.columns).index("status") < 4  # not the column cut off at the right
    at.selectbox(key="compare_dataset").set_value("cats_vs_dogs").run()
    assert not at.exception
    assert at.dataframe[0].value["id"].tolist() == [pets]
    options = list(at.selectbox(key="compare_run").options)
    assert options == [f"#{pets} · scratch · pets run · 1.000"]


def test_training_curves_and_separate_blog_labels(tmp_path, make_run):
    """Defect 6: training curves on request; the blog's labels at different x."""
    _finished_run(make_run, tmp_path, "run", [0, 1, 1, 1])
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    layers = _spec(at)["layer"]
    assert layers[0]["encoding"]["y"]["title"] == "validation accuracy"
    label_x = [
        layer["encoding"]["x"]["value"] for layer in layers if layer["mark"]["type"] == "text"
    ]
    assert len(label_x) == 3 and min(abs(a - b) for a in label_x for b in label_x if a != b) > 150
    at.toggle(key="compare_training").set_value(True).run()
    assert not at.exception
    assert _spec(at)["layer"][0]["encoding"]["y"]["title"] == "accuracy"
    assert _spec(at)["layer"][0]["encoding"]["strokeDash"]["field"] == "split"


def test_tflite_is_prepared_on_request_then_downloaded(tmp_path, make_run):
    """Download a trained model: .keras at once, TFLite after a conversion asked for."""
    store = RunStore()
    run_id = _finished_run(make_run, tmp_path, "tiny", [0, 1, 1, 1], model=True)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.get("download_button") or all(
        "tflite" not in b.proto.label.lower() for b in at.get("download_button")
    )
    at.button(key="compare_tflite_prepare").click().run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download for TensorFlow Lite (.tflite)" in labels
    assert (store.run_dir(run_id) / "exports" / f"run-{run_id}.tflite").stat().st_size > 1000


def _paired_runs(make_run, tmp_path, right_a: int, right_b: int, n: int = 40, history=None):
    """Two finished runs validated on the same n images, right on the first right_* of them."""
    y_true = np.array([i % 2 for i in range(n)])
    paths = [str(tmp_path / f"v{i}.png") for i in range(n)]
    ids = []
    for name, right in (("a", right_a), ("b", right_b)):
        y_pred = np.where(np.arange(n) < right, y_true, 1 - y_true)
        probs = np.where(y_pred == 1, 0.97, 0.03)  # very sure, right or wrong
        run = make_run(
            name=name, image_size=32, epochs=1, classes=CLASSES,
            predictions=(paths, y_true, probs), history=history,
        )  # fmt: skip
        ids.append(run.id)
    return ids


def test_is_one_run_really_better_in_one_sentence(tmp_path, make_run):
    a, b = _paired_runs(make_run, tmp_path, right_a=24, right_b=38)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.selectbox(key="compare_b").value == b  # the best run first
    assert at.selectbox(key="compare_a").value == a
    sentence = next(m.value for m in at.markdown if "better than" in m.value)
    assert sentence.startswith(f"Run #{b} is really better than run #{a} (p = ")
    assert "14 right only under" not in sentence and f"14 only under run #{b}" in sentence
    at.selectbox(key="compare_b").set_value(a).run()
    at.selectbox(key="compare_a").set_value(a).run()
    assert not at.exception and not any("better than" in m.value for m in at.markdown)


def test_calibration_diagram_and_temperature_on_request(tmp_path, make_run):
    from core.calibration import load_temperature

    store = RunStore()
    _, b = _paired_runs(make_run, tmp_path, right_a=20, right_b=30)  # b: 75% right at 97%
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    (expander,) = [e for e in at.expander if "calibration error" in e.label]
    assert expander.label.endswith("0.220")  # |0.97 - 0.75|
    at.button(key="compare_calibrate").click().run()
    assert not at.exception
    assert "Predict uses it from now on" in at.success[0].value
    assert load_temperature(store.run_dir(b)) > 1  # an over-confident model is softened
    again = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert any("fitted temperature" in m.value for m in again.markdown)


def test_accuracy_sentence_from_the_report_and_a_broken_report_in_one_line(tmp_path, make_run):
    store = RunStore()
    good = _finished_run(make_run, tmp_path, "good", [0, 1, 1, 1])
    broken = _finished_run(make_run, tmp_path, "broken", [0, 0, 1, 1])
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.selectbox(key="compare_run").set_value(good).run()
    record = store.get(good)
    sentence = f"Validation accuracy **0.750** (95% interval {record.summary.val_ci_low:.3f}"
    assert any(m.value.startswith(sentence) for m in at.markdown)
    (store.run_dir(broken) / "report.json").write_text("{not json")
    at.selectbox(key="compare_run").set_value(broken).run()
    assert not at.exception
    about_report = [e.value for e in at.error if "report.json" in e.value]
    assert len(about_report) == 1 and "is not a readable evaluation report" in about_report[0]
    assert not at.info and at.button(key="compare_rename")  # the rest of the page is there


def test_a_cross_validation_is_one_row_with_its_folds_below(make_run):
    accuracies = [0.9, 0.7, 0.8]
    runs = [
        make_run(summary={"val_accuracy": acc}, folds=3, fold=fold, cv_group="g", name=f"f{fold}")
        for fold, acc in enumerate(accuracies)
    ]
    make_run(name="plain", summary={"val_accuracy": 0.5})
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any(h.value == "Cross-validation" for h in at.subheader)
    groups = at.dataframe[1].value  # after the runs table
    assert len(groups) == 1
    assert groups["group"].item() == f"3-fold scratch, runs #{runs[0].id}–#{runs[-1].id}"
    assert groups["mean acc"].item() == pytest.approx(0.8)
    assert groups["sd"].item() == pytest.approx(0.1)
    assert groups["folds"].item() == "3/3"
    folds = at.dataframe[2].value
    assert list(folds["name"]) == ["f0", "f1", "f2"]
    assert list(folds["val acc"]) == accuracies


def test_no_cross_validation_no_section(make_run):
    make_run(name="plain", summary={"val_accuracy": 0.5})
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert not any(h.value == "Cross-validation" for h in at.subheader)


def test_holdout_column_shows_the_stored_evaluation(tmp_path, make_run):
    from core.store import StoredEvaluation

    first = _finished_run(make_run, tmp_path, "first", [0, 1, 1, 1])
    second = _finished_run(make_run, tmp_path, "second", [0, 0, 1, 1])
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert "hold-out" not in at.dataframe[0].value.columns  # nothing evaluated yet
    RunStore().add_evaluation(
        StoredEvaluation(first, "/data/more_pets", "more_pets", "all", 120, 0.825, 0.747, 0.883)
    )
    at.run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("id")
    columns = list(table.columns)
    assert columns.index("n") < columns.index("hold-out") < columns.index("train s")
    assert table.loc[first, "hold-out"] == "0.825 (0.747–0.883)"
    assert table.loc[first, "val acc"] == 0.75
    assert pd.isna(table.loc[second, "hold-out"])  # not evaluated there
    assert any("more_pets" in c.value and "n = 120" in c.value for c in at.caption)


def test_holdout_form_evaluates_runs_and_says_when_classes_differ(tmp_path, make_run, monkeypatch):
    from tests.core.image_factory import make_image_folder

    monkeypatch.setenv("LDL_ALLOWED_DIRS", str(tmp_path))
    folder = make_image_folder(tmp_path / "extra_pets", {"cats": 3, "dogs": 3})
    birds = make_image_folder(tmp_path / "birds", {"crows": 2, "owls": 2})
    run_id = make_run(name="real", image_size=32, epochs=1, classes=CLASSES, model=True).id
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert at.multiselect(key="compare_holdout_runs").value == [run_id]
    at.text_input(key="compare_holdout_path").set_value(str(folder))
    at.radio(key="compare_holdout_tta").set_value("flip")
    at.button(key="compare_holdout_go").click().run()
    assert not at.exception and not at.error
    stored = RunStore().evaluations(run_id)
    assert [(e.n, e.tta, e.data_label) for e in stored] == [(6, "flip", "extra_pets")]
    table = at.dataframe[0].value.set_index("id")
    assert table.loc[run_id, "hold-out"].startswith(f"{stored[0].accuracy:.3f} (")
    at.text_input(key="compare_holdout_path").set_value(str(birds))
    at.button(key="compare_holdout_go").click().run()
    assert not at.exception
    assert any("trained on cats, dogs" in e.value for e in at.error)
    at.text_input(key="compare_holdout_path").set_value("/etc")
    at.button(key="compare_holdout_go").click().run()
    assert any("outside the folders this app may open" in e.value for e in at.error)
    assert len(RunStore().evaluations(run_id)) == 1


def test_a_finetune_run_shows_its_top_runs_figure_and_warns_when_below(tmp_path, make_run):
    y_true = np.array([0, 0, 1, 1])
    paths = [str(tmp_path / f"f{i}.png") for i in range(4)]
    probs = np.array([0.3, 0.8, 0.8, 0.8])  # 3 of 4 right: 0.750
    top = {"top_run_id": 1, "top_run_val_accuracy": 0.9, "best_weights_restored": True,
           "restored_by": "val_accuracy"}  # fmt: skip
    make_run(
        "finetune", backbone="mobilenet_v2_1.0", pretrained=False, image_size=32, classes=CLASSES,
        predictions=(paths, y_true, probs), summary=top,
    )  # fmt: skip
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any(
        "Its top model (run 1) had 0.900" in c.value and "by validation accuracy" in c.value
        for c in at.caption
    )
    assert [w.value for w in at.warning] == [
        "Fine-tuning ended below its top model: validation accuracy 0.750 against 0.900 for "
        "run 1, so that run's model is the better one."
    ]


# Sentences and labels the Compare page shows with two paired runs, a cross-validation and a
# hold-out evaluation: none of them may be left in English on the Korean page.
COMPARE_SENTENCES = [
    "Compare runs",
    "all datasets",
    "Hold-out column:",
    "Cross-validation",
    "Show the folds of",
    "Evaluate on a hold-out folder",
    "Curves",
    "Runs to overlay",
    "Training curves too (dashed)",
    "Is one run really better?",
    "is really better than run",
    "McNemar's exact test",
    "One run in detail",
    "Validation accuracy",
    "Can its confidence be trusted?",
    "Images behind a cell",
    "→ predicted",
    "Manage",
    "Rename",
    "Delete run",
]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_compare_page_in_both_languages(language, tmp_path, make_run):
    from core.store import StoredEvaluation
    from tests.app import korean

    for fold, acc in enumerate([0.3, 0.4, 0.5]):  # below chance: never the default run
        make_run(summary={"val_accuracy": acc}, folds=3, fold=fold, cv_group="g", name=f"f{fold}")
    history = [{"loss": 0.7, "accuracy": 0.6, "val_loss": 0.6, "val_accuracy": 0.6}]
    a, b = _paired_runs(make_run, tmp_path, right_a=24, right_b=38, history=history)
    RunStore().add_evaluation(
        StoredEvaluation(b, "/data/more_pets", "more_pets", "all", 120, 0.825, 0.747, 0.883)
    )
    at = korean.render(PAGE, language, TIMEOUT)
    korean.assert_spoken(at, COMPARE_SENTENCES, language)
    table = at.dataframe[0].value
    status, accuracy = ("status", "val acc") if language == "en" else ("상태", "검증 정확도")
    assert table.loc[table["id" if language == "en" else "ID"] == b, accuracy].item() == 0.95
    assert set(table[status]) == {"finished" if language == "en" else "완료"}
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    specs = json.dumps(specs, ensure_ascii=False)  # the curves, the reliability diagram, the matrix
    for words in (["validation accuracy", "true class"], ["검증 정확도", "실제 클래스"]):
        assert all(w in specs for w in words) == (words[0].isascii() == (language == "en"))
    if language == "ko":  # the McNemar reading, numbers as in English
        sentence = next(m.value for m in at.markdown if "더 낫습니다" in m.value)
        assert sentence.startswith(f"실행 #{b}이(가) 실행 #{a}보다 정말 더 낫습니다(p = ")
        assert any(m.value.startswith("검증 정확도 **0.950** (95% 신뢰구간 ") for m in at.markdown)
