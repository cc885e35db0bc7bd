"""The Guide page: the blog's steps in both languages, each button doing its step, results
beside the blog's figures (generated runs; no training)."""

import pytest
from streamlit.testing.v1 import AppTest

from core import guide, runner
from core.augment_config import AugmentConfig
from core.paths import PROJECT_ROOT
from core.store import RunStore
from core.train_config import BLOG_IMAGE_SIZE, TrainConfig
from tests.app import korean

PAGE = str(PROJECT_ROOT / "pages" / "guide.py")
TIMEOUT = 60
GUIDE_SENTENCES = [
    "Guide",
    "2,000 training images in two folders",
    "A small CNN trained from scratch",
    "Bottleneck features of a pretrained network",
    "What to try next",
    "Open Augment with the blog's settings",
    "Train the small CNN with the blog's settings",
    "Fine-tune with the blog's settings",
    "Finish step 4 first: fine-tuning starts from its top model.",
    "Not run yet. The blog reached 0.90–0.91.",
    "Use Cats vs Dogs",
    "Compare's paired test says whether a gap between two runs could be chance.",
]


@pytest.fixture
def no_worker(monkeypatch):
    """Queueing writes the run into the store; no worker process is started to train it."""
    started = []
    monkeypatch.setattr(runner, "ensure_worker", lambda: started.append(1) or 0)
    return started


@pytest.fixture
def cats_vs_dogs(tmp_path, monkeypatch):
    """A tiny folder named like the shared Cats vs Dogs, in an allowed place."""
    from PIL import Image

    allowed = tmp_path / "allowed"
    for split in ("train", "validation"):
        for name in ("cats", "dogs"):
            folder = allowed / "cats_vs_dogs" / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (24, 24), (40 * i, 90, 200)).save(folder / f"{name}{i}.png")
    monkeypatch.setenv("LDL_ALLOWED_DIRS", str(allowed))
    return (allowed / "cats_vs_dogs").resolve()


def _backbone() -> str:
    return guide.guide_backbone()


def _bottleneck(make_run, **kw):
    return make_run(
        "bottleneck", data="demo", backbone=_backbone(), image_size=BLOG_IMAGE_SIZE, **kw
    )


def _figures(accuracy, low, high, n=800) -> dict:
    return {"val_accuracy": accuracy, "val_ci_low": low, "val_ci_high": high, "val_n": n}


@pytest.mark.parametrize("language", ["en", "ko"])
def test_guide_in_both_languages(language, make_run, cats_vs_dogs):
    make_run("scratch", data="demo", summary=_figures(0.8, 0.77, 0.83))
    at = korean.render(PAGE, language, TIMEOUT)
    korean.assert_spoken(at, GUIDE_SENTENCES, language)
    if language == "ko":
        text = korean.visible_text(at)
        assert "가이드" in text and "95% 신뢰구간 0.770–0.830, n = 800" in text
    links = [link.proto.label for link in at.get("page_link")]  # not in visible_text
    assert ("Is one run really better?" in links) == (language == "en")


def test_step_3_queues_the_blogs_scratch_run_on_the_active_dataset(no_worker):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    at.button(key="guide_scratch").click().run()
    assert not at.exception
    (run,) = RunStore().list_runs()
    assert run.status == "queued" and run.config.data == "demo" and no_worker
    blog = TrainConfig.blog("scratch")
    for field in ("epochs", "batch_size", "image_size", "optimizer", "learning_rate", "dropout"):
        assert getattr(run.config, field) == getattr(blog, field), field
    assert run.config.augment == blog.augment
    assert f"Run #{run.id} waits in the queue." in [i.value for i in at.info]


def test_step_2_sets_the_blogs_augmentation_and_asks_for_augment(monkeypatch):
    import streamlit

    opened = []
    monkeypatch.setattr(streamlit, "switch_page", lambda page: opened.append(page))
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state["ldl_active_augment"] = AugmentConfig(rotation_degrees=40.0).to_json()
    at.run()
    at.button(key="guide_augment").click().run()
    assert not at.exception
    chosen = AugmentConfig.from_json(at.session_state["ldl_active_augment"])
    assert chosen == guide.blog_augment()
    (page,) = opened
    assert str(page._page).endswith("augment.py")
    assert "The blog's augmentation is the active one." in [c.value for c in at.caption]


@pytest.mark.slow  # the Augment page loads TensorFlow and draws its previews
def test_step_2_sets_the_blogs_augmentation_and_opens_augment():
    # The Augment page it opens loads TensorFlow and draws its previews: give it time.
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=300)
    at.session_state["ldl_active_augment"] = AugmentConfig(rotation_degrees=40.0).to_json()
    at.run()
    at.switch_page("pages/guide.py").run()
    assert not at.exception
    at.button(key="guide_augment").click().run()
    assert not at.exception
    chosen = AugmentConfig.from_json(at.session_state["ldl_active_augment"])
    assert chosen == guide.blog_augment()
    assert at.title[0].value == "Augment"  # the page switched


def test_step_5_waits_for_a_finished_bottleneck_run_then_fine_tunes_from_it(make_run, no_worker):
    _bottleneck(make_run, status="running")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert at.button(key="guide_finetune").disabled
    top = _bottleneck(make_run, summary=_figures(0.9, 0.88, 0.92))
    at.run()
    assert not at.button(key="guide_finetune").disabled
    at.button(key="guide_finetune").click().run()
    assert not at.exception
    tuned = max(RunStore().list_runs(), key=lambda r: r.id)
    assert (tuned.method, tuned.config.top_run, tuned.config.optimizer) == (
        "finetune",
        top.id,
        "sgd",
    )


def test_a_finished_run_shows_its_interval_beside_the_blogs_figure(make_run):
    make_run("scratch", data="demo", summary=_figures(0.812, 0.783, 0.838))
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    (result,) = [s.value for s in at.success]
    assert "validation accuracy 0.812 (95% CI 0.783–0.838, n = 800)" in result
    assert result.endswith("The blog: 0.79–0.81.")


def test_a_running_step_links_to_the_train_page(make_run):
    _bottleneck(make_run, status="running")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert any(i.value.endswith("is training.") for i in at.info)
    links = [link.proto.page for link in at.get("page_link")]
    assert any(page.endswith("train") for page in links)


def test_step_1_activates_a_known_cats_vs_dogs_folder(cats_vs_dogs):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.button(key="guide_data").click().run()
    assert not at.exception
    assert at.session_state["ldl_active_dataset"] == str(cats_vs_dogs)
    assert "Cats vs Dogs is the active dataset." in [s.value for s in at.success]


def test_step_1_without_cats_vs_dogs_points_to_the_data_page():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert not [b for b in at.button if b.key == "guide_data"]
    assert any("Data page" in i.value for i in at.info)


def test_what_next_queues_a_native_size_run_and_a_k_fold(no_worker):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.button(key="guide_native").click().run()
    at.button(key="guide_kfold").click().run()
    assert not at.exception
    native, *folds = sorted(RunStore().list_runs(), key=lambda r: r.id)
    assert native.method == "bottleneck" and native.config.image_size > BLOG_IMAGE_SIZE
    assert len(folds) == guide.KFOLD_FOLDS and {r.config.folds for r in folds} == {5}
