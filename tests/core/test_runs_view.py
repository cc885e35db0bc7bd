"""Tables and long-form frames for the pages, from store records."""

import pandas as pd
import pytest

from core import runs_view
from core.health import health_report
from core.metrics import EvalReport
from core.predict import Prediction
from core.store import RunStore


@pytest.fixture
def run(make_run):
    """A bottleneck run (vgg16, 64 px) with these summary figures; queued unless a status
    is given."""

    def make(status="queued", dataset="demo", **summary):
        return make_run(
            "bottleneck", status=status, summary=summary, name="r", data=dataset,
            backbone="vgg16", image_size=64, epochs=3,
        )  # fmt: skip

    return make


def test_runs_table_rows_and_missing_figures(run):
    done = run(val_accuracy=0.9, val_ci_low=0.85, val_ci_high=0.93, val_n=200)
    queued = run()
    table = runs_view.runs_table([queued, done])
    assert list(table["id"]) == [queued.id, done.id]
    row = table.iloc[1]
    assert row["val acc"] == 0.9 and row["95% CI"] == "0.850–0.930" and row["n"] == 200
    assert row["backbone"] == "vgg16" and row["size"] == 64
    assert pd.isna(table.iloc[0]["95% CI"]) and table.iloc[0]["status"] == "queued"


def test_epoch_frame_is_long_form_by_metric_and_split():
    epochs = [
        {"epoch": 1, "loss": 0.7, "accuracy": 0.5, "val_loss": 0.6, "val_accuracy": 0.6},
        {"epoch": 2, "loss": 0.5, "accuracy": 0.7},  # no validation figures logged
    ]
    frame = runs_view.epoch_frame(epochs, run="a")
    assert len(frame) == 6
    val = frame[(frame["split"] == "validation") & (frame["metric"] == "accuracy")]
    assert val["value"].tolist() == [0.6] and set(frame["run"]) == {"a"}


def test_confusion_and_prediction_frames():
    report = EvalReport(8, 0.875, 0.5, 0.97, None, ["a", "b"], [[3, 1], [0, 4]])
    cells = runs_view.confusion_frame(report)
    assert cells.query("true == 'a' and predicted == 'b'")["count"].item() == 1
    good = Prediction("x.png", ["a", "b"], [0.25, 0.75], "b", 0.75)
    bad = Prediction("y.txt", ["a", "b"], [], "", 0.0, error="y.txt is not an image.")
    frame = runs_view.prediction_frame({"#1": [good, bad]})
    assert frame["probability"].tolist() == [0.25, 0.75] and set(frame["image"]) == {0}


def test_progress_from_the_last_batch(run):
    record = run()
    assert runs_view.progress(record, None) is None
    prog = runs_view.progress(record, {"epoch": 2, "batch": 5, "batches_per_epoch": 10})
    assert (prog.epoch, prog.epochs, prog.batch, prog.batches) == (2, 3, 5, 10)
    assert prog.fraction == (1 + 0.5) / 3


def test_table_names_the_dataset_and_shows_status_early(run):
    demo = run(val_accuracy=0.9)
    cats = run(dataset="/data/cats_vs_dogs/", class_names=["cats", "dogs"])
    split = run(dataset="/data/flowers5/train")
    table = runs_view.runs_table([demo, cats, split])
    assert table["dataset"].tolist() == ["demo (synthetic)", "cats_vs_dogs", "flowers5"]
    assert table["classes"].tolist()[1] == "cats, dogs"
    shown = runs_view.SHOWN_COLUMNS
    assert set(shown) <= set(table.columns) and len(shown) <= 12
    assert shown.index("status") < 4  # never the column cut off at the right


def test_labels_mark_runs_that_did_not_finish(run):
    store = RunStore()
    done = run("finished", val_accuracy=0.912)
    stopped = run("stopped", val_accuracy=0.5)
    queued = run()
    assert runs_view.run_label(done) == f"#{done.id} · bottleneck · r · 0.912"
    assert runs_view.run_label(stopped) == f"#{stopped.id} · bottleneck · r · stopped at 0.500"
    assert runs_view.run_label(queued) == f"#{queued.id} · bottleneck · r · queued"
    store.rename(done.id, f"bottleneck #{done.id}")  # the default name is not repeated
    assert runs_view.run_label(store.get(done.id)) == f"#{done.id} · bottleneck · 0.912"


def test_best_finished_run_skips_stopped_failed_and_degenerate_runs(run):
    store = RunStore()
    shapes = ["circles", "triangles"]
    good = run("finished", val_accuracy=0.8, class_names=shapes)
    run("stopped", val_accuracy=0.95, class_names=shapes)  # better, but stopped
    run("interrupted", val_accuracy=0.99, class_names=shapes)
    run("failed")
    run("finished", val_accuracy=0.5, class_names=shapes)  # chance: degenerate
    pets = run("finished", val_accuracy=0.7, class_names=["cats", "dogs"])
    records = store.list_runs()
    assert runs_view.best_finished_run(records).id == good.id
    # The active dataset's classes come first, even at a lower accuracy.
    assert runs_view.best_finished_run(records, ["cats", "dogs"]).id == pets.id
    # No run on these classes: the best of all.
    assert runs_view.best_finished_run(records, ["a", "b", "c"]).id == good.id
    unfinished = [r for r in records if r.id not in (good.id, pets.id)]
    assert runs_view.best_finished_run(unfinished) is None


def test_class_warning_and_headline(run):
    demo = run("finished", class_names=["circles", "triangles"])
    warning = runs_view.class_warning(demo, ["cats", "dogs"], "cats_vs_dogs")
    assert (
        "synthetic data" in warning
        and "circles, triangles" in warning
        and "cats_vs_dogs" in warning
    )
    assert runs_view.class_warning(demo, ["circles", "triangles"]) is None
    real = run("finished", dataset="/d/pets", class_names=["a", "b"])
    assert "synthetic" not in runs_view.class_warning(real, ["cats", "dogs"])
    assert runs_view.headline(Prediction("x", ["cat", "dog"], [0.004, 0.996], "dog", 0.996)) == (
        "dog — 100%"
    )


def test_run_title_names_the_run_only_when_it_was_named():
    from types import SimpleNamespace

    from core.runs_view import run_title

    assert run_title(SimpleNamespace(id=1, method="scratch", name="scratch #1")) == (
        "Run #1 · scratch"
    )
    assert run_title(SimpleNamespace(id=2, method="bottleneck", name="mine")) == (
        "Run #2 · bottleneck · mine"
    )


def test_long_durations_read_in_hours():
    from core.runs_view import format_seconds

    assert format_seconds(7830) == "2 h 10 min" and format_seconds(75) == "1 min 15 s"


def test_lab_vs_blog_table_reads_the_measured_rows():
    from core.lab_results import measured_table
    from core.runs_view import lab_vs_blog_table

    rows = measured_table()
    assert rows, "bench/results/blog_table.json has finished rows"
    table = lab_vs_blog_table(rows[:1])  # a method without a row stays empty
    first = table[table["method"] == rows[0].method].iloc[0]
    assert first["this lab"] == f"{rows[0].val_accuracy:.3f}"
    assert table["this lab"].isna().sum() == 2


def test_one_accuracy_sentence_for_summaries_and_reports(run):
    record = run(val_accuracy=0.8833, val_ci_low=0.814, val_ci_high=0.929, val_n=120)
    expected = "Validation accuracy 0.883 (95% interval 0.814–0.929, n = 120)"
    assert runs_view.accuracy_sentence(record.summary) == expected
    report = EvalReport(120, 0.8833, 0.814, 0.929, 0.3, ["a", "b"], [[60, 0], [14, 46]])
    assert runs_view.accuracy_sentence(report) == expected  # the same words from the report
    assert runs_view.accuracy_sentence(report, bold=True).startswith(
        "Validation accuracy **0.883**"
    )
    assert runs_view.accuracy_sentence(run(val_accuracy=0.9).summary) is None  # no CI


def test_spec_label_names_a_dataset_as_run_labels_do(run, tmp_path):
    assert runs_view.spec_label("demo") == runs_view.DEMO_LABEL == "demo (synthetic)"
    assert runs_view.spec_label("/data/cats_vs_dogs/") == "cats_vs_dogs"
    assert runs_view.spec_label("/data/flowers5/train") == "flowers5"  # opened at its split
    record = run(dataset=str(_flowers_train(tmp_path)))
    assert runs_view.dataset_label(record) == runs_view.spec_label(record.dataset)


def test_health_frames(tmp_path):
    from core.datasets import load_dataset
    from tests.core.image_factory import make_image_folder

    layout = {"train": {"cats": 4, "dogs": 2}, "validation": {"cats": 1, "dogs": 1}}
    report = health_report(load_dataset(make_image_folder(tmp_path / "pets", layout)))
    counts = runs_view.class_counts_frame(report)
    assert list(counts.columns) == ["split", "class", "images"]
    assert counts.query("split == 'train' and `class` == 'dogs'")["images"].item() == 2
    sides = runs_view.longer_side_frame(report.sizes)
    assert sides["images"].sum() == 8 and list(sides.columns) == ["side", "images"]


def _flowers_train(tmp_path):
    """A generated dataset opened at its train split (as a user may pick it)."""
    from tests.core.image_factory import make_image_folder

    root = make_image_folder(
        tmp_path / "flowers5", {"train": {"a": 3, "b": 3}, "validation": {"a": 1, "b": 1}}
    )
    return root / "train"


def test_with_holdout_adds_each_run_s_latest_figures_and_leaves_others_empty(run):
    from core.holdout import latest_by_run
    from core.store import StoredEvaluation

    scored, unscored = run("finished", val_accuracy=0.9), run("finished", val_accuracy=0.8)
    evaluations = [
        StoredEvaluation(scored.id, "/d/extra", "extra", "all", 50, 0.7, 0.56, 0.81, "none", 1.0),
        StoredEvaluation(scored.id, "/d/extra", "extra", "all", 50, 0.74, 0.6, 0.84, "flip", 2.0),
    ]
    table = runs_view.runs_table([scored, unscored])
    held = runs_view.with_holdout(table, latest_by_run(evaluations, "/d/extra")).set_index("id")
    assert held.loc[scored.id, "hold-out acc"] == 0.74  # the latest of the two
    assert held.loc[scored.id, "hold-out CI"] == "0.600–0.840"
    assert held.loc[scored.id, "hold-out"] == "0.740 (0.600–0.840)"
    assert held.loc[scored.id, "hold-out n"] == 50 and held.loc[scored.id, "hold-out tta"] == "flip"
    assert held.loc[unscored.id, ["hold-out acc", "hold-out n", "hold-out"]].isna().all()
    assert "hold-out acc" not in table.columns  # the table given is left as it was


def test_statuses_accuracy_and_labels_in_korean(run):
    from core import i18n

    stopped = run("stopped", val_accuracy=0.5)
    finished = run("finished", val_accuracy=0.969, val_ci_low=0.954, val_ci_high=0.979, val_n=800)
    i18n.set_language("ko")
    assert [runs_view.status_text(s) for s in ("finished", "stopped", "running")] == [
        "완료", "중지됨", "실행 중",
    ]  # fmt: skip
    assert runs_view.accuracy_sentence(finished.summary) == (
        "검증 정확도 0.969 (95% 신뢰구간 0.954–0.979, n = 800)"
    )
    assert runs_view.run_label(stopped) == f"#{stopped.id} · bottleneck · r · 중지됨, 0.500"
    assert runs_view.run_title(finished) == f"실행 #{finished.id} · bottleneck · r"
    assert runs_view.format_seconds(75) == "1분 15초"
    assert runs_view.spec_label("demo") == "데모(합성)"
    assert runs_view.spec_label("demo", english=True) == "demo (synthetic)"  # what the store keeps
    shown, config = runs_view.shown_table(runs_view.runs_table([finished]), {"val acc": 1})
    assert {"상태", "검증 정확도", "95% 신뢰구간"} <= set(shown.columns)
    assert config == {"검증 정확도": 1}
    assert list(shown["상태"]) == ["완료"]
    i18n.set_language("en")
    assert runs_view.status_text("stopped") == "stopped"
    assert runs_view.run_label(stopped) == f"#{stopped.id} · bottleneck · r · stopped at 0.500"
    assert list(runs_view.runs_table([finished]).columns)[:3] == ["id", "name", "status"]  # CSV
