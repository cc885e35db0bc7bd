"""core.store: runs, metrics, stop requests and crash detection on SQLite."""

import json
import os
import signal
import subprocess
import sys

import pytest

from core import store as store_module
from core.errors import RunError
from core.paths import PROJECT_ROOT
from core.run_summary import RunSummary
from core.store import STATUSES, RunStore, process_alive


def _new(store, **overrides):
    fields = dict(
        name="first",
        method="scratch",
        backbone=None,
        config={"epochs": 2, "image_size": 32},
        dataset="demo",
        fingerprint="abc123",
        epochs_planned=2,
        pretrained=False,
    )
    fields.update(overrides)
    return store.create_run(**fields)


def test_create_and_get(app_home):
    store = RunStore()
    assert store.path == app_home / "runs.sqlite"
    run_id = _new(store)
    record = store.get(run_id)
    assert record.id == run_id and record.name == "first" and record.status == "queued"
    assert (record.config.method, record.config.epochs, record.config.image_size) == (
        "scratch",
        2,
        32,
    )
    assert record.dataset_fingerprint == "abc123" and record.pretrained is False
    assert record.is_active and record.started_at is None and record.summary == RunSummary()
    assert store.run_dir(run_id) == app_home / "runs" / str(run_id)
    assert store.run_dir(run_id).is_dir()


def test_missing_run_is_a_clear_error():
    store = RunStore()
    with pytest.raises(RunError, match="Run 42 does not exist."):
        store.get(42)
    with pytest.raises(RunError):
        store.rename(42, "x")


def test_default_name_list_order_and_next_queued():
    store = RunStore()
    a = _new(store, name="")
    b = _new(store, name="second")
    assert store.get(a).name == f"scratch #{a}"
    assert [r.id for r in store.list_runs()] == [b, a]
    assert store.next_queued().id == a
    assert store.claim(a, os.getpid())
    assert not store.claim(a, os.getpid())  # already claimed
    assert store.next_queued().id == b


def test_lifecycle_metrics_and_summary():
    store = RunStore()
    run_id = _new(store)
    store.mark_running(run_id, os.getpid())
    record = store.get(run_id)
    assert record.status == "running" and record.pid == os.getpid() and record.started_at
    for epoch in (1, 2):
        for batch in range(3):
            store.log_batch(run_id, epoch, batch, 3, {"loss": 1.0 / (batch + 1), "accuracy": 0.5})
        store.log_epoch(run_id, epoch, {"loss": 0.5, "val_accuracy": 0.6 + epoch / 10})
    epochs = store.epochs(run_id)
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[1]["val_accuracy"] == pytest.approx(0.8) and "time" in epochs[1]
    assert len(store.batches(run_id)) == 6
    second = store.batches(run_id, epoch=2)
    assert [b["batch"] for b in second] == [0, 1, 2]
    assert second[0]["batches_per_epoch"] == 3 and second[0]["loss"] == 1.0
    assert store.last_batch(run_id)["batch"] == 2 and store.last_batch(run_id)["epoch"] == 2
    store.update_summary(run_id, val_accuracy=0.8, best_epoch=2)
    summary = store.update_summary(run_id, val_n=10)
    assert summary.to_dict() == {"val_accuracy": 0.8, "best_epoch": 2, "val_n": 10}
    with pytest.raises(ValueError, match="Unknown run summary figure 'val_acc'"):
        store.update_summary(run_id, val_acc=0.9)  # a typo is refused, nothing is written
    assert store.get(run_id).summary == summary
    store.finish(run_id, "finished")
    record = store.get(run_id)
    assert record.status == "finished" and not record.is_active
    assert record.finished_at >= record.started_at and record.duration >= 0
    assert json.loads(json.dumps(record.to_dict()))["summary"]["val_n"] == 10


def test_an_old_stores_unknown_settings_and_figures_are_ignored_on_read():
    store = RunStore()
    run_id = _new(store, config={"image_size": 64, "retired_setting": 1})
    with store._conn() as conn:  # as an older version wrote it
        conn.execute(
            "UPDATE runs SET summary = ? WHERE id = ?",
            (json.dumps({"val_accuracy": 0.7, "retired_figure": 3}), run_id),
        )
    record = store.get(run_id)
    assert record.config.image_size == 64 and record.summary.val_accuracy == 0.7
    store.update_summary(run_id, val_n=5)  # merging keeps what it does not know
    stored = store._conn().execute("SELECT summary FROM runs WHERE id = ?", (run_id,)).fetchone()
    assert json.loads(stored[0]) == {"val_accuracy": 0.7, "retired_figure": 3, "val_n": 5}


def test_finish_rejects_unknown_or_active_status():
    store = RunStore()
    run_id = _new(store)
    with pytest.raises(ValueError):
        store.finish(run_id, "done")
    with pytest.raises(ValueError):
        store.finish(run_id, "running")
    store.finish(run_id, "failed", error="The dataset has no images.")
    assert store.get(run_id).error == "The dataset has no images."
    assert "failed" in STATUSES


def test_stop_request_on_queued_and_running():
    store = RunStore()
    queued = _new(store)
    running = _new(store)
    store.mark_running(running, os.getpid())
    assert not store.stop_requested(running)
    store.request_stop(queued)
    store.request_stop(running)
    assert store.get(queued).status == "stopped"  # never starts
    assert store.next_queued() is None
    assert store.stop_requested(running)
    assert store.get(running).status == "running"  # training notices it at the next batch


def test_rename_and_delete_removes_folder():
    store = RunStore()
    run_id = _new(store)
    (store.run_dir(run_id) / "model.keras").write_bytes(b"x")
    store.log_epoch(run_id, 1, {"loss": 1})
    store.rename(run_id, "  better name ")
    assert store.get(run_id).name == "better name"
    with pytest.raises(RunError):
        store.rename(run_id, "  ")
    store.delete(run_id)
    assert not (store.runs_root / str(run_id)).exists()
    assert store.epochs(run_id) == []
    with pytest.raises(RunError):
        store.get(run_id)
    assert _new(store) != run_id  # ids are not reused


def test_delete_refuses_a_live_running_run():
    store = RunStore()
    run_id = _new(store)
    store.mark_running(run_id, os.getpid())
    with pytest.raises(RunError, match="running"):
        store.delete(run_id)


def test_dead_process_marks_run_interrupted_and_keeps_files():
    store = RunStore()
    run_id = _new(store)
    alive_id = _new(store)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    store.mark_running(run_id, child.pid)
    store.mark_running(alive_id, os.getpid())
    (store.run_dir(run_id) / "best.keras").write_bytes(b"weights")
    assert store.mark_interrupted_dead() == []
    os.kill(child.pid, signal.SIGKILL)
    # Wait until it has died but leave it unreaped: a zombie must count as dead too.
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    assert not process_alive(child.pid)
    assert store.mark_interrupted_dead() == [run_id]
    child.wait()
    record = store.get(run_id)
    assert record.status == "interrupted" and "ended unexpectedly" in record.error
    assert (store.run_dir(run_id) / "best.keras").read_bytes() == b"weights"
    assert store.get(alive_id).status == "running"


def test_process_alive_detects_recycled_pid():
    assert process_alive(os.getpid())
    assert not process_alive(None)
    assert not process_alive(os.getpid(), started="not-the-start-time")


# Plain processes, not multiprocessing: its "spawn" re-runs the parent's __main__ file,
# which after an AppTest in the same session is a temporary Streamlit script.
WRITER = """
import os, sys
from core.store import RunStore
store = RunStore(sys.argv[1])
run_id, n = int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    store.log_batch(run_id, 1, i, n, {"loss": float(i)})
    store.update_summary(run_id, **{sys.argv[4]: i})
"""


def test_concurrent_writers_from_processes(tmp_path):
    path = tmp_path / "db" / "runs.sqlite"
    store = RunStore(path)
    run_id = _new(store)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(run_id), "30", figure], env=env
        )  # fmt: skip
        for figure in ("train_n", "val_n")
    ]
    while any(p.poll() is None for p in procs):
        store.list_runs()  # reading while they write
        store.batches(run_id)
    for p in procs:
        assert p.wait(timeout=60) == 0
    assert len(store.batches(run_id)) == 60
    summary = store.get(run_id).summary
    assert (summary.train_n, summary.val_n) == (29, 29)  # no lost update between the writers
    assert store.runs_root == tmp_path / "db" / "runs"


def test_phase_is_recorded_replaced_and_throttled(monkeypatch):
    store = RunStore()
    run_id = _new(store)
    assert store.phase(run_id) is None
    store.set_phase(run_id, "decode", 32, 2800)
    phase = store.phase(run_id)
    assert (phase.name, phase.done, phase.total) == ("decode", 32, 2800)
    assert phase.fraction == pytest.approx(32 / 2800)
    store.set_phase(run_id, "extract", 1, 88)  # one current phase per run
    assert store.phase(run_id).name == "extract"
    with pytest.raises(ValueError, match="Unknown phase"):
        store.set_phase(run_id, "dancing")
    report = store.phase_reporter(run_id, "evaluate", min_interval=3600)
    for done in range(0, 801, 16):
        report(done, 800)
        if done == 16:
            assert store.phase(run_id).done == 0  # throttled: the first write stands
    assert (store.phase(run_id).done, store.phase(run_id).total) == (800, 800)  # last always
    store.delete(run_id)
    assert store.phase(run_id) is None


def test_a_store_written_before_phases_existed_opens_and_gains_them(app_home):
    import sqlite3

    path = app_home / "old.sqlite"
    old_schema = store_module._SCHEMA.split("CREATE TABLE IF NOT EXISTS phases")[0]
    conn = sqlite3.connect(path)
    conn.executescript(old_schema)
    conn.execute(
        "INSERT INTO runs (name, method, config, dataset, fingerprint, status, created_at,"
        " epochs_planned, pretrained) VALUES ('old', 'scratch', '{}', 'demo', '', 'finished',"
        " 0, 3, 0)"
    )
    conn.commit()
    conn.close()
    store = RunStore(path)
    (record,) = store.list_runs()
    assert record.name == "old" and store.phase(record.id) is None
    store.set_phase(record.id, "evaluate", 5, 10)
    assert store.phase(record.id).done == 5
