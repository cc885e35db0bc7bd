"""The lab's own measured run of the blog's experiment (`bench/results/blog_table.json`),
and a rough time for queueing the blog's three experiments on another dataset.

Standard library only: the overview page reads the table at start-up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.i18n import _
from core.paths import PROJECT_ROOT

TABLE = PROJECT_ROOT / "bench" / "results" / "blog_table.json"
BLOG_TRAIN_N = 2000  # the blog's (and the bench's) training images
BLOG_SIZE = 150


@dataclass
class MeasuredRow:
    """One method of the lab's own run of the blog's table."""

    method: str
    backbone: str | None
    epochs: int
    val_accuracy: float
    ci_low: float
    ci_high: float
    n: int
    seconds_per_epoch: float
    total_seconds: float


def measured_table(path: Path = TABLE) -> list[MeasuredRow]:
    """The finished rows of the lab's run of the blog's table, or [] when it is absent."""
    try:
        rows = json.loads(path.read_text("utf-8"))["rows"]
    except (OSError, ValueError, KeyError):
        return []
    return [
        MeasuredRow(
            r["method"],
            r.get("backbone"),
            r["epochs"],
            r["val_accuracy"],
            r["ci"][0],
            r["ci"][1],
            r["n"],
            r["seconds_per_epoch"],
            r["total_seconds"],
        )  # fmt: skip
        for r in rows
        if r.get("status") == "finished" and r.get("val_accuracy") is not None
    ]


def queue_seconds(configs: list, n_train: int, history: dict) -> tuple[float | None, str]:
    """A rough total time for training `configs` one after the other, and its basis.

    Args:
        configs: `TrainConfig`s (the blog's three).
        n_train: training images of the dataset.
        history: method -> seconds per epoch measured on this dataset (e.g. from
            `core.estimate.from_history`); a missing method is scaled from the lab's
            own run (pixels and images relative to 2000 images at 150 px).

    Returns:
        `(seconds, basis in words)`, or `(None, reason)` when nothing to go on.
    """
    measured = {row.method: row for row in measured_table()}
    total, scaled = 0.0, []
    for config in configs:
        per_epoch = history.get(config.method)
        if per_epoch is None:
            row = measured.get(config.method)
            if row is None:
                return None, _("no measured {method} run to go on").format(method=config.method)
            scale = (n_train / BLOG_TRAIN_N) * (config.image_size / BLOG_SIZE) ** 2
            per_epoch = row.seconds_per_epoch * scale
            scaled.append(config.method)
        total += per_epoch * config.epochs
    if scaled:
        return total, "a rough figure: " + " and ".join(scaled) + " scaled from the lab's own run"
    return total, "from earlier runs on this dataset"
