"""Time-per-epoch estimates: from past runs, and measured on this machine."""

import dataclasses

from core import estimate
from core.store import RunStore
from core.training import TrainConfig


def test_from_history_scales_by_pixels_and_matches_method_and_dataset():
    store = RunStore()
    run_id = store.create_run(
        name="past", method="scratch", backbone=None, config={"image_size": 32},
        dataset="demo", fingerprint="", epochs_planned=1, pretrained=False,
    )  # fmt: skip
    store.update_summary(run_id, seconds_per_epoch=2.0)
    store.finish(run_id, "finished")
    records = store.list_runs()
    guess = estimate.from_history(records, "scratch", None, "demo", 64)
    assert guess.seconds_per_epoch == 8.0 and f"#{run_id}" in guess.basis
    assert estimate.from_history(records, "scratch", None, "/other", 64) is None
    assert estimate.from_history(records, "bottleneck", "vgg16", "demo", 64) is None


def test_measure_times_real_steps_of_each_method():
    scratch = TrainConfig.defaults("scratch", image_size=32, batch_size=8)
    guess = estimate.measure(scratch, num_classes=2, n_train=80, n_val=16, steps=1)
    assert guess.seconds_per_epoch > 0 and guess.once_seconds == 0
    bottleneck = dataclasses.replace(
        TrainConfig.defaults("bottleneck", image_size=32, batch_size=8),
        backbone="mobilenet_v2_0.35",
    )
    guess = estimate.measure(bottleneck, num_classes=3, n_train=80, n_val=16, steps=1)
    assert guess.seconds_per_epoch > 0 and guess.once_seconds > 0
