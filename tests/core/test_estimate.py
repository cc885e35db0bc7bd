"""Time-per-epoch estimates: from past runs, and measured on this machine.

The arithmetic is checked on generated timings; no assertion is about speed.
"""

import dataclasses
import math

import pytest

from core import estimate, fitting
from core.augment_config import PRESETS
from core.callbacks import EpochTimer, EpochTiming
from core.store import RunStore
from core.train_config import TrainConfig


@pytest.fixture
def past(make_run):
    """A past run on the demo with these summary figures (its id)."""

    def make(method="scratch", size=32, status="finished", backbone="vgg16", store=None, **summary):
        return make_run(
            method, status=status, summary=summary, store=store, name="past", image_size=size,
            backbone=backbone, epochs=3, pretrained=False,
        ).id  # fmt: skip

    return make


def test_from_history_scales_by_pixels_and_matches_method_and_dataset(past):
    store = RunStore()
    run_id = past(seconds_per_epoch=2.0)
    records = store.list_runs()
    guess = estimate.from_history(records, "scratch", None, "demo", 64)
    assert guess.seconds_per_epoch == 8.0 and f"#{run_id}" in guess.basis
    assert estimate.from_history(records, "scratch", None, "/other", 64) is None
    assert estimate.from_history(records, "bottleneck", "vgg16", "demo", 64) is None


def test_from_history_prefers_a_steady_epoch_and_gives_the_once_costs(past):
    store = RunStore()
    steady = past(
        "bottleneck", 150, backbone="vgg16", seconds_per_epoch=9.0,
        steady_seconds_per_epoch=4.0, warmup_seconds=3.0, decode_seconds=20.0,
        extract_seconds=10.0, feature_cache_hit=False,
    )  # fmt: skip
    past("bottleneck", 150, backbone="vgg16", seconds_per_epoch=12.0)  # 1 epoch: newer
    guess = estimate.from_history(store.list_runs(), "bottleneck", "vgg16", "demo", 300)
    assert f"#{steady}" in guess.basis
    assert guess.seconds_per_epoch == 16.0  # 4 s at 150 px, 4x the pixels
    assert guess.once_parts == {"decode": 80.0, "extract": 40.0, "warmup": 3.0}
    assert guess.once_seconds == 123.0 and guess.total(10) == 123.0 + 160.0
    assert "feature extraction 40 s" in guess.basis

    store2 = RunStore(store.path.parent / "other.sqlite")
    past("bottleneck", 150, backbone="vgg16", store=store2, steady_seconds_per_epoch=4.0,
         extract_seconds=0.0, feature_cache_hit=True)  # fmt: skip
    hit = estimate.from_history(store2.list_runs(), "bottleneck", "vgg16", "demo", 150)
    assert "extract" not in hit.once_parts and hit.once_seconds == 0.0


TIMING = EpochTiming(train_step=0.1, val_step=0.05, fixed=1.0, warmup=5.0, steps=8, val_steps=4)


@pytest.fixture
def timed(monkeypatch):
    """measure() with generated timings instead of timed epochs."""
    asked = []

    def fake_time_epochs(config, num_classes, steps=8, val_steps=4):
        asked.append(config.method)
        return TIMING

    monkeypatch.setattr(fitting, "time_epochs", fake_time_epochs)
    monkeypatch.setattr(estimate, "extract_seconds", lambda config, images: images * 0.01)
    monkeypatch.setattr(estimate, "decode_seconds", lambda ds, size, mode: 30.0)
    return asked


def test_measure_scales_train_and_validation_batches_and_the_fixed_rest(timed):
    config = TrainConfig.defaults("scratch", batch_size=16)
    guess = estimate.measure(config, 2, n_train=2000, n_val=801)
    # 125 training batches, 51 validation batches (rounded up), plus the fixed rest.
    assert guess.seconds_per_epoch == pytest.approx(1.0 + 0.1 * 125 + 0.05 * 51)
    assert guess.once_parts == {"warmup": 5.0}  # no dataset given: decoding not timed
    assert guess.total(3) == pytest.approx(5.0 + 3 * guess.seconds_per_epoch)


def test_measure_bottleneck_counts_extraction_unless_cached(timed, monkeypatch):
    config = TrainConfig.defaults("bottleneck", batch_size=16, backbone="vgg16")
    monkeypatch.setattr(estimate, "_features_cached", lambda config, dataset: False)
    guess = estimate.measure(config, 2, n_train=2000, n_val=800, dataset=object())
    assert guess.once_parts == {"decode": 30.0, "extract": 28.0, "warmup": 5.0}
    assert "feature extraction 28 s" in guess.basis and "decoding images 30 s" in guess.basis
    monkeypatch.setattr(estimate, "_features_cached", lambda config, dataset: True)
    cached = estimate.measure(config, 2, n_train=2000, n_val=800, dataset=object())
    assert "extract" not in cached.once_parts


def test_measure_finetune_without_a_top_run_counts_stage1(timed):
    config = TrainConfig.defaults("finetune", batch_size=16, backbone="vgg16", top_epochs=4)
    guess = estimate.measure(config, 2, n_train=2000, n_val=800)
    epoch = 1.0 + 0.1 * 125 + 0.05 * 50
    stage1 = 28.0 + 5.0 + 4 * epoch  # its extraction, its warm-up, 4 epochs of the top
    assert guess.seconds_per_epoch == pytest.approx(epoch)
    assert guess.once_parts == pytest.approx({"stage1": stage1, "warmup": 5.0})
    assert timed == ["finetune", "bottleneck"]
    with_top = estimate.measure(dataclasses.replace(config, top_run=7), 2, 2000, 800)
    assert "stage1" not in with_top.once_parts


def test_measure_finetune_without_augmentation_counts_its_prefix_once(timed, past):
    config = TrainConfig.defaults(
        "finetune", batch_size=16, backbone="vgg16", top_run=7, augment=PRESETS["none"]
    )
    guess = estimate.measure(config, 2, n_train=2000, n_val=800)
    assert guess.once_parts == pytest.approx({"extract": 28.0, "warmup": 5.0})
    augmented = estimate.measure(dataclasses.replace(config, augment=PRESETS["blog: training"]),
                                 2, 2000, 800)  # fmt: skip
    assert "extract" not in augmented.once_parts
    # A past run's prefix seconds are its once-only cost.
    past("finetune", 150, steady_seconds_per_epoch=4.0, prefix_cached=True, prefix_seconds=6.0)
    old = estimate.from_history(RunStore().list_runs(), "finetune", "vgg16", "demo", 150)
    assert old.once_parts == {"extract": 6.0}


def test_measure_finetune_with_copies_counts_1_plus_k_images(timed):
    config = TrainConfig.defaults(
        "finetune", batch_size=16, backbone="vgg16", top_run=7, augment_copies=3
    )
    guess = estimate.measure(config, 2, n_train=2000, n_val=800)
    # 4 x 2000 training images per epoch; the prefix over them and validation, once.
    assert guess.seconds_per_epoch == pytest.approx(1.0 + 0.1 * 500 + 0.05 * 50)
    assert guess.once_parts == pytest.approx({"extract": 88.0, "warmup": 5.0})


def test_epoch_timer_takes_the_second_epoch_apart(monkeypatch):
    timer = EpochTimer()
    # Epoch 1: 3 s of tracing, then 4 steps of 0.5 s and 2 validation steps of 0.25 s.
    # Epoch 2: first step 0.7 s, then 0.5 s each; validation 0.4 s to the first batch.
    times = [0.0]  # train begin
    times += [3.5, 4.0, 4.5, 5.0, 5.25, 5.5, 5.6]  # epoch 1 batches, val batches, end
    times += [6.3, 6.8, 7.3, 7.8, 8.2, 8.45, 8.6]  # epoch 2
    clock = iter(times)
    monkeypatch.setattr("core.callbacks.time.perf_counter", lambda: next(clock))
    timer.on_train_begin()
    for epoch in range(2):
        timer.on_epoch_begin(epoch)
        for batch in range(4):
            timer.on_train_batch_end(batch)
        for batch in range(2):
            timer.on_test_batch_end(batch)
        timer.on_epoch_end(epoch)
    timing = timer.timing(steps=4, val_steps=2)
    assert timing.train_step == pytest.approx(0.5) and timing.val_step == pytest.approx(0.25)
    steady = 8.6 - 5.6
    assert timing.fixed == pytest.approx(steady - 4 * 0.5 - 2 * 0.25)
    assert timing.warmup == pytest.approx(5.6 - steady)
    assert timing.epoch_seconds(125, 50) == pytest.approx(timing.fixed + 62.5 + 12.5)


@pytest.mark.slow
def test_measure_times_real_epochs_of_each_method():
    scratch = TrainConfig.defaults("scratch", image_size=32, batch_size=8)
    guess = estimate.measure(scratch, num_classes=2, n_train=80, n_val=16, steps=3)
    assert guess.seconds_per_epoch > 0 and "extract" not in guess.once_parts
    bottleneck = dataclasses.replace(
        TrainConfig.defaults("bottleneck", image_size=32, batch_size=8),
        backbone="mobilenet_v2_0.35",
    )
    guess = estimate.measure(bottleneck, num_classes=3, n_train=80, n_val=16, steps=3)
    assert guess.seconds_per_epoch > 0 and guess.once_parts["extract"] > 0
    assert math.isclose(guess.once_seconds, sum(guess.once_parts.values()))
