"""The guide's steps, the runs they queue and how their results are found (generated runs)."""

import dataclasses

import pytest

from core import guide
from core.augment_config import PRESETS
from core.i18n import _, set_language
from core.train_config import TrainConfig

BACKBONE = "mobilenet_v2_1.0"


def test_the_steps_follow_the_post_in_order():
    assert [s.key for s in guide.STEPS] == [
        "data", "augment", "scratch", "bottleneck", "finetune", "next",
    ]  # fmt: skip
    runs = [s for s in guide.STEPS if s.action == "run"]
    assert [s.method for s in runs] == ["scratch", "bottleneck", "finetune"]
    assert [s.blog_figure_text for s in runs] == ["0.79–0.81", "0.90–0.91", "0.94"]
    assert guide.step_by_key("data").blog_figure is None


def test_each_run_step_queues_the_blogs_settings_on_the_dataset():
    scratch = guide.run_config(guide.step_by_key("scratch"), "/data/cats", BACKBONE)
    assert scratch.data == "/data/cats"
    assert guide.same_settings(scratch, TrainConfig.blog("scratch", data="/data/cats"))
    assert scratch.augment == PRESETS["blog: training"] and scratch.image_size == 150
    bottleneck = guide.run_config(guide.step_by_key("bottleneck"), "demo", BACKBONE)
    assert (bottleneck.method, bottleneck.backbone, bottleneck.image_size) == (
        "bottleneck", BACKBONE, 150,
    )  # fmt: skip
    finetune = guide.run_config(guide.step_by_key("finetune"), "demo", BACKBONE, top_run=4)
    assert (finetune.top_run, finetune.optimizer, finetune.learning_rate) == (4, "sgd", 1e-4)
    with pytest.raises(ValueError):
        guide.run_config(guide.step_by_key("augment"), "demo", BACKBONE)


def test_a_step_is_matched_on_its_settings_not_its_name(make_run):
    step = guide.step_by_key("scratch")
    assert guide.step_result(_store(), step, "demo", BACKBONE) is None
    make_run("scratch", data="demo", epochs=3)  # other settings: not the blog's
    make_run("scratch", data="demo", image_size=64)
    assert guide.step_result(_store(), step, "demo", BACKBONE) is None
    ran = make_run("scratch", data="demo", name="anything", summary=_figures(0.81))
    result = guide.step_result(_store(), step, "demo", BACKBONE)
    assert (result.run_id, result.status, result.finished) == (ran.id, "finished", True)
    assert (result.accuracy, result.ci_low, result.ci_high, result.n) == (0.81, 0.78, 0.84, 800)
    assert guide.step_result(_store(), step, "other", BACKBONE) is None  # another dataset


def test_the_latest_finished_run_wins_and_an_active_one_shows_its_state(make_run):
    step = guide.step_by_key("bottleneck")
    make_run("bottleneck", data="demo", backbone=BACKBONE, image_size=150, summary=_figures(0.8))
    newer = make_run(
        "bottleneck", data="demo", backbone=BACKBONE, image_size=150, summary=_figures(0.9)
    )
    make_run("bottleneck", data="demo", backbone=BACKBONE, image_size=150, status="failed")
    assert guide.step_result(_store(), step, "demo", BACKBONE).run_id == newer.id
    assert guide.finetune_top_run(_store(), "demo", BACKBONE) == newer.id
    queued = make_run("bottleneck", data="demo", backbone=BACKBONE, image_size=150, status="queued")
    result = guide.step_result(_store(), step, "demo", BACKBONE)
    assert (result.run_id, result.status, result.finished) == (queued.id, "queued", False)


def test_finetuning_has_no_top_run_until_a_bottleneck_run_finished(make_run):
    make_run("bottleneck", data="demo", backbone=BACKBONE, image_size=150, status="running")
    assert guide.finetune_top_run(_store(), "demo", BACKBONE) is None
    make_run("bottleneck", data="demo", backbone=BACKBONE, image_size=224, summary=_figures(0.9))
    assert guide.finetune_top_run(_store(), "demo", BACKBONE) is None  # not the blog's size


def test_a_finetuning_run_matches_whatever_its_top_run(make_run):
    top = make_run("bottleneck", data="demo", backbone=BACKBONE, image_size=150)
    tuned = make_run(
        "finetune", data="demo", backbone=BACKBONE, image_size=150, top_run=top.id,
        summary=_figures(0.93),
    )  # fmt: skip
    result = guide.step_result(_store(), guide.step_by_key("finetune"), "demo", BACKBONE)
    assert result.run_id == tuned.id and result.accuracy == 0.93


def test_the_next_steps_configs():
    native = guide.native_config("demo", BACKBONE)
    assert native.method == "bottleneck" and native.image_size == 224
    kfold = guide.kfold_config("demo", BACKBONE)
    assert kfold.image_size == 150 and guide.KFOLD_FOLDS >= 2
    assert not guide.same_settings(native, kfold)
    assert guide.same_settings(
        dataclasses.replace(native, name="x", top_run=3), native
    )  # names and top runs aside


def test_cats_vs_dogs_is_found_where_the_data_page_puts_it(app_home, monkeypatch, tmp_path):
    from core import download

    assert guide.known_cats_vs_dogs() is None
    allowed = tmp_path / "allowed"
    (allowed / "cats_vs_dogs" / "train").mkdir(parents=True)
    monkeypatch.setenv("LDL_ALLOWED_DIRS", str(allowed))
    assert guide.known_cats_vs_dogs() == (allowed / "cats_vs_dogs").resolve()
    root = app_home / "datasets" / download.CATS_VS_DOGS_FOLDER
    (root / "train").mkdir(parents=True)
    (root / ".download.json").write_text('{"root": "."}')
    assert guide.known_cats_vs_dogs() == root  # the download first


def test_the_steps_read_in_korean():
    set_language("ko")
    step = guide.step_by_key("scratch")
    for text in (step.title, step.text, step.blog, step.lab):
        assert _(text) != text and any("\uac00" <= c <= "\ud7a3" for c in _(text))


def _store():
    from core.store import RunStore

    return RunStore()


def _figures(accuracy: float) -> dict:
    return {
        "val_accuracy": accuracy,
        "val_ci_low": round(accuracy - 0.03, 2),
        "val_ci_high": round(accuracy + 0.03, 2),
        "val_n": 800,
    }


def test_a_newer_run_still_going_does_not_hide_a_finished_top_run(make_run):
    done = make_run(
        "bottleneck", data="demo", backbone=BACKBONE, image_size=150, summary=_figures(0.9)
    )
    make_run("bottleneck", data="demo", backbone=BACKBONE, image_size=150, status="queued")
    assert guide.finetune_top_run(_store(), "demo", BACKBONE) == done.id


def test_the_shared_cats_vs_dogs_is_found_when_its_folder_is_allowed(shared, monkeypatch):
    monkeypatch.setenv("LDL_ALLOWED_DIRS", str(shared / "datasets"))
    found = guide.known_cats_vs_dogs()
    assert found == (shared / "datasets" / "cats_vs_dogs").resolve()
    config = guide.run_config(guide.step_by_key("scratch"), str(found), BACKBONE)
    from core.datasets import load_dataset

    dataset = load_dataset(config.data)
    assert (len(dataset.splits["train"]), len(dataset.splits["validation"])) == (2000, 800)


def test_the_guides_network_is_the_labs_measured_one_when_its_weights_are_here(
    tmp_path, monkeypatch
):
    from core.backbones import BACKBONES, default_backbone
    from core.lab_results import measured_table

    measured = next(r.backbone for r in measured_table() if r.method == "bottleneck")
    other = next(name for name in BACKBONES if name != measured)
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("LDL_OFFLINE", "1")
    for name in (other, measured):
        backbone = BACKBONES[name]
        (models / backbone.weight_file(backbone.native_size)).write_bytes(b"")
    assert default_backbone(150) == other  # the registry's first with weights here
    assert guide.guide_backbone() == measured
    backbone = BACKBONES[measured]
    (models / backbone.weight_file(backbone.native_size)).unlink()
    assert guide.guide_backbone() == default_backbone(150) == other
