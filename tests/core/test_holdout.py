"""Hold-out evaluations kept with the run: the store, core.holdout and the CLI.

Runs are made by the `make_run` factory with an untrained scratch CNN (32 px) and
scored on generated image folders (tests/core/image_factory.py).
"""

import json
import sqlite3

import numpy as np
import pytest

from core import holdout
from core.cli import main
from core.errors import DatasetError
from core.predict import evaluate_run
from core.store import RunStore, StoredEvaluation
from tests.core.image_factory import make_image_folder

CLASSES = ["cats", "dogs"]


@pytest.fixture
def scored_run(make_run, tmp_path):
    """A finished run with a (random) model, and a plain labelled folder of 5 + 4 images."""
    train = make_image_folder(tmp_path / "train_set", {"cats": 4, "dogs": 4})
    folder = make_image_folder(tmp_path / "holdout_set", {"cats": 5, "dogs": 4}, seed=7)
    record = make_run(data=str(train), image_size=32, epochs=1, classes=CLASSES, model=True)
    return record.id, folder


def _evaluation(run_id: int, accuracy: float, data="/data/extra", created=0.0):
    return StoredEvaluation(run_id, data, "extra", "all", 10, accuracy, 0.1, 0.9, "none", created)


def test_store_keeps_lists_and_deletes_evaluations(make_run):
    store = RunStore()
    first, second = make_run(name="a").id, make_run(name="b").id
    kept = store.add_evaluation(_evaluation(first, 0.7))
    assert kept.id is not None and kept.created > 0
    store.add_evaluation(_evaluation(second, 0.6))
    store.add_evaluation(_evaluation(first, 0.8, data="/data/other"))
    assert [e.accuracy for e in holdout.list_evaluations(first, store)] == [0.7, 0.8]
    assert [e.run_id for e in store.evaluations()] == [first, second, first]
    assert holdout.holdout_sets(store.evaluations()) == ["/data/other", "/data/extra"]
    latest = holdout.latest_by_run(store.evaluations(), "/data/extra")
    assert {k: v.accuracy for k, v in latest.items()} == {first: 0.7, second: 0.6}
    store.delete(first)
    assert holdout.list_evaluations(first, store) == []
    assert len(store.evaluations()) == 1


def test_a_store_from_before_evaluations_gains_the_table(tmp_path):
    path = tmp_path / "old.sqlite"
    RunStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE evaluations")  # as a store written before the table
    assert RunStore(path).evaluations() == []


def test_evaluate_and_store_keeps_the_figures_of_evaluate_run(scored_run):
    run_id, folder = scored_run
    stored = holdout.evaluate_and_store(run_id, str(folder), tta="flip")
    fresh = evaluate_run(run_id, str(folder), tta="flip")
    assert stored.n == fresh.report.n == 9 and stored.split == "all"
    assert stored.accuracy == pytest.approx(fresh.report.accuracy)
    assert stored.ci_low <= stored.accuracy <= stored.ci_high
    assert stored.tta == "flip" and stored.data_label == "holdout_set"
    assert stored.data_path == str(folder.resolve())
    assert holdout.list_evaluations(run_id) == [stored]


def test_class_mismatch_is_one_sentence_and_nothing_is_stored(scored_run, tmp_path):
    run_id, _ = scored_run
    birds = make_image_folder(tmp_path / "birds", {"crows": 2, "owls": 2})
    with pytest.raises(DatasetError) as caught:
        holdout.evaluate_and_store(run_id, str(birds))
    message = str(caught.value)
    assert "crows, owls" in message and "trained on cats, dogs" in message
    assert message.count(". ") == 0 and "\n" not in message
    assert holdout.list_evaluations(run_id) == []


def test_cli_evaluate_stores_unless_no_save_and_runs_show_lists_it(scored_run, capsys):
    run_id, folder = scored_run
    assert main(["evaluate", "--run", str(run_id), "--data", str(folder), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--run", str(run_id), "--data", str(folder), "--no-save"]) == 0
    capsys.readouterr()
    stored = holdout.list_evaluations(run_id)
    assert len(stored) == 1
    assert stored[0].accuracy == pytest.approx(printed["report"]["accuracy"])
    assert main(["runs", "show", str(run_id)]) == 0
    out = capsys.readouterr().out
    assert "hold-out evaluations" in out
    assert f"{folder.resolve()} (all, tta none)" in out and "n=9" in out
    assert main(["runs", "show", str(run_id), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["evaluations"]
    assert [e["accuracy"] for e in shown] == [stored[0].accuracy]
    assert np.isclose(shown[0]["ci_high"], printed["report"]["ci_high"])
