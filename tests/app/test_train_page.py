"""The Train page: methods and their defaults, and a real run in the background worker."""

import json
import sys
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.paths import PROJECT_ROOT
from core.store import RunStore
from core.train_config import TrainConfig
from tests.app import korean

PAGE = str(PROJECT_ROOT / "pages/train.py")
COMPARE = str(PROJECT_ROOT / "pages/compare.py")
TIMEOUT = 180


@pytest.fixture
def quick_worker(monkeypatch):
    """The worker exits soon after its queue empties, so no process outlives the test."""
    monkeypatch.setenv("LDL_WORKER_IDLE_S", "2")


def _wait_final(store: RunStore, run_id: int, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = store.get(run_id)
        if not record.is_active:
            return record
        time.sleep(1)
    pytest.fail(f"run {run_id} still {store.get(run_id).status} after {timeout} s")


def test_method_switch_shows_that_methods_defaults():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert (
        at.number_input(key="train_epochs_scratch").value == TrainConfig.defaults("scratch").epochs
    )
    assert at.selectbox(key="train_optimizer_scratch").value == "rmsprop"
    at.radio(key="train_method").set_value("finetune").run()
    assert not at.exception
    assert at.selectbox(key="train_optimizer_finetune").value == "sgd"
    assert at.number_input(key="train_lr_finetune").value == pytest.approx(1e-4)
    assert at.selectbox(key="train_top").value is None  # no bottleneck run yet: stage 1 first


def test_improved_cnn_is_a_method_with_its_own_defaults_and_no_backbone():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert "Improved small CNN" in at.radio(key="train_method").options
    at.radio(key="train_method").set_value("improved").run()
    assert not at.exception
    defaults = TrainConfig.defaults("improved")
    assert at.selectbox(key="train_optimizer_improved").value == "adamw"
    assert at.number_input(key="train_size_improved").value == defaults.image_size
    assert at.number_input(key="train_epochs_improved").value == defaults.epochs
    assert "train_backbone_improved" not in [s.key for s in at.selectbox]
    assert not at.warning and "train_start" in [b.key for b in at.button]


def test_the_precision_choice_reaches_the_queued_run(monkeypatch):
    from core import runner

    queued = []
    monkeypatch.setattr(runner, "enqueue", lambda config, store: queued.append(config) or 1)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert at.selectbox(key="train_precision").value == "auto"
    assert "mixed_bfloat16" in at.selectbox(key="train_precision").options
    at.selectbox(key="train_precision").set_value("mixed_bfloat16").run()
    at.button(key="train_start").click().run()
    assert not at.exception
    assert [c.precision for c in queued] == ["mixed_bfloat16"]


def test_reproducibility_and_augmented_copies_reach_the_queued_run(monkeypatch):
    from core import runner

    queued = []
    monkeypatch.setattr(runner, "enqueue", lambda config, store: queued.append(config) or 1)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="train_method").set_value("finetune").run()
    at.checkbox(key="train_random_finetune").check().run()  # whether or not weights are here
    assert at.checkbox(key="train_repeatable").value  # reproducible by default
    assert "XLA" in at.checkbox(key="train_repeatable").help
    at.checkbox(key="train_repeatable").uncheck()
    at.number_input(key="train_copies_finetune").set_value(3).run()
    at.button(key="train_start").click().run()
    assert not at.exception
    assert [(c.method, c.deterministic, c.augment_copies) for c in queued] == [
        ("finetune", False, 3)
    ]


def test_missing_weights_need_an_explicit_choice(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty Keras cache
    monkeypatch.setenv("LDL_OFFLINE", "1")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="train_method").set_value("bottleneck").run()
    assert "not in the Keras cache" in at.warning[0].value
    assert "tick 'Use random weights instead'" in at.warning[0].value
    assert "--no-pretrained" not in _page_text(at)  # the page's words, not the CLI's
    assert all(
        "(weights absent)" in o for o in at.selectbox(key="train_backbone_bottleneck").options
    )
    assert "random weights" in at.info[0].value  # the guard: nothing starts silently
    assert "train_start" not in [b.key for b in at.button]
    at.checkbox(key="train_random_bottleneck").check().run()
    assert not at.exception
    assert "train_start" in [b.key for b in at.button]


@pytest.mark.slow  # a real worker process trains a real (tiny) model
def test_start_a_short_run_it_finishes_and_shows_on_compare(quick_worker):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.number_input(key="train_epochs_scratch").set_value(1)
    at.number_input(key="train_size_scratch").set_value(32)
    at.button(key="train_start").click().run()
    assert not at.exception
    store = RunStore()
    (run,) = store.list_runs()
    assert run.config.image_size == 32 and run.epochs_planned == 1
    record = _wait_final(store, run.id)
    assert record.status == "finished", record.error
    at.run()  # the monitor shows the finished run and its curves
    assert not at.exception
    assert any("Validation accuracy" in s.value for s in at.success)
    compare = AppTest.from_file(COMPARE, default_timeout=TIMEOUT).run()
    assert not compare.exception
    table = compare.dataframe[0].value
    assert list(table["id"]) == [run.id]
    assert table["status"][0] == "finished"
    assert table["val acc"][0] == pytest.approx(record.summary.val_accuracy)


def _record(make_run, status: str, error: str | None = None) -> int:
    """A run elsewhere; a running one (in this process: alive) in its second epoch."""
    run_id = make_run(status=status, error=error, name="elsewhere", image_size=32, epochs=4).id
    if status == "running":
        store = RunStore()
        store.log_epoch(
            run_id, 1, {"loss": 0.7, "accuracy": 0.5, "val_loss": 0.69, "val_accuracy": 0.55}
        )
        store.log_batch(run_id, 2, 3, 10, {"loss": 0.6, "accuracy": 0.6, "images_per_second": 90.0})
    return run_id


def test_a_fresh_visit_follows_the_running_run_and_can_stop_it(make_run):
    """Coming back to the page (a new session) shows the run still going, with progress."""
    store = RunStore()
    run_id = _record(make_run, "running")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.subheader[0].value == f"Run #{run_id} · scratch · elsewhere — running"
    (bar,) = at.get("progress")
    assert "epoch 2/4 · batch 3/10 · 90 images/s" in bar.proto.text
    at.button(key="train_stop").click().run()
    assert store.stop_requested(run_id)


def test_a_failed_run_shows_its_reason(make_run):
    _record(make_run, "failed", error="The dataset folder /x has only one class.")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "Failed: The dataset folder /x has only one class." in at.error[0].value
    assert "train_stop" not in [b.key for b in at.button]  # nothing left to stop


def _page_text(at) -> str:
    """Every text the page shows (markdown, captions, alerts, labels), joined."""
    kinds = ("markdown", "caption", "warning", "info", "error", "success", "subheader", "title")
    parts = [e.value for kind in (*kinds, "code", "text") for e in getattr(at, kind)]
    parts += [w.label for w in (*at.button, *at.checkbox, *at.selectbox, *at.number_input)]
    return "\n".join(str(p) for p in parts)


REPRS = ("DeltaGenerator", "object at 0x", "Traceback")


@pytest.fixture
def mobilenet_weights(tmp_path, monkeypatch):
    """An offline Keras cache holding only MobileNetV2 α 1.0's file (its name is enough
    for the picker; nothing is loaded)."""
    from core.backbones import BACKBONES

    models = tmp_path / "keras" / "models"
    models.mkdir(parents=True)
    (models / BACKBONES["mobilenet_v2_1.0"].weight_file(224)).write_bytes(b"")
    monkeypatch.setenv("KERAS_HOME", str(models.parent))
    monkeypatch.setenv("LDL_OFFLINE", "1")


@pytest.mark.parametrize("method", ["bottleneck", "finetune"])
def test_pretrained_methods_default_to_present_weights_and_render_no_internals(
    method, mobilenet_weights
):
    """Defects 1 and 2: no Streamlit internals on the page; the default backbone is usable."""
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="train_method").set_value(method).run()
    assert not at.exception
    text = _page_text(at)
    assert not [r for r in REPRS if r in text], text[:2000]
    picker = at.selectbox(key=f"train_backbone_{method}")
    assert picker.value == "mobilenet_v2_1.0"
    assert "MobileNetV2 α 1.0" in picker.options and "VGG16 (weights absent)" in picker.options
    assert not at.warning and "train_start" in [b.key for b in at.button]


def test_train_names_the_dataset_it_trains_on():
    from core.demo import demo_dataset

    ds = demo_dataset()
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    n_train, n_val = len(ds.splits["train"]), len(ds.splits["validation"])
    assert any(
        "demo (synthetic)" in m.value
        and f"{n_train} training / {n_val} validation" in m.value
        and ", ".join(ds.class_names) in m.value
        for m in at.markdown
    )


def _bottleneck_run(make_run, classes, size=224, backbone="mobilenet_v2_1.0", status="finished"):
    return make_run(
        "bottleneck", status=status, classes=classes, backbone=backbone, image_size=size, epochs=1
    ).id


def test_finetune_preselects_the_newest_compatible_top_run(mobilenet_weights, make_run):
    from core.demo import demo_dataset

    classes = demo_dataset().class_names
    older = _bottleneck_run(make_run, classes)
    newest = _bottleneck_run(make_run, classes)
    _bottleneck_run(make_run, ["cats", "dogs"])  # newer still, but other classes
    _bottleneck_run(make_run, classes, size=150)  # other image size (the page's is 224)
    _bottleneck_run(make_run, classes, status="stopped")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="train_method").set_value("finetune").run()
    assert not at.exception
    top = at.selectbox(key="train_top")
    assert top.value == newest
    assert top.options == [f"Run #{newest} · bottleneck", f"Run #{older} · bottleneck",
                           "none: train one first (stage 1)"]  # fmt: skip


def test_queueing_the_blogs_experiments_shows_a_time_and_needs_a_confirmation(monkeypatch):
    from core import runner

    queued = []
    monkeypatch.setattr(runner, "queue_blog_experiments", lambda *a, **kw: queued.append(kw) or [7])
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert at.button(key="train_blog").disabled
    assert any("**about " in m.value and "of training" in m.value for m in at.markdown)
    at.checkbox(key="train_blog_confirm").check().run()
    at.button(key="train_blog").click().run()
    assert not at.exception and len(queued) == 1
    assert queued[0]["image_size"] == 150  # the blog's size, whatever the form shows
    assert at.session_state["ldl_watch_run"] == 7  # the page follows the first queued run


def test_a_direct_url_on_a_fresh_server_gets_the_shell(monkeypatch):
    """Defect 3: `/train` before anyone opened `/` ran pages/train.py alone (Streamlit's
    legacy `pages/` mode, on until the first `st.navigation` call in the process)."""
    from streamlit.runtime.pages_manager import PagesManager

    # A fresh server: the legacy mode is on and no page has imported labui yet.
    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)
    monkeypatch.delitem(sys.modules, "labui", raising=False)
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert at.title[0].value == "Train"
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "**Dataset:**" in sidebar and "**Runner:**" in sidebar  # the shell's sidebar
    assert PagesManager.uses_pages_directory is False


def test_k_fold_is_off_by_default_and_queues_one_group(monkeypatch):
    from core import crossval, runner

    monkeypatch.setattr(runner, "ensure_worker", lambda: 0)  # queued, not trained
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert at.number_input(key="train_folds").value == 1
    at.number_input(key="train_folds").set_value(3).run()
    at.button(key="train_start").click().run()
    assert not at.exception
    records = RunStore().list_runs()
    groups = crossval.cv_groups(records)
    assert len(records) == 3 and len(groups) == 1
    runs = next(iter(groups.values()))
    assert [r.config.fold for r in runs] == [0, 1, 2] and {r.status for r in runs} == {"queued"}
    assert at.session_state["ldl_watch_run"] == runs[0].id  # the page follows fold 1


def test_pretrained_methods_default_to_the_native_size_and_blog_settings_bring_150(
    mobilenet_weights,
):
    from core.backbones import BACKBONES
    from core.train_config import TrainConfig

    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert at.number_input(key="train_size_scratch").value == 150  # the blog's, from scratch
    at.radio(key="train_method").set_value("bottleneck").run()
    backbone = at.selectbox(key="train_backbone_bottleneck").value
    assert at.number_input(key="train_size_bottleneck").value == BACKBONES[backbone].native_size
    assert any("native size (224 px for" in c.value for c in at.caption)
    at.number_input(key="train_epochs_bottleneck").set_value(3)
    at.selectbox(key="train_optimizer_bottleneck").set_value("adam").run()
    at.button(key="train_blog_settings").click().run()
    assert not at.exception
    blog = TrainConfig.blog("bottleneck")
    assert at.number_input(key="train_size_bottleneck").value == 150
    assert at.number_input(key="train_epochs_bottleneck").value == blog.epochs
    assert at.selectbox(key="train_optimizer_bottleneck").value == blog.optimizer
    assert at.session_state["ldl_active_augment"] is None  # the blog's augmentation
    # A size the user set (150 here) stays when the network changes.
    other = next(b for b in BACKBONES if b != backbone)
    at.selectbox(key="train_backbone_bottleneck").set_value(other).run()
    assert at.number_input(key="train_size_bottleneck").value == 150


def test_finetune_keeps_its_best_epoch_by_default():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.checkbox(key="train_best_scratch").value
    at.radio(key="train_method").set_value("finetune").run()
    assert at.checkbox(key="train_best_finetune").value
    assert "validation accuracy" in at.checkbox(key="train_best_finetune").help


def test_the_result_line_puts_finetuning_beside_its_top_run(make_run):
    figures = dict(
        val_accuracy=0.8, val_ci_low=0.7, val_ci_high=0.9, val_n=100, top_run_id=3,
        top_run_val_accuracy=0.85, best_weights_restored=True, restored_by="val_accuracy",
    )  # fmt: skip
    make_run("finetune", backbone="mobilenet_v2_1.0", pretrained=False, summary=figures)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "Its top model (run 3) had 0.850" in at.success[0].value
    assert any("Fine-tuning ended below its top model" in w.value for w in at.warning)


# Sentences the Train page shows with a finished run (the Korean page must show none).
TRAIN_SENTENCES = [
    "(change it on the Data page)",
    "Small CNN from scratch",
    "Batch size",
    "L2 weight decay",
    "Image size (px)",
    "the blog used 150 px",
    "Blog settings (150 px)",
    "The button sets every field to the blog's values.",
    "the blog's default for this method",
    "Estimate time per epoch",
    "Queue the blog's three experiments",
    "Queue the three runs",
    "More options",
    "Keep the best epoch's weights",
    "Early stopping patience (0: off)",
    "k-fold cross-validation: folds (1: off)",
    "The output layer always computes in float32.",
    "See it on the Compare page.",
    "Within epoch 2: running loss and accuracy per batch",
]


def _finished_run_with_curves(make_run) -> None:
    figures = dict(val_accuracy=0.8, val_ci_low=0.7, val_ci_high=0.9, val_n=100)
    history = [
        {"loss": 0.7, "accuracy": 0.5, "val_loss": 0.69, "val_accuracy": 0.55},
        {"loss": 0.5, "accuracy": 0.7, "val_loss": 0.6, "val_accuracy": 0.8},
    ]
    run = make_run(summary=figures, history=history, image_size=32, epochs=2)
    RunStore().log_batch(run.id, 2, 10, 10, {"loss": 0.5, "accuracy": 0.7})


@pytest.mark.parametrize("language", ["en", "ko"])
def test_train_page_in_both_languages(language, make_run):
    _finished_run_with_curves(make_run)
    at = korean.render(PAGE, language, TIMEOUT)
    korean.assert_spoken(at, TRAIN_SENTENCES, language)
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    charts = json.dumps(specs, ensure_ascii=False)  # titles, legends, facets, tooltips
    words = ("에폭", "손실", "정확도", "검증", "배치") if language == "ko" else ("epoch", "batch")
    assert len(specs) == 2 and all(w in charts for w in words), charts[:300]


# Fine-tuning's own settings, and the offline message of missing weights.
FINETUNE_SENTENCES = [
    "Pretrained network",
    "(weights absent)",
    "cannot be downloaded (offline)",
    "Use random weights instead",
    "Top model from run",
    "none: train one first (stage 1)",
    "Blocks to unfreeze",
    "Train BatchNorm parameters",
    "Pick a network whose weights are present",
]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_finetune_settings_in_both_languages(language, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("LDL_OFFLINE", "1")

    def finetune(at):
        at.session_state["train_method"] = "finetune"

    at = korean.render(PAGE, language, TIMEOUT, setup=finetune)
    korean.assert_spoken(at, FINETUNE_SENTENCES, language)
