"""Reliability bins, expected calibration error and temperature scaling."""

import json

import numpy as np
import pytest

from core import calibration as cal
from core.cli import main
from core.errors import RunError
from core.store import RunStore


def _overconfident(n: int = 2000, seed: int = 0):
    """Synthetic predictions: 75% right, but always claimed at about 97%."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    right = rng.random(n) < 0.75
    predicted = np.where(right, labels, 1 - labels)
    top = rng.uniform(0.95, 0.99, n)
    probs = np.where(predicted[:, None] == np.arange(2), top[:, None], 1 - top[:, None])
    return probs, labels


def test_a_perfectly_calibrated_model_has_no_error():
    probs = np.array([[0.8, 0.2]] * 10)
    labels = np.array([0] * 8 + [1] * 2)  # 80% right at 80% confidence
    result = cal.reliability(probs, labels)
    assert result.ece == pytest.approx(0.0)
    (only,) = result.bins
    assert (only.count, only.confidence, only.accuracy) == (10, pytest.approx(0.8), 0.8)


def test_overconfidence_shows_as_error_and_temperature_fixes_it():
    probs, labels = _overconfident()
    before = cal.reliability(probs, labels)
    assert before.ece == pytest.approx(0.97 - 0.75, abs=0.03)
    assert sum(b.count for b in before.bins) == before.n == 2000
    temperature = cal.fit_temperature(probs, labels)
    assert temperature > 1.5  # softens an over-confident model
    scaled = cal.apply_temperature(probs, temperature)
    np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
    assert (scaled.argmax(axis=1) == probs.argmax(axis=1)).all()  # same classes
    assert cal.reliability(scaled, labels).ece < 0.05


def test_temperature_of_a_calibrated_model_stays_near_one():
    rng = np.random.default_rng(1)
    top = rng.uniform(0.55, 0.95, 4000)
    right = rng.random(4000) < top  # right as often as claimed
    labels = np.zeros(4000, int)
    probs = np.stack([np.where(right, top, 1 - top), np.where(right, 1 - top, top)], axis=1)
    assert cal.fit_temperature(probs, labels) == pytest.approx(1.0, abs=0.15)


def _run(make_run, probs, labels) -> int:
    paths = [f"/v/{i}.png" for i in range(len(labels))]
    predictions = (paths, labels, probs)
    return make_run(
        name="calibrate", epochs=1, classes=["cats", "dogs"], predictions=predictions
    ).id


def test_calibrate_command_records_the_temperature(capsys, make_run):
    store = RunStore()
    probs, labels = _overconfident(400)
    run_id = _run(make_run, probs, labels)
    assert cal.load_temperature(store.run_dir(run_id)) is None
    assert main(["calibrate", "--run", str(run_id), "--json"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["n"] == 400 and fit["ece_after"] < fit["ece_before"]
    assert cal.load_temperature(store.run_dir(run_id)) == pytest.approx(fit["temperature"])
    assert cal.run_calibration(run_id, store).ece == pytest.approx(fit["ece_before"], abs=1e-5)


def test_calibrating_a_run_without_predictions_is_one_sentence(capsys, make_run):
    store = RunStore()
    run_id = make_run(status="queued", name="queued", epochs=1).id
    with pytest.raises(RunError, match="has no validation predictions"):
        cal.calibrate_run(run_id, store)
    assert main(["calibrate", "--run", str(run_id)]) == 1
    assert capsys.readouterr().err.count("\n") == 1
