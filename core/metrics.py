"""Evaluation figures: accuracy with a Wilson interval, confusion matrix, per-class scores.

Pure numpy (no TensorFlow), so pages can import it at start-up.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.i18n import _


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for a proportion of `k` successes in `n` trials.

    Unlike the normal approximation it stays inside [0, 1] and behaves at
    accuracies near 0 or 1, which small validation sets hit often.

    Args:
        k: number of successes (correct predictions).
        n: number of trials (images evaluated).
        z: the normal quantile; 1.96 gives a 95% interval.

    Returns:
        `(low, high)`; `(0.0, 1.0)` when `n` is 0 (nothing is known).

    Raises:
        ValueError: when `k` is outside `[0, n]`.
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"wilson_interval needs 0 <= k <= n. Received: k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class EvalReport:
    """How a model did on one labelled set of images."""

    n: int
    accuracy: float
    ci_low: float
    ci_high: float
    loss: float | None
    class_names: list[str]
    confusion: list[list[int]]  # rows = true class, columns = predicted class
    per_class: list[dict] = field(default_factory=list)  # name, precision, recall, support

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EvalReport:
        return cls(
            n=int(data["n"]),
            accuracy=float(data["accuracy"]),
            ci_low=float(data["ci_low"]),
            ci_high=float(data["ci_high"]),
            loss=None if data.get("loss") is None else float(data["loss"]),
            class_names=list(data["class_names"]),
            confusion=[[int(v) for v in row] for row in data["confusion"]],
            per_class=[dict(row) for row in data.get("per_class", [])],
        )

    def to_text(self) -> str:
        """A plain-text report: headline, per-class table, confusion matrix."""
        figures = {"accuracy": f"{self.accuracy:.4f}", "low": f"{self.ci_low:.4f}",
                   "high": f"{self.ci_high:.4f}", "n": self.n}  # fmt: skip
        if self.loss is None:
            headline = _("accuracy {accuracy} (95% CI {low}-{high}, n={n})").format(**figures)
        else:
            headline = _("accuracy {accuracy} (95% CI {low}-{high}, n={n}), loss {loss}").format(
                loss=f"{self.loss:.4f}", **figures
            )
        lines = [headline, ""]
        width = max([len(name) for name in self.class_names] + [5])
        lines.append(f"{'class':<{width}}  precision  recall  support")
        for row in self.per_class:
            lines.append(
                f"{row['name']:<{width}}  {row['precision']:>9.4f}  {row['recall']:>6.4f}"
                f"  {row['support']:>7d}"
            )
        lines += ["", _("confusion matrix (rows = true, columns = predicted)")]
        cell = max([len(str(v)) for row in self.confusion for v in row] + [4])
        header = " " * width + "".join(f"  {name[:cell]:>{cell}}" for name in self.class_names)
        lines.append(header)
        for name, row in zip(self.class_names, self.confusion, strict=True):
            lines.append(f"{name:<{width}}" + "".join(f"  {v:>{cell}d}" for v in row))
        return "\n".join(lines)


def probabilities_matrix(probs: np.ndarray, num_classes: int) -> np.ndarray:
    """Class probabilities as `(N, C)`, expanding a binary `(N,)` sigmoid output.

    Args:
        probs: `(N,)` or `(N, 1)` probability of class 1 (binary), or `(N, C)`.
        num_classes: number of classes C.

    Returns:
        A float64 array of shape `(N, C)`.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if num_classes == 2 and (probs.ndim == 1 or probs.shape[-1] == 1):
        p1 = probs.reshape(-1)
        return np.stack([1.0 - p1, p1], axis=1)
    if probs.ndim != 2 or probs.shape[1] != num_classes:
        raise ValueError(
            f"Expected probabilities of shape (N, {num_classes}). Received: {probs.shape}"
        )
    return probs


def evaluate_predictions(
    y_true: np.ndarray, probs: np.ndarray, class_names, loss: float | None = None
) -> EvalReport:
    """Score predicted probabilities against the true labels.

    Args:
        y_true: `(N,)` integer class indices in `class_names` order.
        probs: `(N,)` sigmoid probability of class 1 for a binary problem, or
            `(N, C)` softmax probabilities.
        class_names: the class names, in label order.
        loss: the model's loss on this set, when known.

    Returns:
        An `EvalReport`. Precision of a class never predicted is 0.0, as is the
        recall of a class absent from `y_true`.
    """
    class_names = list(class_names)
    num_classes = len(class_names)
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    matrix = probabilities_matrix(probs, num_classes)
    if len(matrix) != len(y_true):
        raise ValueError(f"{len(y_true)} labels but {len(matrix)} predictions.")
    y_pred = matrix.argmax(axis=1) if len(matrix) else np.zeros(0, dtype=np.int64)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    n = int(len(y_true))
    correct = int(np.trace(confusion))
    low, high = wilson_interval(correct, n)
    per_class = []
    for i, name in enumerate(class_names):
        predicted, support = int(confusion[:, i].sum()), int(confusion[i].sum())
        hits = int(confusion[i, i])
        per_class.append(
            {
                "name": name,
                "precision": hits / predicted if predicted else 0.0,
                "recall": hits / support if support else 0.0,
                "support": support,
            }
        )
    return EvalReport(
        n=n,
        accuracy=correct / n if n else 0.0,
        ci_low=low,
        ci_high=high,
        loss=None if loss is None else float(loss),
        class_names=class_names,
        confusion=confusion.tolist(),
        per_class=per_class,
    )


def log_loss(y_true: np.ndarray, probs: np.ndarray, num_classes: int | None = None) -> float:
    """Mean cross-entropy of the true classes (binary or categorical alike): the data
    loss of a run's predictions, without the L2 terms Keras adds to its loss.

    Args:
        y_true: `(N,)` integer class indices.
        probs: `(N,)` binary sigmoid output or `(N, C)` probabilities.
        num_classes: number of classes C; default: 2 for a sigmoid output, else C of `probs`.
    """
    if num_classes is None:
        probs = np.asarray(probs)
        num_classes = 2 if probs.ndim == 1 or probs.shape[-1] == 1 else probs.shape[-1]
    matrix = probabilities_matrix(probs, num_classes)
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    if len(y_true) == 0:
        return 0.0
    picked = np.clip(matrix[np.arange(len(y_true)), y_true], 1e-7, 1.0)
    return float(-np.mean(np.log(picked)))


def write_predictions_csv(path, paths, y_true, probs, class_names) -> Path:
    """Write one row per image: path, true class, predicted class, `prob_<class>` each.

    Args:
        path: the CSV file to write.
        paths: the image paths, in the order of `y_true`.
        y_true: `(N,)` integer class indices.
        probs: `(N,)` binary sigmoid output or `(N, C)` probabilities.
        class_names: the class names, in label order.

    Returns:
        The path written.
    """
    class_names = list(class_names)
    matrix = probabilities_matrix(probs, len(class_names))
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "true", "predicted"] + [f"prob_{c}" for c in class_names])
        for p, t, row in zip(paths, np.asarray(y_true).reshape(-1), matrix, strict=True):
            predicted = class_names[int(np.argmax(row))]
            writer.writerow([str(p), class_names[int(t)], predicted] + [f"{v:.6f}" for v in row])
    return path


def read_predictions_csv(path) -> list[dict]:
    """Read a file written by `write_predictions_csv`.

    Returns:
        One dict per image: `path`, `true`, `predicted` (class names),
        `prob_<class>` floats (the CSV's columns) and `probabilities`
        (the same as a dict class name -> float).
    """
    rows = []
    with Path(path).open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            probs = {k[5:]: float(v) for k, v in row.items() if k.startswith("prob_")}
            rows.append(
                {
                    "path": row["path"],
                    "true": row["true"],
                    "predicted": row["predicted"],
                    **{f"prob_{c}": v for c, v in probs.items()},
                    "probabilities": probs,
                }
            )
    return rows


def confusion_cell(rows: list[dict], true: str, predicted: str) -> list[dict]:
    """The images behind one confusion-matrix cell, most confident prediction first.

    Args:
        rows: rows from `read_predictions_csv`.
        true: the cell's true class (its row).
        predicted: the cell's predicted class (its column).

    Returns:
        The matching rows, sorted by the probability of `predicted`, highest first.
    """
    keep = [r for r in rows if r["true"] == true and r["predicted"] == predicted]
    return sorted(keep, key=lambda r: -r["probabilities"].get(predicted, 0.0))


def mistakes(rows: list[dict]) -> list[dict]:
    """All misclassified images, the most confidently wrong first."""
    keep = [r for r in rows if r["true"] != r["predicted"]]
    return sorted(keep, key=lambda r: -r["probabilities"].get(r["predicted"], 0.0))
