"""Fault injection: races, kills and hostile layouts, each bounded to seconds on tiny data.

- two imports of the same name at once (refused, or swapped atomically);
- import folders left behind by a killed import, cleaned at start-up;
- a worker killed with SIGKILL while runs are queued behind it;
- a dataset with symbolic links leading outside the allowed folders;
- a reader that closes the pipe (`runs show ID | head`);
- an interrupted run, which must say how many epochs it completed;
- two processes using the demo set for the first time on a fresh app home.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from core import runner, tempdirs, zipimport
from core.cli import main as cli_main
from core.datasets import load_dataset
from core.errors import DatasetError, ZipImportError
from core.health import health_report
from core.paths import PROJECT_ROOT
from core.store import RunStore
from core.training import create_run
from tests.core.image_factory import make_image_folder, zip_folder
from tests.core.test_runner import fake_config, fake_worker_env, wait_for  # noqa: F401

PETS = {"train": {"cats": 3, "dogs": 3}, "validation": {"cats": 1, "dogs": 1}}
MORE_PETS = {"train": {"cats": 4, "dogs": 4}, "validation": {"cats": 2, "dogs": 2}}


def _import_together(monkeypatch, archives, **kwargs):
    """Runs one import_zip per archive on its own thread; all finish extracting before any
    moves its result into place. Returns the outcome of each: the root or the error."""
    barrier = threading.Barrier(len(archives), timeout=20)
    extract = zipimport.extract_safely

    def extract_then_wait(*args, **kw):
        names = extract(*args, **kw)
        barrier.wait()
        return names

    monkeypatch.setattr(zipimport, "extract_safely", extract_then_wait)
    outcomes = [None] * len(archives)

    def work(index):
        try:
            outcomes[index] = zipimport.import_zip(archives[index], "same", **kwargs)
        except Exception as exc:  # noqa: BLE001 - the test inspects whatever happened
            outcomes[index] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(archives))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def _leftovers(app_home):
    return [p.name for p in (app_home / "datasets").iterdir() if p.name.startswith(".")]


def test_two_imports_of_one_name_one_wins_the_other_is_refused(app_home, tmp_path, monkeypatch):
    first = zip_folder(make_image_folder(tmp_path / "a", PETS), tmp_path / "a.zip")
    second = zip_folder(make_image_folder(tmp_path / "b", MORE_PETS), tmp_path / "b.zip")
    outcomes = _import_together(monkeypatch, [first, second])
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], ZipImportError), outcomes
    assert "'same' already exists" in str(errors[0]) and "'same-2'" in str(errors[0])
    winner = outcomes[1 - outcomes.index(errors[0])]
    counts = load_dataset(winner).counts()["train"]
    assert counts in ({"cats": 3, "dogs": 3}, {"cats": 4, "dogs": 4})  # one whole dataset
    assert _leftovers(app_home) == []


def test_two_overwriting_imports_leave_one_whole_dataset(app_home, tmp_path, monkeypatch):
    old = zip_folder(make_image_folder(tmp_path / "old", PETS), tmp_path / "old.zip")
    zipimport.import_zip(old, "same")
    first = zip_folder(make_image_folder(tmp_path / "a", MORE_PETS), tmp_path / "a.zip")
    second = zip_folder(make_image_folder(tmp_path / "b", MORE_PETS, seed=5), tmp_path / "b.zip")
    outcomes = _import_together(monkeypatch, [first, second], overwrite=True)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert load_dataset(app_home / "datasets" / "same").counts()["train"] == {"cats": 4, "dogs": 4}
    assert _leftovers(app_home) == []


def test_the_free_name_skips_taken_ones(app_home, tmp_path):
    archive = zip_folder(make_image_folder(tmp_path / "a", PETS), tmp_path / "a.zip")
    assert zipimport.free_name("my dataset") == "my_dataset"
    zipimport.import_zip(archive, "my dataset")
    assert zipimport.free_name("my dataset") == "my_dataset-2"
    zipimport.import_zip(archive, "my_dataset-2")
    assert zipimport.free_name("my_dataset") == "my_dataset-3"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


def _temp_folder(datasets, name, owner: str | None, age_s: float = 0.0):
    folder = datasets / name
    (folder / "train" / "cats").mkdir(parents=True)
    (folder / "train" / "cats" / "0.jpg").write_bytes(b"half-written")
    if owner is not None:
        (folder / tempdirs.OWNER_FILE).write_text(owner)
    stamp = time.time() - age_s
    os.utime(folder, (stamp, stamp))
    return folder


def test_stale_import_folders_are_removed_live_ones_kept(app_home):
    datasets = app_home / "datasets"
    dead = _temp_folder(datasets, ".import-pets-dead", f"{_dead_pid()} \n")
    live = _temp_folder(datasets, ".import-pets-live", f"{os.getpid()} \n")
    aside = _temp_folder(datasets, ".old-pets-dead", f"{_dead_pid()} \n")
    ownerless_old = _temp_folder(datasets, ".import-legacy", None, age_s=3600)
    ownerless_new = _temp_folder(datasets, ".import-just-made", None)
    kept_dataset = _temp_folder(datasets, "pets", f"{_dead_pid()} \n")  # not a temp folder
    removed = tempdirs.clean_app_home()
    assert sorted(removed) == sorted([dead, aside, ownerless_old])
    assert live.exists() and ownerless_new.exists() and kept_dataset.exists()
    assert not dead.exists() and not aside.exists() and not ownerless_old.exists()


def test_an_import_records_its_owner_and_cleans_up_after_a_dead_one(app_home, tmp_path):
    datasets = app_home / "datasets"
    dead = _temp_folder(datasets, ".import-pets-dead", f"{_dead_pid()} \n")
    seen = {}
    extract = zipimport.extract_safely

    def spy(source, dest, **kw):
        seen["owner"] = (dest / tempdirs.OWNER_FILE).read_text().split()[0]
        return extract(source, dest, **kw)

    archive = zip_folder(make_image_folder(tmp_path / "a", PETS), tmp_path / "a.zip")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zipimport, "extract_safely", spy)
        root = zipimport.import_zip(archive, "pets")
    assert seen["owner"] == str(os.getpid())
    assert not dead.exists() and _leftovers(app_home) == []
    assert not (root / tempdirs.OWNER_FILE).exists()


# --- a worker killed with runs queued behind it ------------------------------------


@pytest.mark.slow  # starts worker processes
@pytest.mark.usefixtures("fake_worker_env")
def test_a_worker_killed_mid_run_is_replaced_and_the_queue_goes_on():
    """SIGKILL (as the OOM killer sends) during the first of two queued runs: the
    next state query (the app's sidebar, `runs list`) starts a new worker, which
    trains the second run without anything being enqueued again."""
    store = RunStore()
    first = runner.enqueue(fake_config("forever", name="killed"), store)
    wait_for(lambda: store.get(first).status == "running", "the first run to start")
    second = runner.enqueue(fake_config("quick", name="behind it"), store)
    # The live worker holds the lock, so that enqueue started no other process:
    # after the kill, nothing is left that would take the queue by itself.
    alive = lambda: sum(c.poll() is None for c in runner._children)  # noqa: E731
    wait_for(lambda: alive() == 1, "a single worker", limit=120)
    killed_pid = store.get(first).pid
    os.kill(killed_pid, signal.SIGKILL)
    wait_for(
        lambda: runner.worker_state(store) and store.get(second).status == "finished",
        "the second run, by a new worker",
        limit=30,
    )
    assert store.get(first).status == "interrupted"
    assert store.get(second).pid not in (None, killed_pid)


def test_the_restart_rule(monkeypatch):
    """Only queued runs with no live worker start one; the query itself stays cheap."""
    started = []
    monkeypatch.setattr(runner, "ensure_worker", lambda: started.append(True) or 1)
    store = RunStore()
    assert runner.worker_state(store).queued == 0 and started == []  # nothing queued
    queued = create_run(fake_config("quick"), store)
    dead = create_run(fake_config("forever"), store)
    assert store.claim(dead, _dead_pid())  # a run whose worker was killed
    state = runner.worker_state(store)
    assert store.get(dead).status == "interrupted" and state.queued == 1
    assert started == [True]
    runner.stop(queued, store)
    runner.worker_state(store)
    assert started == [True]  # nothing left to run: no worker started


def test_cli_commands_that_read_the_store_restart_the_queue(monkeypatch, capsys):
    started = []
    monkeypatch.setattr(runner, "ensure_worker", lambda: started.append(True) or 1)
    store = RunStore()
    queued = create_run(fake_config("quick"), store)
    assert cli_main(["runs", "show", str(queued)]) == 0
    assert started == [True]
    assert cli_main(["runs", "list"]) == 0 and len(started) >= 2


# --- a dataset with symbolic links pointing outside --------------------------------


def test_links_leading_outside_the_allowed_folders_are_skipped_and_reported(
    app_home, tmp_path, monkeypatch
):
    monkeypatch.setenv("LDL_ALLOWED_DIRS", str(tmp_path / "allowed"))
    root = make_image_folder(tmp_path / "allowed" / "pets", PETS)
    secret = make_image_folder(tmp_path / "private", {"birds": 3})  # someone else's photos
    cats = root / "train" / "cats"
    (cats / "passwd.jpg").symlink_to(secret / "birds" / "birds_000.jpg")  # a file outside
    (root / "train" / "birds").symlink_to(secret / "birds")  # a class folder outside
    (root / "validation" / "birds").symlink_to(secret / "birds")
    (cats / "inside.jpg").symlink_to(cats / "cats_000.jpg")  # inside the dataset: fine
    other = make_image_folder(tmp_path / "allowed" / "more", {"dogs": 2})
    (root / "train" / "dogs" / "allowed.jpg").symlink_to(other / "dogs" / "dogs_000.jpg")

    dataset = load_dataset(root)
    assert dataset.class_names == ["cats", "dogs"]
    listed = {s.path for split in dataset.splits.values() for s in split}
    assert str(cats / "inside.jpg") in listed
    assert str(root / "train" / "dogs" / "allowed.jpg") in listed
    assert not any("birds" in p or "passwd" in p for p in listed)
    reasons = dict(dataset.skipped)
    for link, target in (
        (cats / "passwd.jpg", secret / "birds" / "birds_000.jpg"),
        (root / "train" / "birds", secret / "birds"),
        (root / "validation" / "birds", secret / "birds"),
    ):
        assert reasons[str(link)] == (
            f"leads to {target}, outside the folders this app may open; skipped"
        )
    report = health_report(dataset)
    assert report.usable
    assert "3 file(s) or folder(s) are links leading outside the folders" in report.problems[0]
    assert "passwd.jpg: leads to" in report.to_text()


def test_a_linked_split_or_wrapper_folder_cannot_lead_outside(app_home, tmp_path, monkeypatch):
    monkeypatch.setenv("LDL_ALLOWED_DIRS", str(tmp_path / "allowed"))
    secret = make_image_folder(tmp_path / "private" / "pets", PETS)
    wrapper = tmp_path / "allowed" / "wrapper"
    wrapper.mkdir(parents=True)
    (wrapper / "pets").symlink_to(secret)  # the only entry: load_dataset steps into it
    with pytest.raises(DatasetError, match="no class folders with images"):
        load_dataset(wrapper)
    split = make_image_folder(tmp_path / "allowed" / "split", {"validation": {"a": 2, "b": 2}})
    (split / "train").symlink_to(secret / "train")
    with pytest.raises(DatasetError, match="no training images"):
        load_dataset(split)


# --- a reader that goes away ---------------------------------------------------------


def test_runs_show_into_a_closed_pipe_ends_quietly(app_home):
    store = RunStore()
    run_id = create_run(fake_config("quick", epochs=3000), store)
    conn = store._conn()
    conn.execute("BEGIN")
    for epoch in range(1, 3001):  # a table far larger than a pipe's 64 KiB buffer
        store.log_epoch(run_id, epoch, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6})
    conn.execute("COMMIT")
    store.request_stop(run_id)
    reader = subprocess.Popen(
        [sys.executable, "-m", "core", "runs", "show", str(run_id)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "LDL_HOME": str(app_home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = reader.stdout.readline()  # as `| head -1` does, then it leaves
    reader.stdout.close()
    err = reader.stderr.read().decode()
    assert reader.wait(timeout=60) == 141
    assert first.startswith(b"run ") and err == ""  # no BrokenPipeError traceback


# --- an interrupted run says how far it got -------------------------------------------


def test_an_interrupted_run_shows_the_epochs_it_completed(capsys):
    from core.runs_view import runs_table

    store = RunStore()
    run_id = create_run(fake_config("forever", epochs=20), store)
    assert store.claim(run_id, _dead_pid())  # its worker was killed after three epochs
    for epoch in (1, 2, 3):
        store.log_epoch(run_id, epoch, {"loss": 0.5, "val_accuracy": 0.7})
    failed = create_run(fake_config("crash", epochs=20), store)
    store.mark_running(failed, os.getpid())
    store.log_epoch(failed, 1, {"loss": 0.5})
    store.finish(failed, "failed", error="boom")  # failed during its second epoch

    assert store.mark_interrupted_dead() == [run_id]
    assert store.get(run_id).summary.epochs_run == 3
    assert store.get(failed).summary.epochs_run == 1
    table = runs_table(store.list_runs()).set_index("id")
    assert table.loc[run_id, "epochs"] == "3/20" and table.loc[failed, "epochs"] == "1/20"
    assert cli_main(["runs", "list"]) == 0
    (line,) = [row for row in capsys.readouterr().out.splitlines() if "interrupted" in row]
    assert " 3/20 " in line and "-/20" not in line
    assert cli_main(["runs", "show", str(run_id)]) == 0
    assert "epochs     3/20" in capsys.readouterr().out


# --- two processes using the demo set for the first time -----------------------------

_FIRST_USE = """
import sys, time
from pathlib import Path
from core import demo

log, ready, go = (Path(p) for p in sys.argv[1:4])
demo.DEMO_COUNTS = {"train": 3, "validation": 2}  # tiny, and slow to draw:
draw = demo._draw_all

def slow_draw(folder):
    with open(log, "a") as out:
        out.write("drawn\\n")
    time.sleep(1.0)  # both would be drawing now, without the lock
    return draw(folder)

demo._draw_all = slow_draw
ready.touch()
while not go.exists():  # start together
    time.sleep(0.01)
print(demo.demo_dataset().fingerprint())
"""


def test_two_processes_on_a_fresh_home_draw_the_demo_once(app_home, tmp_path):
    log, go = tmp_path / "draws.log", tmp_path / "go"
    users = [
        subprocess.Popen(
            [sys.executable, "-c", _FIRST_USE, str(log), str(tmp_path / f"ready{i}"), str(go)],
            cwd=PROJECT_ROOT,
            env={**os.environ, "LDL_HOME": str(app_home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    wait_for(lambda: all((tmp_path / f"ready{i}").exists() for i in range(2)), "both ready")
    go.touch()
    results = [user.communicate(timeout=60) for user in users]
    assert [user.returncode for user in users] == [0, 0], results
    fingerprints = {out.strip() for out, _ in results}
    assert len(fingerprints) == 1  # both trained on the very same files
    assert log.read_text() == "drawn\n"  # drawn once
    assert _leftovers(app_home) == []
