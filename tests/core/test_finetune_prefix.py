"""Issue 13: fine-tuning without augmentation trains only its tail on the cached outputs
of the frozen prefix; the same predictions as training the whole model (generated data,
MobileNetV2 alpha 0.35 at 64 and 32 px with random weights, VGG16 at 32 px)."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from core import backbones, fitting, models
from core.augment_config import PRESETS
from core.datasets import load_dataset
from core.metrics import read_predictions_csv
from core.pipeline import load_split
from core.store import RunStore
from core.train_config import TrainConfig
from core.training import start_run

MOBILENET, SIZE = "mobilenet_v2_0.35", 64
E2E_SIZE = 32  # whole runs: the smallest size MobileNetV2 takes


def _finetune_model(backbone=MOBILENET, size=SIZE, blocks=1):
    base = backbones.build_base(backbone, size, pretrained=False)
    top = models.make_top_model(base.output_shape[1:], 2, "gap", 0.5)
    model = models.make_finetune_model(base, top, backbone, None, blocks)
    return base, top, model


def _images(n, size=SIZE, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)).astype("float32")


def test_the_tail_on_the_prefix_is_the_whole_model():
    base, top, model = _finetune_model()
    boundary = backbones.finetune_boundary(MOBILENET, base, 1)
    split = models.split_finetune_model(base, top, MOBILENET, boundary)
    assert split.layer == "block_15_add"  # block_16's input
    assert split.prefix.trainable_weights == []
    tail_weights = {id(w) for w in split.tail.trainable_weights}
    assert tail_weights == {id(w) for w in model.trainable_weights}  # the same objects
    images = _images(6)
    whole = model.predict(images, verbose=0)
    cut = split.tail.predict(split.prefix.predict(images, verbose=0), verbose=0)
    np.testing.assert_allclose(cut, whole, atol=1e-5)
    # Training the tail changes the whole model (shared layers).
    before = [w.numpy().copy() for w in model.trainable_weights]
    split.tail.compile(optimizer="sgd", loss="binary_crossentropy")
    features = split.prefix.predict(images, verbose=0)
    split.tail.fit(features, np.array([0, 1] * 3), epochs=1, verbose=0)
    after = [w.numpy() for w in model.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))
    np.testing.assert_allclose(
        split.tail.predict(features, verbose=0), model.predict(images, verbose=0), atol=1e-5
    )


def test_vgg16_splits_at_block5s_input():
    base, top, _model = _finetune_model("vgg16", 32)
    split = models.split_finetune_model(
        base, top, "vgg16", backbones.finetune_boundary("vgg16", base, 1)
    )
    assert split.layer == "block4_pool"


def test_a_cut_across_a_residual_connection_is_refused():
    base, top, _model = _finetune_model()
    names = [layer.name for layer in base.layers]
    with pytest.raises(ValueError, match="2 tensors cross .* before layer block_15_project"):
        models.split_finetune_model(base, top, MOBILENET, names.index("block_15_project"))


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """A few demo images per class (16 train, 8 validation each)."""
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


def _probs(store, run_id):
    rows = read_predictions_csv(store.run_folder(run_id).predictions("validation"))
    return np.array([list(r["probabilities"].values()) for r in rows])


@pytest.mark.slow
def test_cached_prefix_training_equals_whole_model_training(tiny_root, monkeypatch):
    store = RunStore()
    common = dict(data=tiny_root, backbone=MOBILENET, pretrained=False, image_size=E2E_SIZE)
    top = start_run(TrainConfig.defaults("bottleneck", epochs=1, head="gap", **common), store)
    config = TrainConfig.defaults(
        "finetune", epochs=2, top_run=top, augment=PRESETS["none"], learning_rate=0.05, **common
    )
    cached = store.get(start_run(config, store))
    assert cached.summary.prefix_cached and cached.summary.prefix_layer == "block_15_add"
    assert not cached.summary.prefix_cache_hit and cached.summary.prefix_seconds > 0
    refusal = fitting.prefix_refusal
    monkeypatch.setattr(fitting, "prefix_refusal", lambda _config: "forced for the test")
    whole = store.get(start_run(config, store))
    assert whole.summary.prefix_cached is False
    assert whole.summary.prefix_skipped_reason == "forced for the test"
    # Same seed, same batches, same dropout: the same training, within float tolerance.
    np.testing.assert_allclose(_probs(store, cached.id), _probs(store, whole.id), atol=1e-4)
    for name in ("loss", "val_accuracy"):
        a, b = store.epochs(cached.id), store.epochs(whole.id)
        np.testing.assert_allclose([e[name] for e in a], [e[name] for e in b], atol=1e-4)
    # The predictions recorded are the saved whole model's, on the images.
    saved = models.load_model(store.run_folder(cached.id).model)
    dataset = load_dataset(tiny_root, seed=config.seed)
    images = load_split(dataset, "validation", E2E_SIZE).images.astype("float32")
    np.testing.assert_allclose(
        saved.predict(images, verbose=0).reshape(-1), _probs(store, cached.id)[:, 1], atol=1e-5
    )
    monkeypatch.setattr(fitting, "prefix_refusal", refusal)
    again = store.get(start_run(config, store))
    assert again.summary.prefix_cache_hit and again.summary.prefix_seconds == 0
    np.testing.assert_allclose(_probs(store, again.id), _probs(store, cached.id), atol=1e-5)


def test_augmentation_keeps_the_whole_model_unless_copies_are_asked_for():
    assert fitting.prefix_refusal(TrainConfig.defaults("finetune")) == (
        "augmentation changes the frozen layers' input every epoch"
    )
    plain = TrainConfig.defaults("finetune", augment=PRESETS["none"])
    assert fitting.prefix_refusal(plain) is None
    assert fitting.prefix_refusal(TrainConfig.defaults("finetune", augment_copies=2)) is None


def test_augmented_copies_go_through_the_prefix_once(tiny_root, monkeypatch):
    """K augmented copies (the blog's footnote): the tail trains on the prefix outputs
    of each training image and of K augmented copies of it, computed once and cached."""
    from core import features

    computed = []
    load_or_compute = features.load_or_compute
    monkeypatch.setattr(
        features,
        "load_or_compute",
        lambda *args, **kwargs: computed.append(load_or_compute(*args, **kwargs)) or computed[-1],
    )
    store = RunStore()
    common = dict(data=tiny_root, backbone=MOBILENET, pretrained=False, image_size=E2E_SIZE)
    top = start_run(TrainConfig.defaults("bottleneck", epochs=1, head="gap", **common), store)
    config = TrainConfig.defaults("finetune", epochs=1, top_run=top, augment_copies=2, **common)
    record = store.get(start_run(config, store))
    assert record.status == "finished" and record.summary.prefix_cached
    prefix = computed[-1]
    assert not prefix.cache_hit and len(prefix.y["validation"]) == 16
    x, y = prefix.x["train"], prefix.y["train"]
    assert len(y) == 3 * 32 and np.array_equal(y[32:64], y[:32])  # plain, then 2 copies
    assert not np.allclose(x[32:64], x[:32]) and not np.allclose(x[64:], x[32:64])
    assert store.get(start_run(config, store)).summary.prefix_cache_hit


def test_augmented_copies_need_a_pretrained_method():
    from core.errors import LabError

    with pytest.raises(LabError, match="augment_copies applies to bottleneck and fine-tuning"):
        TrainConfig.defaults("scratch", augment_copies=2).validate()


@pytest.mark.slow
def test_time_epochs_times_the_tail_without_caching(app_home, monkeypatch):
    computed = []
    arrays = fitting._prefix_arrays
    monkeypatch.setattr(
        fitting,
        "_prefix_arrays",
        lambda run, split: computed.append(split.layer) or arrays(run, split),
    )
    config = TrainConfig.defaults(
        "finetune", backbone=MOBILENET, image_size=E2E_SIZE, augment=PRESETS["none"]
    )
    timing = fitting.time_epochs(config, 2, steps=2, val_steps=1)
    assert timing.train_step > 0 and timing.steps == 2
    assert computed == ["block_15_add"]  # the tail was timed, on prefix outputs
    assert not (app_home / "cache" / "features").exists() or not any(
        (app_home / "cache" / "features").iterdir()
    )  # random images are never cached
