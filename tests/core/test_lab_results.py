"""The lab's measured blog table, and the rough time of queueing the blog's three runs."""

import pytest

from core.lab_results import measured_table, queue_seconds
from core.train_config import TrainConfig

PLAN = [TrainConfig.defaults(m, image_size=75) for m in ("scratch", "bottleneck", "finetune")]


def test_the_measured_table_is_the_bench_json():
    rows = {row.method: row for row in measured_table()}
    assert set(rows) == {"scratch", "bottleneck", "finetune"}
    assert all(
        0 < r.ci_low <= r.val_accuracy <= r.ci_high <= 1 and r.n == 800 for r in rows.values()
    )


def test_without_history_the_labs_run_is_scaled_by_images_and_pixels():
    rows = {row.method: row for row in measured_table()}
    seconds, basis = queue_seconds(PLAN, n_train=1000, history={})
    scale = (1000 / 2000) * (75 / 150) ** 2
    expected = sum(rows[c.method].seconds_per_epoch * scale * c.epochs for c in PLAN)
    assert seconds == pytest.approx(expected) and "rough" in basis


def test_history_on_this_dataset_wins():
    history = {"scratch": 2.0, "bottleneck": 1.0, "finetune": 3.0}
    seconds, basis = queue_seconds(PLAN, n_train=1000, history=history)
    assert seconds == pytest.approx(sum(history[c.method] * c.epochs for c in PLAN))
    assert basis == "from earlier runs on this dataset"


def test_no_table_no_figure(monkeypatch, tmp_path):
    from core import lab_results

    monkeypatch.setattr(lab_results, "TABLE", tmp_path / "missing.json")
    monkeypatch.setattr(lab_results.measured_table, "__defaults__", (tmp_path / "missing.json",))
    assert queue_seconds(PLAN, 1000, {})[0] is None
