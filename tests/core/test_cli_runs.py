"""The runs/evaluate/predict/export commands on real trained runs, and the worker.

Three tiny scratch runs on the demo dataset (32 px), trained in this process: the
first finishes, the second is stopped by request, the third is left "running" by a
process that died, and must read as "interrupted" with its best checkpoint kept.
The slow tier also has one background worker train, stop and lose (SIGKILL) runs.
All tests of this module share one app home.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import runner
from core.augment_config import AugmentConfig
from core.cli import main
from core.metrics import read_predictions_csv
from core.store import RunStore
from core.train_config import TrainConfig


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ldl_cli_home")


@pytest.fixture(autouse=True)
def app_home(home, monkeypatch) -> Path:
    """Overrides the per-test home of conftest: this module's tests share one."""
    monkeypatch.setenv("LDL_HOME", str(home))
    return home


def _config(epochs: int, name: str) -> TrainConfig:
    return TrainConfig.defaults(
        "scratch", data="demo", image_size=32, epochs=epochs, batch_size=32, augment={}, name=name
    )


def _wait(predicate, what: str, limit: float = 300.0):
    """Poll until predicate() holds; the limit only guards against a hang."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


@pytest.fixture(scope="module")
def trained(home):
    """Run ids: finished, stopped and interrupted, trained in this process."""
    from core.training import create_run, start_run, train

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LDL_HOME", str(home))
        store = RunStore()
        done = start_run(_config(1, "one epoch"), store)
        stop_config = _config(50, "to stop")
        stopped = create_run(stop_config, store, status="running")
        batches = iter(range(1_000_000))
        train(stop_config, store, stopped, should_stop=lambda: next(batches) >= 3)
        # A run whose process died mid-training, its best checkpoint on disk.
        killed = create_run(_config(50, "to kill"), store, status="running")
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        store.mark_running(killed, dead.pid)
        best = store.run_dir(killed) / "best.keras"
        best.write_bytes((store.run_dir(done) / "model.keras").read_bytes())
        assert runner.worker_state(store).running is None  # noticed, marked interrupted
        yield {"finished": done, "stopped": stopped, "killed": killed}


@pytest.fixture(scope="module")
def trained_by_worker(home):
    """Run ids: finished, stopped and interrupted, all trained by one real worker."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LDL_HOME", str(home))
    mp.setenv("LDL_WORKER_IDLE_S", "2")
    try:
        store = RunStore()
        done = runner.enqueue(_config(1, "one epoch"), store)
        stopped = runner.enqueue(_config(50, "to stop"), store)
        killed = runner.enqueue(_config(50, "to kill"), store)
        _wait(lambda: store.epochs(stopped), "the second run's first epoch")
        runner.stop(stopped, store)
        best = store.run_dir(killed) / "best.keras"
        _wait(lambda: store.epochs(killed) and best.exists(), "the third run's checkpoint")
        worker_pid = store.get(killed).pid
        os.kill(worker_pid, signal.SIGKILL)
        _wait(lambda: runner.worker_state(store).running is None, "the crash to be noticed")
        for child in runner._children:
            child.wait(timeout=60)
        yield {"finished": done, "stopped": stopped, "killed": killed, "worker": worker_pid}
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def demo(trained):
    """The demo dataset as listed in this module's home (after the worker generated it)."""
    from core.datasets import resolve_dataset

    return resolve_dataset("demo")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_worker_outcomes(trained_by_worker, demo):
    trained = trained_by_worker
    store = RunStore()
    done = store.get(trained["finished"])
    assert done.status == "finished" and done.pid == trained["worker"]
    n_val = len(demo.splits["validation"])
    rows = read_predictions_csv(store.run_folder(done.id).predictions())
    right = sum(row["true"] == row["predicted"] for row in rows)
    assert done.summary.val_n == n_val == len(rows)
    assert done.summary.val_accuracy == pytest.approx(right / n_val)  # from the predictions
    assert done.summary.class_names == demo.class_names
    folder = store.run_dir(done.id)
    for name in ("model.keras", "predictions.csv", "report.json", "config.json", "log.txt"):
        assert (folder / name).is_file(), name
    assert len(store.epochs(done.id)) == 1 and store.batches(done.id)
    stopped = store.get(trained["stopped"])
    assert stopped.status == "stopped" and (store.run_dir(stopped.id) / "model.keras").is_file()
    assert 1 <= len(store.epochs(stopped.id)) < 50
    killed = store.get(trained["killed"])
    assert killed.status == "interrupted" and "ended unexpectedly" in killed.error
    assert (store.run_dir(killed.id) / "best.keras").is_file()
    assert not (store.run_dir(killed.id) / "model.keras").exists()


def test_runs_list_and_show(trained, demo, capsys):
    code, out, _ = run_cli(capsys, "runs", "list")
    assert code == 0 and "one epoch" in out and "interrupted" in out and "worker:" in out
    code, out, _ = run_cli(capsys, "runs", "list", "--json")
    listing = json.loads(out)
    ids = {trained[k] for k in ("finished", "stopped", "killed")}
    assert code == 0 and ids <= {r["id"] for r in listing["runs"]}
    assert listing["worker"]["running"] is None
    code, out, _ = run_cli(capsys, "runs", "show", trained["finished"])
    assert code == 0
    for part in ("status     finished", "config", "image_size", "summary", "epochs", "accuracy"):
        assert part in out
    assert "confusion matrix" in out
    code, out, _ = run_cli(capsys, "runs", "show", trained["finished"], "--json")
    shown = json.loads(out)
    assert shown["run"]["id"] == trained["finished"] and len(shown["epochs"]) == 1
    assert shown["report"]["n"] == len(demo.splits["validation"]) and shown["test_report"] is None


def test_evaluate_matches_the_training_report(trained, demo, capsys):
    code, out, _ = run_cli(
        capsys, "evaluate", "--run", trained["finished"], "--data", "demo", "--json"
    )
    assert code == 0
    result = json.loads(out)
    assert result["split"] == "validation"
    report = result["report"]
    stored = json.loads((RunStore().run_dir(trained["finished"]) / "report.json").read_text())
    assert report["n"] == stored["n"] == len(demo.splits["validation"])
    assert report["confusion"] == stored["confusion"]
    assert report["accuracy"] == pytest.approx(stored["accuracy"])
    assert report["ci_low"] <= report["accuracy"] <= report["ci_high"]
    code, out, _ = run_cli(capsys, "evaluate", "--run", trained["finished"], "--data", "demo")
    assert code == 0 and "95% CI" in out and f"n={report['n']}" in out


def test_evaluate_plain_folder_and_class_mismatch(trained, demo, capsys, tmp_path):
    from PIL import Image

    for sample in demo.splits["validation"][::10][:9]:
        folder = tmp_path / "plain" / demo.class_names[sample.label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.open(sample.path).save(folder / (Path(sample.path).stem + ".png"))
    n = sum(1 for _ in (tmp_path / "plain").rglob("*.png"))
    code, out, _ = run_cli(
        capsys, "evaluate", "--run", trained["finished"], "--data", tmp_path / "plain", "--json"
    )
    result = json.loads(out)
    assert code == 0 and result["split"] == "all" and result["report"]["n"] == n
    (tmp_path / "plain" / "extra").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "plain" / "extra" / "x.png")
    code, out, err = run_cli(
        capsys, "evaluate", "--run", trained["finished"], "--data", tmp_path / "plain"
    )
    assert code == 1 and "extra" in err and f"trained on {', '.join(demo.class_names)}" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_predict_good_and_bad_files(trained, demo, capsys, tmp_path):
    image = demo.splits["validation"][0].path
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    code, out, err = run_cli(capsys, "predict", "--run", trained["finished"], image, bad, "--json")
    result = json.loads(out)
    assert code == 1 and f"{bad}" in err
    good, wrong = result["predictions"]
    assert good["error"] is None and sum(good["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert wrong["error"] and wrong["probabilities"] == []
    code, out, _ = run_cli(capsys, "predict", "--run", trained["finished"], image)
    assert code == 0 and out.startswith(f"{image}: ") and demo.class_names[0] in out
    # A stopped run keeps its model and can predict; an interrupted one cannot.
    assert run_cli(capsys, "predict", "--run", trained["stopped"], image)[0] == 0
    code, _, err = run_cli(capsys, "predict", "--run", trained["killed"], image)
    assert code == 1 and "interrupted, not finished" in err


def test_export_tflite_then_predict_the_same(trained, demo, capsys, tmp_path):
    import numpy as np
    import tensorflow as tf

    from core.predict import load_run_model, prepare_image

    code, out, _ = run_cli(
        capsys,
        "export",
        "--run",
        trained["finished"],
        "--format",
        "tflite",
        "--out",
        tmp_path / "model",
        "--json",
    )
    path = Path(json.loads(out)["path"])
    assert code == 0 and path == tmp_path / "model.tflite"
    pixels = prepare_image(demo.splits["validation"][0].path, 32)[None].astype("float32")
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], pixels)
    interpreter.invoke()
    lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    expected = np.asarray(load_run_model(trained["finished"])(pixels, training=False))
    np.testing.assert_allclose(lite, expected, atol=1e-4)


def test_cli_errors_are_one_line_without_traceback(trained, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(runner.PROJECT_ROOT))}
    for argv, needle in (
        (["runs", "show", "999"], "Run 999 does not exist."),
        (["runs", "show", "999", "--json"], "Run 999 does not exist."),
        (
            [
                "export",
                "--run",
                str(trained["killed"]),
                "--format",
                "keras",
                "--out",
                str(tmp_path / "m.keras"),
            ],
            "not finished",
        ),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "core", *argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=runner.PROJECT_ROOT,
            timeout=300,
        )
        assert done.returncode == 1, argv
        assert needle in done.stderr and "Traceback" not in done.stderr
        assert done.stderr.strip().count("\n") == 0
        if "--json" in argv:
            assert json.loads(done.stdout) == {"error": "Run 999 does not exist."}


def test_queue_blog_experiments_links_the_finetune_to_its_top(monkeypatch, tmp_path):
    monkeypatch.setenv("LDL_HOME", str(tmp_path))
    monkeypatch.setattr(runner, "ensure_worker", lambda: 0)
    store = RunStore()
    flip = AugmentConfig(horizontal_flip=True)
    ids = runner.queue_blog_experiments(
        "demo", image_size=32, backbone="mobilenet_v2_0.35", epochs=1, augment=flip, store=store
    )
    scratch, bottleneck, finetune = (store.get(i) for i in ids)
    assert [r.method for r in (scratch, bottleneck, finetune)] == [
        "scratch",
        "bottleneck",
        "finetune",
    ]
    assert ids == sorted(ids) and all(r.status == "queued" for r in (scratch, bottleneck))
    assert finetune.config.top_run == bottleneck.id
    assert bottleneck.backbone == "mobilenet_v2_0.35" and scratch.backbone is None
    assert scratch.config.image_size == 32 and finetune.config.optimizer == "sgd"
    assert store.next_queued().id == scratch.id
    assert scratch.config.augment == finetune.config.augment == flip
    assert bottleneck.config.augment != flip


def test_compare_on_stored_predictions_and_on_a_folder_agree(trained, capsys):
    pair = (trained["finished"], trained["stopped"])
    code, out, _ = run_cli(capsys, "compare", *pair, "--json")
    stored = json.loads(out)
    assert code == 0 and stored["n"] == len(
        read_predictions_csv(RunStore().run_dir(pair[0]) / "predictions.csv")
    )
    code, out, _ = run_cli(capsys, "compare", *pair, "--data", "demo", "--json")
    scored = json.loads(out)
    assert code == 0
    for key in ("n", "a_correct", "b_correct", "a_only", "b_only", "p_value"):
        assert scored[key] == pytest.approx(stored[key]), key


def test_tta_and_calibration_change_probabilities_not_classes(trained, demo, capsys):
    image = demo.splits["validation"][0].path
    code, out, _ = run_cli(capsys, "evaluate", "--run", trained["finished"], "--data", "demo",
                           "--tta", "flip", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["report"]["n"] == len(demo.splits["validation"])

    def predict() -> dict:
        code, out, _ = run_cli(capsys, "predict", "--run", trained["finished"], image, "--json")
        assert code == 0
        return json.loads(out)["predictions"][0]

    plain = predict()
    code, out, _ = run_cli(capsys, "calibrate", "--run", trained["finished"], "--json")
    temperature = json.loads(out)["temperature"]
    assert code == 0 and temperature != pytest.approx(1.0, abs=1e-3)
    calibrated = predict()
    assert calibrated["predicted"] == plain["predicted"]
    assert calibrated["confidence"] != pytest.approx(plain["confidence"], abs=1e-6)


def test_runs_show_puts_a_finetune_run_beside_its_top_run(make_run, capsys):
    figures = dict(
        val_accuracy=0.8, val_ci_low=0.7, val_ci_high=0.9, val_n=100, top_run_id=3,
        top_run_val_accuracy=0.85, best_weights_restored=True, restored_by="val_accuracy",
    )  # fmt: skip
    below = make_run("finetune", backbone="mobilenet_v2_1.0", pretrained=False, summary=figures)
    code, out, _ = run_cli(capsys, "runs", "show", below.id)
    assert code == 0 and "top_run_val_accuracy" in out and "restored_by" in out
    assert "warning: Fine-tuning ended below its top model" in out
    above = make_run(
        "finetune", backbone="mobilenet_v2_1.0", pretrained=False,
        summary={**figures, "val_accuracy": 0.9},
    )  # fmt: skip
    code, out, _ = run_cli(capsys, "runs", "show", above.id)
    assert code == 0 and "top_run_val_accuracy" in out and "warning" not in out
