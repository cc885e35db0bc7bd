"""k-fold cross-validation (issue 10): fold splits, run groups, the summary, the CLI."""

import json
import statistics

import pytest
from scipy import stats

from core import crossval, runs_view, training
from core.cli import main
from core.datasets import fold_dataset, load_dataset
from core.errors import DatasetError, LabError
from core.features import run_feature_key
from core.store import RunStore
from core.top_runs import top_run_problem
from core.train_config import TrainConfig
from tests.core.image_factory import make_image_folder

# Uneven classes, so that stratification and the fold sizes are really tested.
LAYOUT = {"train": {"a": 9, "b": 6, "c": 5}, "validation": {"a": 3, "b": 2, "c": 2}}


@pytest.fixture
def folder(tmp_path):
    layout = {**LAYOUT, "test": {"a": 1, "b": 1, "c": 1}}
    return make_image_folder(tmp_path / "ds", layout, size=(20, 20))


def _paths(samples):
    return [s.path for s in samples]


def test_folds_partition_the_pool_stratified(folder):
    dataset = load_dataset(folder)
    pool = set(_paths(dataset.splits["train"] + dataset.splits["validation"]))
    folds = [fold_dataset(dataset, 4, f, seed=7) for f in range(4)]
    held_out = [set(_paths(d.splits["validation"])) for d in folds]
    assert set().union(*held_out) == pool  # every pooled image is validated once...
    assert sum(len(v) for v in held_out) == len(pool)  # ...and only once
    for fold in folds:
        train = set(_paths(fold.splits["train"]))
        assert train | set(_paths(fold.splits["validation"])) == pool
        assert not train & set(_paths(fold.splits["validation"]))
        assert fold.splits["test"] == dataset.splits["test"]
        assert fold.class_names == dataset.class_names
    sizes = [len(v) for v in held_out]
    assert max(sizes) - min(sizes) <= 1
    for label, name in enumerate(dataset.class_names):  # each class dealt evenly
        n_class = sum(LAYOUT[s][name] for s in LAYOUT)
        per_fold = [sum(s.label == label for s in d.splits["validation"]) for d in folds]
        assert sum(per_fold) == n_class and max(per_fold) - min(per_fold) <= 1


def test_folds_are_deterministic_for_a_seed(folder):
    dataset = load_dataset(folder)
    again = load_dataset(folder)

    def held_out(ds, seed):
        return _paths(fold_dataset(ds, 3, 1, seed=seed).splits["validation"])

    assert held_out(dataset, 5) == held_out(again, 5)
    assert held_out(dataset, 5) != held_out(dataset, 6)


def test_each_fold_has_its_own_fingerprint_and_feature_key(folder):
    dataset = load_dataset(folder)
    prints = {fold_dataset(dataset, 3, f, seed=1).fingerprint() for f in range(3)}
    assert len(prints) == 3 and dataset.fingerprint() not in prints
    config = TrainConfig.defaults("bottleneck", data=str(folder), folds=3, fold=0)
    keys = {run_feature_key(config, p) for p in prints}
    assert len(keys) == 3


def test_too_few_images_for_the_folds_is_refused(folder):
    dataset = load_dataset(folder)
    with pytest.raises(DatasetError, match="Class 'c' .* 7 images, fewer than the 8 folds"):
        fold_dataset(dataset, 8, 0, seed=1)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"folds": 1, "fold": 0}, "folds must be between 2 and 20"),
        ({"folds": 3, "fold": 3}, r"fold must be in \[0, folds\)"),
        ({"fold": 0}, "fold needs folds"),
    ],
)
def test_fold_settings_are_checked(changes, message):
    with pytest.raises(LabError, match=message):
        TrainConfig.defaults("scratch", **changes).validate()


def test_cv_runs_are_created_in_one_group(folder):
    store = RunStore()
    config = TrainConfig.defaults("scratch", data=str(folder), epochs=1, name="cnn")
    ids = training.create_cv_runs(config, 3, store)
    records = [store.get(i) for i in ids]
    assert [r.config.fold for r in records] == [0, 1, 2]
    assert {r.config.folds for r in records} == {3}
    assert len({r.config.cv_group for r in records}) == 1 and records[0].config.cv_group
    assert [r.name for r in records] == ["cnn, fold 1/3", "cnn, fold 2/3", "cnn, fold 3/3"]
    assert len({r.dataset_fingerprint for r in records}) == 3  # each fold's split
    assert {r.status for r in records} == {"queued"}
    groups = crossval.cv_groups(store.list_runs())
    assert list(groups) == [records[0].config.cv_group]
    assert [r.id for r in groups[records[0].config.cv_group]] == ids


def test_cv_of_a_finetune_trains_each_folds_top():
    config = TrainConfig.defaults("finetune", backbone="mobilenet_v2_1.0", top_run=4)
    ids = training.create_cv_runs(config, 2, RunStore())
    assert {RunStore().get(i).config.top_run for i in ids} == {None}


def test_a_top_from_another_split_does_not_fit(make_run):
    top = make_run("bottleneck", backbone="mobilenet_v2_1.0", classes=["a", "b"], folds=3, fold=1)
    config = TrainConfig.defaults("finetune", backbone="mobilenet_v2_1.0")
    assert "different cross-validation split" in top_run_problem(top, config, ["a", "b"])
    same = TrainConfig.defaults("finetune", backbone="mobilenet_v2_1.0", folds=3, fold=1)
    assert top_run_problem(top, same, ["a", "b"]) is None


def _group(make_run, accuracies, statuses=None):
    group = "g1"
    statuses = statuses or ["finished"] * len(accuracies)
    return [
        make_run(
            status=status,
            summary={} if acc is None else {"val_accuracy": acc},
            folds=len(accuracies),
            fold=fold,
            cv_group=group,
        )
        for fold, (acc, status) in enumerate(zip(accuracies, statuses, strict=True))
    ]


def test_cv_summary_mean_sd_and_interval(make_run):
    accuracies = [0.8, 0.7, 0.9, 0.75]
    summary = crossval.cv_summary(_group(make_run, accuracies))
    assert summary.n_folds == 4 and summary.finished == 4
    assert summary.per_fold == dict(enumerate(accuracies))
    assert summary.mean == pytest.approx(statistics.fmean(accuracies))
    assert summary.sd == pytest.approx(statistics.stdev(accuracies))
    low, high = stats.t.interval(0.95, 3, loc=summary.mean, scale=stats.sem(accuracies))
    assert (summary.ci_low, summary.ci_high) == (pytest.approx(low, abs=1e-3),
                                                 pytest.approx(high, abs=1e-3))  # fmt: skip
    assert summary.text().startswith(f"{summary.mean:.3f} ± {summary.sd:.3f} over 4 folds")


def test_cv_summary_counts_only_finished_folds(make_run):
    runs = _group(make_run, [0.8, None, 0.6], ["finished", "queued", "finished"])
    summary = crossval.cv_summary(runs)
    assert summary.finished == 2 and summary.n_folds == 3
    assert summary.mean == pytest.approx(0.7)
    assert "2/3 folds finished" in summary.text()
    assert crossval.cv_summary(runs[1:2]).text() == "no fold finished yet (0/3)"


def test_t_table_matches_scipy():
    for df in range(1, 20):
        assert crossval.t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-3)


def test_cv_table_has_one_row_per_group(make_run):
    runs = _group(make_run, [0.8, 0.6])
    make_run(summary={"val_accuracy": 0.5})  # an ordinary run: not in the table
    table = runs_view.cv_table(RunStore().list_runs())
    assert len(table) == 1
    row = table.iloc[0]
    assert row["folds"] == "2/2" and row["mean acc"] == pytest.approx(0.7)
    assert row["group"] == f"2-fold scratch, runs #{runs[0].id}–#{runs[1].id}"


def test_runs_list_shows_the_group(make_run, capsys):
    _group(make_run, [0.8, 0.6])
    assert main(["runs", "list"]) == 0
    out = capsys.readouterr().out
    assert "2-fold scratch, runs #1–#2: validation accuracy 0.700 ± 0.141 over 2 folds" in out
    assert main(["runs", "list", "--json"]) == 0
    groups = json.loads(capsys.readouterr().out)["cv_groups"]
    assert groups[0]["mean"] == pytest.approx(0.7) and len(groups[0]["per_fold"]) == 2


def test_cli_folds_prints_per_fold_and_mean_sd(folder, capsys, monkeypatch):
    """The CLI's figures, with a stand-in trainer (the real one: the slow test below)."""

    def fake_train(config, store, run_id, report=None):
        store.mark_running(run_id, 1)
        store.update_summary(run_id, val_accuracy=0.5 + config.fold / 10)
        store.finish(run_id, "finished")
        return store.get(run_id)

    monkeypatch.setattr(training, "train", fake_train)
    assert main(["train", "--method", "scratch", "--data", str(folder), "--folds", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in lines[:3]] == ["0.5000", "0.6000", "0.7000"]
    summary = crossval.cv_summary(RunStore().list_runs())
    assert summary.mean == pytest.approx(0.6) and summary.sd == pytest.approx(0.1)
    assert lines[3] == f"3-fold validation accuracy {summary.text()}"
    assert "0.600 ± 0.100 over 3 folds (95% interval 0.352–0.848)" in lines[3]


@pytest.mark.slow
def test_cli_folds_trains_each_fold_and_reports_mean_sd(folder, capsys):
    args = ["train", "--method", "scratch", "--data", str(folder), "--folds", "3"]
    args += ["--epochs", "1", "--image-size", "32", "--augment", "none", "--batch-size", "8"]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    store = RunStore()
    records = [store.get(f["run_id"]) for f in result["per_fold"]]
    assert [r.status for r in records] == ["finished"] * 3
    assert len({r.config.cv_group for r in records}) == 1
    accuracies = [r.summary.val_accuracy for r in records]
    assert [f["val_accuracy"] for f in result["per_fold"]] == accuracies
    assert result["mean"] == pytest.approx(statistics.fmean(accuracies))
    assert result["sd"] == pytest.approx(statistics.stdev(accuracies))
    assert sum(r.summary.val_n for r in records) == 27  # the pool, each image once
    summary = crossval.cv_summary(records)
    assert main(["runs", "list"]) == 0
    assert f"validation accuracy {summary.text()}" in capsys.readouterr().out


def test_a_fold_run_trains_and_validates_on_its_fold(folder):
    config = TrainConfig.defaults("scratch", data=str(folder), folds=3, fold=2, seed=4)
    dataset = training._load_dataset(config)
    expected = fold_dataset(load_dataset(folder, seed=4), 3, 2, seed=4)
    assert dataset.splits == expected.splits
    assert dataset.fingerprint() == expected.fingerprint()
    plain = training._load_dataset(TrainConfig.defaults("scratch", data=str(folder), seed=4))
    assert plain.splits["validation"] != dataset.splits["validation"]


def test_stage1_of_a_fold_trains_on_the_same_fold(monkeypatch):
    """Fine-tuning's stage-1 top model is created on the fine-tuning run's fold."""
    store = RunStore()
    config = TrainConfig.defaults("finetune", backbone="mobilenet_v2_1.0", folds=3, fold=1)
    run_id = training.create_run(config, store)
    made = []

    def fake_train(stage, store, stage_id, should_stop, report):
        made.append(stage)
        store.finish(stage_id, "stopped")
        return store.get(stage_id)

    monkeypatch.setattr(training, "train", fake_train)
    run = training.TrainingRun(config, store, run_id, store.run_folder(run_id), lambda: False, None)
    assert training._train_stage1(run) is None
    assert (made[0].folds, made[0].fold, made[0].cv_group) == (3, 1, None)
