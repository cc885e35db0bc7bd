"""A run folder's report.json read back as a typed `EvalReport`."""

import json

import pytest

from core.errors import RunError
from core.eval_report import EvalReport, load_report
from core.store import RunStore


def _folder():
    store = RunStore()
    run_id = store.create_run(
        name="r", method="scratch", backbone=None, config={"image_size": 64},
        dataset="demo", fingerprint="", epochs_planned=1, pretrained=False,
    )  # fmt: skip
    return store.run_folder(run_id)


def test_load_report_round_trips_and_is_none_without_a_file():
    folder = _folder()
    assert load_report(folder) is None  # not evaluated yet
    report = EvalReport(
        n=10, accuracy=0.7, ci_low=0.4, ci_high=0.9, loss=0.6, class_names=["a", "b"],
        confusion=[[4, 1], [2, 3]],
        per_class=[{"name": "a", "precision": 0.67, "recall": 0.8, "support": 5}],
    )  # fmt: skip
    folder.report().parent.mkdir(parents=True, exist_ok=True)
    folder.report().write_text(json.dumps(report.to_dict()))
    assert load_report(folder) == report
    assert load_report(folder, "test") is None  # the test split has its own file


def test_a_broken_report_is_one_clear_error():
    folder = _folder()
    folder.report().parent.mkdir(parents=True, exist_ok=True)
    folder.report().write_text('{"accuracy": ')
    with pytest.raises(RunError, match="report.json is not a readable evaluation report"):
        load_report(folder)
