"""Can a model's confidence be trusted? Reliability bins, expected calibration error,
and temperature scaling.

A model is calibrated when, of the images it labels with 80% confidence, about 80%
are right. The reliability diagram bins predictions by confidence and compares each
bin's mean confidence with its accuracy; the expected calibration error (ECE) is the
gap averaged over images. Temperature scaling (Guo et al., 2017) divides the logits
by one number T fitted on validation predictions: T > 1 softens an over-confident
model, and the predicted class never changes. Pure numpy: pages import it at start-up.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.errors import RunError
from core.i18n import _
from core.store import RunFolder

_EPS = 1e-7


@dataclass
class ReliabilityBin:
    low: float
    high: float
    count: int
    confidence: float  # mean top-class probability of the bin's images
    accuracy: float  # fraction of the bin's images predicted right


@dataclass
class Calibration:
    """How well confidence matches accuracy on `n` images."""

    n: int
    ece: float
    bins: list[ReliabilityBin]

    def to_dict(self) -> dict:
        return asdict(self)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> Calibration:
    """Reliability bins and the expected calibration error.

    Args:
        probs: `(N, C)` class probabilities.
        labels: `(N,)` integer true classes.
        bins: equal-width confidence bins over [0, 1].

    Returns:
        A `Calibration`; empty bins are left out.
    """
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels).reshape(-1)
    confidence = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table, gap = [], 0.0
    for index in range(bins):
        inside = which == index
        count = int(inside.sum())
        if not count:
            continue
        conf, acc = float(confidence[inside].mean()), float(right[inside].mean())
        table.append(ReliabilityBin(float(edges[index]), float(edges[index + 1]), count, conf, acc))
        gap += count * abs(conf - acc)
    n = len(labels)
    return Calibration(n=n, ece=gap / n if n else 0.0, bins=table)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities with their logits divided by `temperature` (rows still sum to 1)."""
    logits = np.log(np.clip(np.asarray(probs, np.float64), _EPS, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the log loss of `probs` on `labels`.

    Log-probabilities stand in for the logits: per image they differ by a constant,
    which the softmax cancels. A golden-section search over log T in [1/20, 20].
    """
    labels = np.asarray(labels).reshape(-1).astype(int)

    def loss(log_t: float) -> float:
        scaled = apply_temperature(probs, math.exp(log_t))
        return float(-np.log(np.clip(scaled[np.arange(len(labels)), labels], _EPS, 1)).mean())

    low, high = math.log(1 / 20), math.log(20)
    ratio = (math.sqrt(5) - 1) / 2
    for _step in range(60):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if loss(a) < loss(b):
            high = b
        else:
            low = a
    return math.exp((low + high) / 2)


def save_temperature(run_dir: Path, temperature: float, before: float, after: float) -> Path:
    """Record a fitted temperature (and the ECE before and after) in a run's folder."""
    path = RunFolder(Path(run_dir)).temperature
    path.write_text(json.dumps({"temperature": temperature, "ece_before": before,
                                "ece_after": after}))  # fmt: skip
    return path


def load_temperature(run_dir: Path) -> float | None:
    """The run's fitted temperature, or None when none was fitted."""
    path = RunFolder(Path(run_dir)).temperature
    if not path.is_file():
        return None
    try:
        value = float(json.loads(path.read_text())["temperature"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RunError(
            _("{path} is not a readable temperature file ({error}).").format(path=path, error=exc)
        ) from exc
    return value if value > 0 else None


@dataclass
class TemperatureFit:
    run_id: int
    n: int
    temperature: float
    ece_before: float
    ece_after: float

    def to_dict(self) -> dict:
        return asdict(self)


def stored_predictions(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """`(probs (N, C), labels (N,))` from a run's validation `predictions.csv`.

    Raises:
        RunError: when the run has no predictions file.
    """
    from core.metrics import read_predictions_csv

    path = RunFolder(Path(run_dir)).predictions()
    if not path.is_file():
        raise RunError(
            _("{run} has no validation predictions to calibrate on.").format(run=path.parent.name)
        )
    rows = read_predictions_csv(path)
    if not rows:
        raise RunError(_("{path} holds no predictions.").format(path=path))
    names = list(rows[0]["probabilities"])
    probs = np.array([[row["probabilities"][c] for c in names] for row in rows])
    labels = np.array([names.index(row["true"]) for row in rows])
    return probs, labels


def run_calibration(run_id: int, store=None) -> Calibration:
    """The reliability bins and ECE of a run's validation predictions."""
    from core.store import RunStore

    store = store or RunStore()
    return reliability(*stored_predictions(store.run_folder(run_id).path))


def calibrate_run(run_id: int, store=None) -> TemperatureFit:
    """Fit a temperature on a run's validation predictions and record it in its folder.

    Predictions of the run (`core.predict.predict_images`) use it from then on.
    """
    from core.store import RunStore

    store = store or RunStore()
    folder = store.run_folder(run_id).path
    probs, labels = stored_predictions(folder)
    temperature = fit_temperature(probs, labels)
    before = reliability(probs, labels).ece
    after = reliability(apply_temperature(probs, temperature), labels).ece
    save_temperature(folder, temperature, before, after)
    return TemperatureFit(int(run_id), len(labels), temperature, before, after)
