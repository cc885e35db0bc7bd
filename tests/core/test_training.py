"""The three methods end to end: records, run folders, stop requests, seeds, failures."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core import features
from core.errors import LabError
from core.metrics import read_predictions_csv
from core.store import RunStore
from core.train_config import TrainConfig
from core.training import create_run, start_run, train

SIZE = 32  # tiny images keep every run to a few seconds on 2 cores


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """The demo dataset, generated once for this module (tests pass its folder)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LDL_HOME", str(tmp_path_factory.mktemp("demo_home")))
        from core.demo import demo_dataset

        return str(demo_dataset().root)


@pytest.fixture(scope="module")
def small_root(demo_root, tmp_path_factory):
    """A few demo images per class: one batch size of 16 divides both splits, so each
    Keras function is traced once (tracing dominates such tiny runs)."""
    root = tmp_path_factory.mktemp("small_demo")
    for split, count in (("train", 24), ("validation", 8)):
        for folder in sorted((Path(demo_root) / split).iterdir()):
            (root / split / folder.name).mkdir(parents=True)
            for image in sorted(folder.iterdir())[:count]:
                shutil.copy(image, root / split / folder.name / image.name)
    return str(root)


@pytest.fixture
def store():
    return RunStore()


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_keras"))
    monkeypatch.setenv("LDL_OFFLINE", "1")


def _config(method, data, **changes):
    return TrainConfig.defaults(method, data=data, **{"image_size": SIZE, "epochs": 1, **changes})


def test_defaults_are_the_blogs():
    scratch = TrainConfig.defaults("scratch")
    assert (scratch.optimizer, scratch.learning_rate, scratch.batch_size) == ("rmsprop", 1e-3, 16)
    assert (scratch.image_size, scratch.epochs) == (150, 50)
    assert scratch.augment.zoom == 0.2 and scratch.augment.horizontal_flip
    bottleneck = TrainConfig.defaults("bottleneck")
    assert (bottleneck.optimizer, bottleneck.epochs, bottleneck.backbone) == (
        "rmsprop",
        50,
        "vgg16",
    )
    finetune = TrainConfig.defaults("finetune")
    assert (finetune.optimizer, finetune.learning_rate, finetune.momentum) == ("sgd", 1e-4, 0.9)
    assert not finetune.train_batchnorm and finetune.unfreeze_blocks == 1
    assert TrainConfig.from_dict(finetune.to_dict()) == finetune
    with pytest.raises(LabError, match="Unknown training setting 'epoch'"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(LabError, match="dropout"):
        TrainConfig.defaults("scratch", dropout=1.5).validate()
    with pytest.raises(LabError, match="augmented copies"):
        TrainConfig.defaults("bottleneck", augment_copies=2).validate()
    with pytest.raises(LabError, match="Unknown backbone"):
        TrainConfig.defaults("bottleneck", backbone="vgg99").validate()


def test_scratch_records_metrics_and_run_folder(store, demo_root):
    run_id = start_run(_config("scratch", demo_root, epochs=2), store)
    record = store.get(run_id)
    assert record.status == "finished" and record.error is None
    epochs = store.epochs(run_id)
    assert [e["epoch"] for e in epochs] == [1, 2]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds"):
        assert all(e[key] is not None for e in epochs)
    batches = store.batches(run_id)
    last = [b for b in batches if b["batch"] == b["batches_per_epoch"]]
    assert [b["epoch"] for b in last] == [1, 2]  # the last batch of each epoch is always logged
    assert all(b["images_per_second"] > 0 for b in batches)
    summary = record.summary
    assert summary.val_n == 120 and summary.epochs_run == 2
    assert summary.val_ci_low <= summary.val_accuracy <= summary.val_ci_high
    assert summary.val_accuracy == pytest.approx(epochs[-1]["val_accuracy"], abs=1e-6)
    assert summary.total_params == summary.trainable_params > 0
    folder = store.run_dir(run_id)
    for name in ("model.keras", "best.keras", "predictions.csv", "report.json", "config.json"):
        assert (folder / name).is_file(), name
    rows = read_predictions_csv(folder / "predictions.csv")
    assert len(rows) == 120 and {"prob_circles", "prob_triangles"} <= set(rows[0])
    report = json.loads((folder / "report.json").read_text())
    assert report["n"] == 120 and len(report["confusion"]) == 2
    assert _event_tags(folder / "tensorboard" / "validation") >= {"epoch_loss", "epoch_accuracy"}


def _event_tags(folder) -> set:
    """Scalar tags in the TensorBoard event files of a folder."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    tags = set()
    for file in folder.glob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(file)):
            event = event_pb2.Event.FromString(record.numpy())
            tags |= {value.tag for value in event.summary.value}
    return tags


def test_batch_records_are_throttled_but_keep_each_epochs_last(store, make_run):
    from core.callbacks import StoreProgress

    run_id = make_run(status="queued", data="x", epochs=2, store=store).id
    progress = StoreProgress(store, run_id, batch_size=4, num_samples=38, min_interval=3600)
    progress.set_params({"steps": 10, "epochs": 2})
    progress.on_train_begin()
    for epoch in range(2):
        progress.on_epoch_begin(epoch)
        for batch in range(10):
            progress.on_train_batch_end(batch, {"loss": 0.5, "accuracy": 0.75})
    rows = store.batches(run_id)
    assert [(r["epoch"], r["batch"]) for r in rows] == [(1, 1), (1, 10), (2, 1), (2, 10)]
    assert rows[-1]["loss"] == 0.5 and rows[-1]["images_per_second"] > 0


def test_bottleneck_second_run_hits_the_feature_cache(store, small_root, monkeypatch):
    config = _config("bottleneck", small_root, backbone="vgg16", pretrained=False)
    first = store.get(start_run(config, store))
    assert first.status == "finished" and not first.summary.feature_cache_hit
    assert first.summary.extract_seconds > 0 and not first.pretrained

    def no_extraction(*args, **kwargs):
        raise AssertionError("features were extracted again")

    monkeypatch.setattr(features, "extract", no_extraction)
    second = store.get(start_run(config, store))
    assert second.status == "finished"
    assert second.summary.feature_cache_hit and second.summary.extract_seconds == 0
    assert (store.run_dir(second.id) / "top.weights.h5").is_file()


def test_bottleneck_repeats_for_a_seed_whether_features_are_cached_or_not(store, small_root):
    """A cache miss builds the base before the top, a hit after it: the top still starts
    from the same weights, so a seed gives the same epochs either way."""
    config = _config("bottleneck", small_root, backbone="vgg16", pretrained=False, epochs=2)
    first, second = (store.get(start_run(config, store)) for _ in range(2))
    assert not first.summary.feature_cache_hit and second.summary.feature_cache_hit
    for a, b in zip(store.epochs(first.id), store.epochs(second.id), strict=True):
        for key in ("loss", "val_loss", "val_accuracy"):
            assert a[key] == pytest.approx(b[key], abs=1e-6)


def test_a_non_deterministic_bottleneck_trains_its_top_under_xla(store, small_root, monkeypatch):
    """Keras leaves XLA off on CPU ("auto") and refuses it under op determinism; a
    `deterministic=False` run compiles its top model with XLA."""
    import keras

    from core import training

    compiled = []
    compile_model = training.compile_model
    monkeypatch.setattr(
        training,
        "compile_model",
        lambda model, *args: compiled.append(model) or compile_model(model, *args),
    )
    config = _config("bottleneck", small_root, backbone="vgg16", pretrained=False, epochs=2)
    for deterministic in (True, False):
        changed = dataclasses.replace(config, deterministic=deterministic)
        assert store.get(start_run(changed, store)).status == "finished"
    on_tensorflow = keras.backend.backend() == "tensorflow"
    assert [model.jit_compile for model in compiled] == [False, on_tensorflow]


def test_random_base_features_are_keyed_by_its_weights(store, small_root):
    """pretrained=False: another seed is another random base, whose features differ; a
    hit means the saved classifier's base is the one its top was trained on."""
    config = _config("bottleneck", small_root, backbone="vgg16", pretrained=False, seed=1)
    first = store.get(start_run(config, store))
    other = store.get(start_run(dataclasses.replace(config, seed=2), store))
    again = store.get(start_run(config, store))
    assert not first.summary.feature_cache_hit and not other.summary.feature_cache_hit
    assert again.summary.feature_cache_hit


def test_finetune_trains_its_top_first_and_records_stage1(store, small_root):
    config = _config("finetune", small_root, backbone="vgg16", pretrained=False, top_epochs=1)
    record = store.get(start_run(config, store))
    assert record.status == "finished"
    stage1 = store.get(record.summary.stage1_run_id)
    assert stage1.method == "bottleneck" and stage1.status == "finished"
    assert record.summary.top_run_id == stage1.id
    assert 0 < record.summary.trainable_params < record.summary.total_params
    assert len(store.epochs(record.id)) == 1

    wrong = _config(
        "finetune", small_root, backbone="mobilenet_0.25", pretrained=False, top_run=stage1.id
    )
    with pytest.raises(LabError, match=f"Run {stage1.id} cannot provide the top model"):
        start_run(wrong, store)
    failed = store.list_runs()[0]
    assert failed.status == "failed" and "used backbone vgg16" in failed.error


def test_stop_request_takes_effect_within_one_batch(store, small_root):
    config = _config("scratch", small_root, epochs=3)
    run_id = create_run(config, store, status="running")
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) >= 2

    record = train(config, store, run_id, should_stop=should_stop)
    assert record.status == "stopped"
    assert len(calls) == 2  # polled after batches 1 and 2, then no more batches ran
    assert len(store.epochs(run_id)) == 1
    assert record.summary.val_n == 16  # what was learned is kept and evaluated
    assert (store.run_dir(run_id) / "model.keras").is_file()


def test_stop_request_from_the_store(store, small_root):
    config = _config("scratch", small_root, epochs=2)
    run_id = create_run(config, store, status="running")
    store.request_stop(run_id)
    assert train(config, store, run_id).status == "stopped"
    assert store.epochs(run_id)[0]["epoch"] == 1 and len(store.epochs(run_id)) == 1


def test_same_seed_same_first_epoch(store, small_root):
    def first_epoch(seed):
        run_id = start_run(_config("scratch", small_root, seed=seed), store)
        return store.epochs(run_id)[0]

    a, b, c = first_epoch(7), first_epoch(7), first_epoch(8)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert a[key] == pytest.approx(b[key], abs=1e-5)
    assert a["loss"] != pytest.approx(c["loss"], abs=1e-5)


def test_best_checkpoint_is_restored(store, small_root):
    config = _config("scratch", small_root, epochs=3, checkpoint_best=True)
    record = store.get(start_run(config, store))
    summary = record.summary
    assert summary.epochs_run == 3 and summary.best_weights_restored
    assert summary.val_accuracy == pytest.approx(summary.best_val_accuracy, abs=1e-6)


def test_early_stopping_ends_when_validation_loss_stalls(store, small_root):
    # A learning rate far below float32 resolution leaves the weights as they are, so the
    # validation loss never improves after epoch 1: patience 1 stops after epoch 2 of 5.
    config = _config(
        "scratch", small_root, epochs=5, learning_rate=1e-20, early_stopping_patience=1
    )
    record = store.get(start_run(config, store))
    assert record.status == "finished"
    assert record.summary.epochs_run == 2 and len(store.epochs(record.id)) == 2


def test_augmentation_in_the_model_is_saved_with_it(store, small_root):
    from core.models import load_model

    for augment_on, inside in (("model", True), ("pipeline", False)):
        run_id = start_run(_config("scratch", small_root, augment_on=augment_on), store)
        model = load_model(store.run_dir(run_id) / "model.keras")
        assert any(layer.name == "augmentation" for layer in model.layers) == inside


def test_missing_weights_fail_clearly_with_a_record(store, small_root, offline):
    config = _config("bottleneck", small_root, backbone="vgg16")
    with pytest.raises(LabError, match="cannot be downloaded") as info:
        start_run(config, store)
    record = store.list_runs()[0]
    assert record.status == "failed" and record.error == str(info.value)
    assert "--no-pretrained" in record.error


def test_bad_dataset_fails_clearly_with_a_record(store, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LabError):
        start_run(_config("scratch", str(empty)), store)
    record = store.list_runs()[0]
    assert record.status == "failed" and "empty" in record.error


@pytest.mark.shared
@pytest.mark.slow
def test_multiclass_on_a_few_flowers(store, shared, tmp_path):
    source = shared / "datasets" / "flowers5"
    for split, count in (("train", 6), ("validation", 2)):
        for folder in sorted((source / split).iterdir()):
            target = tmp_path / "flowers" / split / folder.name
            target.mkdir(parents=True)
            for image in sorted(folder.iterdir())[:count]:
                shutil.copy(image, target / image.name)
    run_id = start_run(_config("scratch", str(tmp_path / "flowers")), store)
    summary = store.get(run_id).summary
    assert summary.num_classes == 5 and summary.val_n == 10
    report = json.loads((store.run_dir(run_id) / "report.json").read_text())
    assert np.array(report["confusion"]).shape == (5, 5)
    rows = read_predictions_csv(store.run_dir(run_id) / "predictions.csv")
    assert sum(k.startswith("prob_") for k in rows[0]) == 5


@pytest.mark.shared
@pytest.mark.slow
def test_imagenet_bottleneck_then_finetune_from_it(store, small_root, keras_home, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    top = store.get(
        start_run(_config("bottleneck", small_root, backbone="mobilenet_v2_0.35"), store)
    )
    assert top.status == "finished" and top.pretrained and top.summary.pretrained
    config = _config("finetune", small_root, backbone="mobilenet_v2_0.35", top_run=top.id)
    record = store.get(start_run(config, store))
    assert record.status == "finished" and record.summary.top_run_id == top.id
    assert record.summary.stage1_run_id is None


class _PhaseLog(RunStore):
    """A run store that also keeps every phase written, in order."""

    def __init__(self):
        super().__init__()
        self.phases = []

    def set_phase(self, run_id, name, done=0, total=0):
        self.phases.append((run_id, name, done, total))
        super().set_phase(run_id, name, done, total)


def _phases_of(store, run_id):
    return [(name, done, total) for rid, name, done, total in store.phases if rid == run_id]


def test_scratch_run_reports_decode_prepare_train_and_evaluate_with_counts(small_root, tmp_path):
    root = tmp_path / "with_test"
    shutil.copytree(small_root, root)
    shutil.copytree(Path(small_root) / "validation", root / "test")  # 16 more to evaluate
    store = _PhaseLog()
    run_id = start_run(_config("scratch", str(root)), store)
    phases = _phases_of(store, run_id)
    names = [name for name, _, _ in phases]
    first = {name: names.index(name) for name in set(names)}
    assert first["decode"] < first["prepare"] < first["train"] < first["evaluate"]
    decode = [(d, t) for n, d, t in phases if n == "decode"]
    assert decode[0] == (0, 80) and decode[-1] == (80, 80)  # 48 train, 16 validation, 16 test
    evaluate = [(d, t) for n, d, t in phases if n == "evaluate"]
    assert evaluate[0] == (0, 32) and evaluate[-1] == (32, 32)  # validation, then test
    assert store.phase(run_id).name == "evaluate"
    summary = store.get(run_id).summary
    assert summary.decode_seconds > 0


def test_bottleneck_reports_extraction_per_batch_and_finetune_its_stage1(small_root):
    store = _PhaseLog()
    config = _config("finetune", small_root, backbone="vgg16", pretrained=False, top_epochs=2)
    run_id = start_run(config, store)
    stage1 = store.get(run_id).summary.stage1_run_id
    extract = [(d, t) for n, d, t in _phases_of(store, stage1) if n == "extract"]
    # extraction in batches of 32: train 48 images -> 2, validation 16 -> 1
    assert extract[0] == (0, 3) and extract[-1] == (3, 3)
    stage = [(d, t) for n, d, t in _phases_of(store, run_id) if n == "stage1"]
    assert stage == [(0, 2), (1, 2), (2, 2)]  # the fine-tuning run shows its stage 1's epochs
    assert "evaluate" in [n for n, _, _ in _phases_of(store, run_id)]


def test_improved_defaults_are_adamw_on_a_cosine_schedule():
    improved = TrainConfig.defaults("improved")
    assert (improved.optimizer, improved.schedule, improved.image_size) == ("adamw", "cosine", 128)
    assert improved.label_smoothing > 0 and improved.augment.contrast > 0
    assert not improved.uses_backbone
    assert TrainConfig.from_dict(improved.to_dict()) == improved
    with pytest.raises(LabError, match="schedule must be one of constant, cosine"):
        TrainConfig.defaults("improved", schedule="step").validate()
    with pytest.raises(LabError, match="label_smoothing"):
        TrainConfig.defaults("improved", label_smoothing=1.0).validate()


def test_cosine_schedule_warms_up_then_decays_to_zero():
    from core.fitting import _learning_rate

    config = TrainConfig.defaults("improved", epochs=40, learning_rate=2e-3)
    assert _learning_rate(dataclasses.replace(config, schedule="constant"), 10) == 2e-3
    rate = _learning_rate(config, steps_per_epoch=10)  # 400 steps, 20 of warm-up
    at = [float(rate(step)) for step in (0, 10, 20, 210, 399, 400)]
    assert at[0] == 0.0 and at[1] == pytest.approx(1e-3) and at[2] == pytest.approx(2e-3)
    assert at[3] == pytest.approx(1e-3, rel=0.01)  # half way through the decay
    assert at[4] < 1e-6 and at[5] == 0.0


def test_improved_records_metrics_and_a_loadable_model(store, small_root):
    from core.models import load_model

    run_id = start_run(_config("improved", small_root, epochs=2, batch_size=16), store)
    record = store.get(run_id)
    assert record.status == "finished" and record.error is None
    assert (record.method, record.backbone, record.pretrained) == ("improved", None, False)
    epochs = store.epochs(run_id)
    assert [e["epoch"] for e in epochs] == [1, 2]
    summary = record.summary
    assert summary.epochs_run == 2 and summary.val_n == 16
    assert summary.val_ci_low <= summary.val_accuracy <= summary.val_ci_high
    assert summary.val_accuracy == pytest.approx(epochs[-1]["val_accuracy"], abs=1e-6)
    model = load_model(store.run_dir(run_id) / "model.keras")
    assert model.name == "improved_cnn" and model.input_shape == (None, SIZE, SIZE, 3)
    assert json.loads((store.run_dir(run_id) / "config.json").read_text())["schedule"] == "cosine"


def test_improved_timing_builds_its_own_model_not_a_backbone(monkeypatch):
    from core import backbones
    from core.fitting import time_epochs

    def no_backbone(*args, **kwargs):
        raise AssertionError("the improved CNN has no conv base")

    monkeypatch.setattr(backbones, "build_base", no_backbone)
    config = TrainConfig.defaults("improved", image_size=SIZE, batch_size=8)
    timing = time_epochs(config, num_classes=2, steps=2, val_steps=1)
    assert timing.train_step > 0 and timing.steps == 2
