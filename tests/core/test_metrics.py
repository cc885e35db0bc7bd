"""core.metrics: Wilson interval, evaluation report, predictions CSV."""

import math

import numpy as np
import pytest

from core.metrics import (
    EvalReport,
    confusion_cell,
    evaluate_predictions,
    log_loss,
    mistakes,
    read_predictions_csv,
    wilson_interval,
    write_predictions_csv,
)


def test_wilson_interval_matches_the_closed_form():
    # 80 of 100 at z=1.96: the textbook interval is (0.7111, 0.8666).
    low, high = wilson_interval(80, 100)
    assert low == pytest.approx(0.7111, abs=1e-4)
    assert high == pytest.approx(0.8666, abs=1e-4)


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (1, 1), (399, 800)])
def test_wilson_interval_stays_in_unit_range_and_contains_p(k, n):
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0
    assert high - low > 0


def test_wilson_interval_narrows_with_n():
    small = wilson_interval(8, 10)
    large = wilson_interval(800, 1000)
    assert large[1] - large[0] < small[1] - small[0]


def test_wilson_interval_edge_cases():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_evaluate_binary_sigmoid_output():
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.6, 0.2, 0.9, 0.4, 0.8, 0.7])  # one false positive, one false negative
    report = evaluate_predictions(y, p, ["cats", "dogs"], loss=0.5)
    assert report.n == 7
    assert report.accuracy == pytest.approx(5 / 7)
    assert report.confusion == [[2, 1], [1, 3]]
    cats, dogs = report.per_class
    assert cats == {"name": "cats", "precision": 2 / 3, "recall": 2 / 3, "support": 3}
    assert dogs["precision"] == pytest.approx(3 / 4) and dogs["recall"] == pytest.approx(3 / 4)
    assert (report.ci_low, report.ci_high) == wilson_interval(5, 7)
    assert report.loss == 0.5


def test_evaluate_multiclass_softmax_and_unpredicted_class():
    y = np.array([0, 1, 2, 2])
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1]])
    report = evaluate_predictions(y, probs, ["a", "b", "c"])
    assert report.confusion == [[1, 0, 0], [0, 1, 0], [1, 1, 0]]
    assert report.accuracy == 0.5
    c = report.per_class[2]
    assert c["precision"] == 0.0 and c["recall"] == 0.0 and c["support"] == 2
    assert report.loss is None


def test_evaluate_rejects_wrong_shapes():
    with pytest.raises(ValueError):
        evaluate_predictions(np.array([0, 1]), np.ones((2, 2)) / 2, ["a", "b", "c"])
    with pytest.raises(ValueError):
        evaluate_predictions(np.array([0, 1, 1]), np.array([0.2, 0.3]), ["a", "b"])


def test_report_round_trips_and_prints():
    report = evaluate_predictions(np.array([0, 1, 1]), np.array([0.2, 0.9, 0.3]), ["x", "y"])
    again = EvalReport.from_dict(report.to_dict())
    assert again == report
    text = report.to_text()
    assert "accuracy 0.6667" in text and "n=3" in text and "confusion matrix" in text
    assert not math.isnan(report.ci_low)


def test_predictions_csv_round_trip_binary(tmp_path):
    path = write_predictions_csv(
        tmp_path / "p.csv", ["a.jpg", "b.jpg", "c.jpg"], [0, 1, 1], [0.2, 0.9, 0.3], ["cat", "dog"]
    )
    rows = read_predictions_csv(path)
    assert [r["path"] for r in rows] == ["a.jpg", "b.jpg", "c.jpg"]
    assert [r["predicted"] for r in rows] == ["cat", "dog", "cat"]
    assert rows[1]["probabilities"] == pytest.approx({"cat": 0.1, "dog": 0.9})
    assert rows[1]["prob_dog"] == pytest.approx(0.9)
    assert [r["path"] for r in mistakes(rows)] == ["c.jpg"]
    assert [r["path"] for r in confusion_cell(rows, "dog", "cat")] == ["c.jpg"]
    assert confusion_cell(rows, "cat", "dog") == []


def test_confusion_cell_sorted_by_confidence(tmp_path):
    probs = np.array([[0.6, 0.3, 0.1], [0.9, 0.05, 0.05], [0.1, 0.1, 0.8]])
    path = write_predictions_csv(tmp_path / "p.csv", ["1", "2", "3"], [1, 1, 2], probs, "abc")
    rows = read_predictions_csv(path)
    assert [r["path"] for r in confusion_cell(rows, "b", "a")] == ["2", "1"]


def test_log_loss_is_the_mean_cross_entropy_binary_and_multiclass():
    labels = np.array([1, 0, 1])
    sigmoid = np.array([0.9, 0.2, 0.4])
    expected = -np.mean(np.log([0.9, 0.8, 0.4]))
    assert log_loss(labels, sigmoid) == pytest.approx(expected)
    assert log_loss(labels, sigmoid[:, None], 2) == pytest.approx(expected)
    softmax = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    labels3 = np.array([0, 2, 1])
    assert log_loss(labels3, softmax) == pytest.approx(-np.mean(np.log([0.7, 0.8, 0.3])))
    assert log_loss(labels3, softmax, 3) == log_loss(labels3, softmax)
    # A certain, wrong prediction is clipped, not infinite.
    assert np.isfinite(log_loss(np.array([1]), np.array([0.0])))
