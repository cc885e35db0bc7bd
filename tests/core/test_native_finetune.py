"""Issue 10: pretrained methods at their backbone's native size; fine-tuning ends with its
best epoch and is shown beside the top run it started from (generated data)."""

import dataclasses
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from core import features
from core.backbones import BACKBONES
from core.run_summary import RunSummary
from core.runs_view import below_top_run_warning, result_line
from core.store import RunStore
from core.train_config import BLOG_IMAGE_SIZE, TrainConfig
from core.training import start_run


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """A few demo images per class (16 train, 8 validation each): runs take seconds."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LDL_HOME", str(tmp_path_factory.mktemp("demo_home")))
        from core.demo import demo_dataset

        demo = Path(demo_dataset().root)
    root = tmp_path_factory.mktemp("tiny_demo")
    for split, count in (("train", 16), ("validation", 8)):
        for folder in sorted((demo / split).iterdir()):
            (root / split / folder.name).mkdir(parents=True)
            for image in sorted(folder.iterdir())[:count]:
                shutil.copy(image, root / split / folder.name / image.name)
    return str(root)


def test_pretrained_methods_default_to_the_backbones_native_size():
    assert TrainConfig.defaults("finetune").checkpoint_best  # restores its best epoch
    assert not TrainConfig.defaults("scratch").checkpoint_best
    for method in ("bottleneck", "finetune"):
        for name, backbone in BACKBONES.items():
            config = TrainConfig.defaults(method, backbone=name)
            assert config.image_size == backbone.native_size
        assert TrainConfig.defaults(method, backbone="mobilenet_v2_1.0").image_size == 224
        assert TrainConfig.blog(method).image_size == BLOG_IMAGE_SIZE == 150
        assert TrainConfig.defaults(method, image_size=96).image_size == 96  # a chosen size
    assert TrainConfig.defaults("scratch").image_size == 150  # the blog's, from scratch
    # Everything but the size is the blog's.
    native, blog = TrainConfig.defaults("finetune"), TrainConfig.blog("finetune")
    assert {**native.to_dict(), "image_size": 150} == blog.to_dict()


def test_the_blog_queue_keeps_the_blogs_150(tmp_path):
    from core import runner

    store = RunStore(tmp_path / "home")
    original = runner.ensure_worker
    runner.ensure_worker = lambda: 0
    try:
        ids = runner.queue_blog_experiments("demo", backbone="mobilenet_0.25", store=store)
    finally:
        runner.ensure_worker = original
    assert [store.get(i).config.image_size for i in ids] == [150, 150, 150]


@pytest.mark.slow
def test_native_size_extraction_reports_progress_and_a_rerun_hits_the_cache(tiny_root, monkeypatch):
    store = RunStore()
    config = TrainConfig.defaults(
        "bottleneck", data=tiny_root, backbone="mobilenet_0.25", pretrained=False, epochs=1
    )
    assert config.image_size == 224
    first = store.get(start_run(config, store))
    assert first.status == "finished" and not first.summary.feature_cache_hit
    assert first.summary.extract_seconds > 0

    def no_extraction(*args, **kwargs):
        raise AssertionError("features were extracted again")

    monkeypatch.setattr(features, "extract", no_extraction)
    second = store.get(start_run(config, store))
    assert second.status == "finished" and second.summary.feature_cache_hit


@pytest.fixture(scope="module")
def uneven_root(tiny_root, tmp_path_factory):
    """tiny_root with 6 validation images of the first class and 2 of the second: a
    model that always answers the first class scores 0.75, the second 0.25."""
    root = tmp_path_factory.mktemp("uneven_demo")
    shutil.copytree(tiny_root, root, dirs_exist_ok=True)
    first, second = sorted((root / "validation").iterdir())
    for image in sorted(first.iterdir())[6:] + sorted(second.iterdir())[2:]:
        image.unlink()
    return str(root)


class _WorseEachEpoch(keras.callbacks.Callback):
    """Makes fine-tuning worse after its first epoch, deterministically: its output unit
    answers the first class in epoch 1 (0.75 on uneven_root), the second after (0.25)."""

    def on_train_batch_end(self, batch, logs=None):
        kernel, bias = _output_layer(self.model).weights
        kernel.assign(np.zeros(kernel.shape, "float32"))
        sign = -1.0 if self._epoch == 0 else 1.0  # a sigmoid unit: below 0.5 is class 0
        bias.assign(np.full(bias.shape, 10.0 * sign, "float32"))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


def _output_layer(model):
    for layer in model.layers:
        if layer.name == "predictions":
            return layer
        if hasattr(layer, "layers"):
            found = _output_layer(layer)
            if found is not None:
                return found
    return None


@pytest.mark.slow  # ~40 s on 2 cores: stage 1, then three fine-tuning epochs
def test_a_finetune_run_that_gets_worse_ends_with_its_best_epoch(uneven_root, monkeypatch):
    from core import training
    from core.fitting import TrainingRun

    def sabotaged(config, *args, **kwargs):
        run = TrainingRun(config, *args, **kwargs)
        if config.method == "finetune":
            run.extra_callbacks.append(_WorseEachEpoch())
        return run

    monkeypatch.setattr(training, "TrainingRun", sabotaged)
    store = RunStore()
    config = TrainConfig.defaults(
        "finetune", data=uneven_root, backbone="mobilenet_0.25", pretrained=False,
        image_size=32, epochs=3, top_epochs=1,
    )  # fmt: skip
    assert config.checkpoint_best  # fine-tuning restores its best epoch by default
    record = store.get(start_run(config, store))
    summary = record.summary
    assert [e["val_accuracy"] for e in store.epochs(record.id)] == pytest.approx([0.75, 0.25, 0.25])
    assert summary.best_weights_restored and summary.restored_by == "val_accuracy"
    assert summary.best_epoch == 1 and summary.final_val_accuracy == pytest.approx(0.25)
    assert summary.val_accuracy == pytest.approx(0.75)  # the evaluated, restored model
    stage1 = store.get(summary.top_run_id)
    assert stage1.summary.val_accuracy is not None
    assert summary.top_run_val_accuracy == stage1.summary.val_accuracy
    assert f"Its top model (run {stage1.id}) had" in result_line(summary)


def test_the_warning_says_when_finetuning_ends_below_its_top_run():
    below = RunSummary(
        val_accuracy=0.8, val_ci_low=0.7, val_ci_high=0.9, val_n=100, top_run_id=3,
        top_run_val_accuracy=0.85, best_weights_restored=True, restored_by="val_accuracy",
    )  # fmt: skip
    warning = below_top_run_warning(below)
    assert warning.startswith("Fine-tuning ended below its top model")
    assert "0.800" in warning and "0.850" in warning and "run 3" in warning
    assert warning.count(".") == 3  # one sentence: its two figures and the full stop
    assert "(by validation accuracy) were restored" in result_line(below)
    assert below_top_run_warning(dataclasses.replace(below, val_accuracy=0.85)) is None
    assert below_top_run_warning(dataclasses.replace(below, top_run_val_accuracy=None)) is None
