"""Shared fixtures: a temporary app home for every test, the shared data, and `make_run`
(run records made as the app makes them, for tests that need runs but no training)."""

import contextlib
import os
import signal
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from core.paths import shared_dir  # noqa: E402


@pytest.fixture(autouse=True)
def app_home(tmp_path_factory, monkeypatch):
    """Every test writes into its own app home, never into ./.littledata."""
    home = tmp_path_factory.mktemp("ldl_home")
    monkeypatch.setenv("LDL_HOME", str(home))
    yield home
    _stop_worker()


@pytest.fixture(autouse=True)
def english(monkeypatch):
    """Tests read English unless they ask for Korean, whatever the machine's locale; a
    CLI call with `--lang ko` does not leak its language into the next test."""
    from core import i18n

    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("LANGUAGE", "en")  # restored after the test, even if a command sets it
    i18n.set_language(i18n.DEFAULT_LANGUAGE)
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


def _stop_worker() -> None:
    """Kill workers a test started (a CLI command's `revive` starts one when runs are
    queued): left alone they would train the queue after the test, on CI's cores."""
    from core import runner

    for child in runner._children:  # spawned by this process; may not hold the lock yet
        if child.poll() is None:
            child.kill()
            child.wait()
    pid = runner._worker_pid()  # LDL_HOME still points at the test's home here
    if pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def shared() -> Path:
    """`../shared` (or LDL_SHARED); the test is skipped with a reason when it is absent."""
    path = shared_dir()
    if not (path / "datasets").is_dir():
        pytest.skip(f"shared data not found at {path} (set LDL_SHARED to its folder)")
    return path


@pytest.fixture(scope="session")
def keras_home(shared) -> Path:
    """The shared Keras cache with ImageNet MobileNet weights."""
    path = shared / "keras_home"
    if not (path / "models").is_dir():
        pytest.skip(f"no Keras weights cache at {path}")
    return path


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory) -> Path:
    """The demo dataset, drawn once per session (drawing takes seconds; runs name it often)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LDL_HOME", str(tmp_path_factory.mktemp("demo_home")))
        from core.demo import demo_dataset

        return Path(demo_dataset().root)


@pytest.fixture
def make_run(app_home, request):
    """A factory of run records, made as the app makes them (no training).

    `make_run(method="scratch", *, status="finished", classes=None, summary=None,
    predictions=None, model=None, history=None, error=None, store=None, **settings)
    -> RunRecord`:

    - `settings` are `TrainConfig` fields over the blog's defaults for `method` (`name`,
      `data`, `image_size`, `epochs`, `backbone`, `pretrained`, `resize_mode`...); the
      record is created by `training.create_run`, so its dataset, fingerprint, backbone
      and planned epochs follow them as for a real run.
    - `status`: "queued"; "running" (in this test's process, so alive); or a final
      one ("finished", "stopped", "failed" with `error`, "interrupted"), reached
      through `mark_running` and `finish` like a real run.
    - `classes`: the class names, recorded in the summary.
    - `predictions`: `(paths, labels, probs)` on the validation split: written as
      training writes them (`report.json`, `predictions.csv`, the `val_*` figures).
    - `model`: a `keras.Model` to save as the run's model, `True` for an untrained
      scratch CNN of the run's image size and classes, or `bytes` for the file itself.
    - `history`: per-epoch figure dicts, logged as epochs 1, 2, ...
    - `summary`: further `RunSummary` figures (they win over the ones above).
    - `store`: a `RunStore` (default: the app home's).
    """
    from core import training
    from core.store import RunStore
    from core.train_config import TrainConfig

    def make(
        method: str = "scratch",
        *,
        status: str = "finished",
        classes=None,
        summary: dict | None = None,
        predictions=None,
        model=None,
        history: list[dict] | None = None,
        error: str | None = None,
        store=None,
        **settings,
    ):
        store = store or RunStore()
        config = TrainConfig.defaults(method, **settings)
        if str(config.data).lower() == "demo":
            _place_demo(request.getfixturevalue("demo_folder"), app_home)
        run_id = training.create_run(config, store)
        folder = store.run_folder(run_id)
        figures = {} if classes is None else {"class_names": list(classes)}
        if predictions is not None:
            figures.update(_write_evaluation(folder, predictions, classes))
        if model is not None:
            _save_model(model, folder.model, config.image_size, classes)
        for epoch, logged in enumerate(history or [], start=1):
            store.log_epoch(run_id, epoch, logged)
        figures.update(summary or {})
        if figures:
            store.update_summary(run_id, **figures)
        if status != "queued":
            store.mark_running(run_id, os.getpid())
        if status not in ("queued", "running"):
            store.finish(run_id, status, error=error)
        return store.get(run_id)

    return make


def _place_demo(drawn: Path, home: Path) -> None:
    """The session's demo copied into this test's app home (it is drawn identically)."""
    import shutil

    target = home / "datasets" / "demo"
    if not target.exists():
        shutil.copytree(drawn, target)


def _write_evaluation(folder, predictions, classes) -> dict:
    """report.json and predictions.csv as training writes them; returns the val figures."""
    import json

    import numpy as np

    from core import metrics

    if classes is None:
        raise ValueError("make_run(predictions=...) needs the classes.")
    paths, labels, probs = predictions
    labels, probs = np.asarray(labels), np.asarray(probs)
    loss = metrics.log_loss(labels, probs, len(classes))
    report = metrics.evaluate_predictions(labels, probs, list(classes), loss=loss)
    folder.report().write_text(json.dumps(report.to_dict(), indent=2))
    metrics.write_predictions_csv(folder.predictions(), paths, labels, probs, list(classes))
    return {
        "val_accuracy": report.accuracy,
        "val_ci_low": report.ci_low,
        "val_ci_high": report.ci_high,
        "val_n": report.n,
        "val_loss": report.loss,
    }


def _save_model(model, path: Path, image_size: int, classes) -> None:
    if isinstance(model, bytes):
        path.write_bytes(model)
        return
    if model is True:
        from core.models import make_scratch_cnn

        model = make_scratch_cnn(image_size=image_size, num_classes=len(classes or (0, 1)))
    model.save(path)
