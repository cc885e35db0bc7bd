"""core.runner: the background worker process, its queue, stop requests and crashes.

Most tests inject a tiny fake training function (through LDL_TRAIN_FUNCTION,
`module:function`) so that they exercise the worker itself in well under a
second per run; one test trains for real through core.training.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import runner
from core.store import RunStore
from core.train_config import TrainConfig

FAKE = "tests.core.test_runner:fake_train"


def fake_train(config: TrainConfig, store: RunStore, run_id: int):
    """Stands in for core.training.train; its behaviour is chosen by the dataset's name."""
    store.mark_running(run_id, os.getpid())
    print(f"fake training run {run_id}", flush=True)
    folder = store.run_dir(run_id)
    kind = Path(config.data).name
    if kind == "crash":
        raise RuntimeError("the fake model exploded")
    (folder / "best.keras").write_bytes(b"best weights")
    batches = 3 if kind == "quick" else 10_000
    for batch in range(batches):
        store.log_batch(run_id, 1, batch + 1, batches, {"loss": 1.0})
        if store.stop_requested(run_id):
            store.finish(run_id, "stopped")
            return
        time.sleep(0.05)
    store.log_epoch(run_id, 1, {"loss": 0.5, "val_accuracy": 0.75})
    (folder / "model.keras").write_bytes(b"model")
    store.update_summary(run_id, val_accuracy=0.75)
    store.finish(run_id, "finished")


def fake_config(kind: str, **changes) -> TrainConfig:
    """A real (scratch) config whose dataset path names the fake training's behaviour."""
    settings = {"data": f"/nonexistent/{kind}", "epochs": 1, "pretrained": False, **changes}
    return TrainConfig.defaults("scratch", **settings)


@pytest.fixture
def fake_worker_env(monkeypatch):
    monkeypatch.setenv(runner.TRAIN_FUNCTION_ENV, FAKE)
    monkeypatch.setenv("LDL_WORKER_IDLE_S", "1")
    yield
    # Leave no worker behind, whatever the test did.
    pid = runner._worker_pid()
    if pid:
        os.kill(pid, signal.SIGKILL)
    for child in runner._children:
        child.wait(timeout=30)
    runner._children.clear()


def wait_for(predicate, what: str, limit: float = 60.0):
    """Poll until predicate() is true; the limit only guards against a hang."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"gave up waiting for {what}")


@pytest.mark.slow  # starts a worker process
def test_worker_runs_the_queue_in_order_one_at_a_time(fake_worker_env, app_home):
    store = RunStore()
    ids = [runner.enqueue(fake_config("quick", name=f"q{i}"), store) for i in range(3)]
    wait_for(lambda: all(store.get(i).status == "finished" for i in ids), "three runs")
    records = [store.get(i) for i in ids]
    for before, after in zip(records, records[1:], strict=False):
        assert before.finished_at <= after.started_at  # never two at once
    assert [r.name for r in records] == ["q0", "q1", "q2"]
    assert len({r.pid for r in records}) == 1  # one worker did them all
    assert "fake training run" in (store.run_dir(ids[0]) / "log.txt").read_text()
    log = app_home / "worker.log"  # written just after the store says "finished"
    wait_for(lambda: f"run {ids[2]} ended: finished" in log.read_text(), "the log line")
    # With nothing left to do it exits, and a state query says so.
    wait_for(lambda: not runner.worker_state(store).alive, "the idle worker to exit")
    assert runner.worker_state(store).queued == 0


@pytest.mark.slow  # starts a worker process
def test_killed_worker_leaves_run_interrupted_with_best_checkpoint(fake_worker_env):
    store = RunStore()
    run_id = runner.enqueue(fake_config("forever"), store)
    best = store.run_dir(run_id) / "best.keras"
    wait_for(lambda: store.get(run_id).status == "running" and best.exists(), "the run to start")
    state = runner.worker_state(store)
    assert state.alive and state.running.id == run_id and state.queued == 0
    pid = store.get(run_id).pid
    os.kill(pid, signal.SIGKILL)
    # Detected by the next state query (as the app's sidebar makes every few seconds).
    wait_for(lambda: runner.worker_state(store).running is None, "the run to be marked")
    record = store.get(run_id)
    assert "ended unexpectedly" in record.error and record.finished_at
    assert best.read_bytes() == b"best weights"
    # The lock died with the process: the next enqueue starts a fresh worker.
    assert not runner.worker_state(store).alive
    again = runner.enqueue(fake_config("quick"), store)
    wait_for(lambda: store.get(again).status == "finished", "a new worker")


@pytest.mark.slow  # starts a worker process
def test_stop_request_stops_the_running_run(fake_worker_env):
    store = RunStore()
    run_id = runner.enqueue(fake_config("forever"), store)
    wait_for(lambda: store.last_batch(run_id), "the first batch")
    runner.stop(run_id, store)
    wait_for(lambda: store.get(run_id).status == "stopped", "the stop")
    assert runner.worker_state(store).running is None


def test_in_process_worker_skips_stopped_and_survives_a_crash(monkeypatch):
    monkeypatch.setattr(runner, "ensure_worker", lambda: 0)  # no background process here
    store = RunStore()
    crash = runner.enqueue(fake_config("crash"), store)
    skipped = runner.enqueue(fake_config("quick"), store)
    good = runner.enqueue(fake_config("quick"), store)
    runner.stop(skipped, store)
    assert runner.run_worker(idle_timeout=0, poll=0.01, store=store, train_fn=fake_train) == 0
    failed = store.get(crash)
    assert failed.status == "failed" and "the fake model exploded" in failed.error
    assert store.get(skipped).status == "stopped" and store.get(skipped).started_at is None
    assert store.get(good).status == "finished"
    assert "RuntimeError" in (store.run_dir(crash) / "log.txt").read_text()


@pytest.mark.slow  # starts a worker process
def test_a_second_worker_exits_while_one_holds_the_lock(app_home):
    holder = runner._try_lock(app_home / "worker.lock")
    runner._write_pid(holder)
    try:
        assert runner._worker_pid() == os.getpid()
        assert runner.ensure_worker() == os.getpid()  # no second worker started
        out = subprocess.run(
            [sys.executable, "-m", "core", "worker", "--idle-timeout", "0"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "LDL_HOME": str(app_home)},
        )
        assert out.returncode == 0 and "another worker is running" in out.stdout
    finally:
        holder.close()
    assert runner._worker_pid() is None


def test_worker_state_progress_and_eta(make_run):
    store = RunStore()
    run_id = make_run(status="running", name="r", epochs=4).id  # in this process: alive
    state = runner.worker_state(store)
    assert state.running.id == run_id and state.epoch is None and state.eta_seconds is None
    store.log_epoch(run_id, 1, {"loss": 1.0, "seconds": 20.0})
    store.log_batch(run_id, 2, 5, 10, {"loss": 1.0})  # half of epoch 2: 1.5 of 4 epochs done
    state = runner.worker_state(store)
    assert state.epoch == 2 and state.epochs == 4
    # Only the first (warm-up) epoch is known so far: the ETA rests on its 20 s.
    assert state.eta_seconds == pytest.approx(20.0 * (4 - 1.5))
    store.log_epoch(run_id, 2, {"loss": 1.0, "seconds": 8.0})
    store.log_batch(run_id, 3, 5, 10, {"loss": 1.0})
    assert runner.worker_state(store).eta_seconds == pytest.approx(8.0 * (4 - 2.5))
    assert state.to_dict()["running"]["id"] == run_id


@pytest.mark.slow  # starts a worker process
def test_sigterm_stops_the_current_run_and_ends_the_worker(fake_worker_env):
    store = RunStore()
    run_id = runner.enqueue(fake_config("forever"), store)
    wait_for(lambda: store.last_batch(run_id), "the first batch")
    os.kill(store.get(run_id).pid, signal.SIGTERM)
    wait_for(lambda: store.get(run_id).status == "stopped", "the stop")
    wait_for(lambda: all(c.poll() is not None for c in runner._children), "the worker to exit")
    assert runner._children[0].returncode == 0


def test_the_worker_speaks_the_language_of_whoever_started_it(monkeypatch):
    """A failed run's reason is written by the worker: in Korean when a Korean session
    (or `--lang ko`) started it."""
    from core import i18n, runner

    started = []

    class FakeProcess:
        pid = 4242

        def poll(self):
            return 0  # ended: nothing for the fixtures to stop

    monkeypatch.setattr(runner, "_worker_pid", lambda: None)
    monkeypatch.setattr(
        runner.subprocess, "Popen", lambda argv, **kw: started.append(argv) or FakeProcess()
    )
    monkeypatch.setattr(runner, "_children", [])
    i18n.set_language("ko")
    assert runner.ensure_worker() == 4242
    assert started[0][-3:] == ["--lang", "ko", "worker"]
