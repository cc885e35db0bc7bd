"""The background worker: queued runs execute one at a time in a separate process.

The app (or the CLI) only writes a queued run into the store and makes sure a
worker process exists (`enqueue` → `ensure_worker`). The worker, `python -m core
worker`, is detached in its own session, so closing the browser tab or
restarting the app does not stop it, and a crash in training cannot take the
app down. It takes the oldest queued run, trains it in-process through
`core.training.train`, and exits after a while with nothing to do.

One worker at a time: it holds an exclusive `flock` on `app_home()/worker.lock`
(the kernel drops the lock when the process dies, even by SIGKILL, so a crash
never leaves a stale lock). Runs left "running" by a dead process are marked
"interrupted" when a worker starts and whenever `worker_state()` is asked; a
queue left without a worker (one killed by SIGKILL or the OOM killer) gets a new
one at that moment too (`revive`).

Example:

    run_id = enqueue(TrainConfig.defaults("scratch"))
    worker_state().running      # the RunRecord being trained, or None
    stop(run_id)                # takes effect within one batch
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import gc
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.augment_config import AugmentConfig
from core.i18n import _, current_language
from core.paths import PROJECT_ROOT, app_home
from core.store import Phase, RunRecord, RunStore
from core.train_config import BLOG_METHODS, TrainConfig

IDLE_TIMEOUT_S = float(os.environ.get("LDL_WORKER_IDLE_S") or 30)  # tests shorten it
# "module:function" replacing core.training.train in the worker (tests only);
# it is called as fn(config_dict, store, run_id).
TRAIN_FUNCTION_ENV = "LDL_TRAIN_FUNCTION"

_children: list[subprocess.Popen] = []  # workers we spawned, reaped when they end


@dataclass
class WorkerState:
    """What the background worker is doing, for the sidebar and `runs list`."""

    alive: bool
    running: RunRecord | None
    queued: int
    epoch: int | None
    epochs: int | None
    eta_seconds: float | None
    phase: Phase | None = None  # what the running run does outside its batches

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["running"] = None if self.running is None else self.running.to_dict()
        return data


# --- the app side ---------------------------------------------------------------


def enqueue(config, store: RunStore | None = None) -> int:
    """Queue a training run and make sure a worker will pick it up.

    Args:
        config: a `core.train_config.TrainConfig` (validated here).
        store: the run store (default: the app home's).

    Returns:
        The new run's id.

    Raises:
        LabError: the configuration is invalid.
    """
    from core.training import create_run

    store = store or RunStore()
    run_id = create_run(config.validate(), store)
    ensure_worker()
    return run_id


def queue_cv(config, folds: int, store: RunStore | None = None) -> list[int]:
    """Queue a k-fold cross-validation of `config` (`training.create_cv_runs`): `folds`
    runs in one group, trained one after another; returns their ids in fold order.
    `folds` 1 (the Train page's "off") queues `config` as one ordinary run.

    Raises:
        LabError: the configuration is invalid (nothing is queued).
    """
    from core.training import create_cv_runs

    store = store or RunStore()
    if folds == 1:
        return [enqueue(config, store)]
    run_ids = create_cv_runs(config, folds, store)
    ensure_worker()
    return run_ids


def queue_blog_experiments(
    data: str = "demo",
    *,
    image_size: int = 150,
    backbone: str = "vgg16",
    pretrained: bool = True,
    epochs: int | None = None,
    batch_size: int | None = None,
    augment: AugmentConfig | None = None,
    seed: int | None = None,
    store: RunStore | None = None,
) -> list[int]:
    """Queue the blog's three experiments in order: scratch, bottleneck, fine-tuning.

    The fine-tuning run's `top_run` is the bottleneck run queued just before it;
    training resolves it when the run starts and fails clearly if that run did
    not finish.

    Args:
        data: "demo" or a dataset folder.
        image_size: input size of all three (the blog's 150).
        backbone: the pretrained base for runs 2 and 3 (the blog's VGG16).
        pretrained: False asks explicitly for random base weights.
        epochs, batch_size, seed: overrides of each method's defaults.
        augment: augmentation settings for the scratch and fine-tuning runs (the
            bottleneck run keeps its default, as in the blog).
        store: the run store (default: the app home's).

    Returns:
        The three run ids, in execution order.
    """
    from core.training import create_run

    store = store or RunStore()
    overrides = {"data": str(data), "image_size": int(image_size)}
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed)):
        if value is not None:
            overrides[key] = value
    names = {
        "scratch": "Blog 1: small CNN from scratch",
        "bottleneck": f"Blog 2: bottleneck features ({backbone})",
        "finetune": f"Blog 3: fine-tuning ({backbone})",
    }
    ids: list[int] = []
    for method in BLOG_METHODS:
        extra = {"name": names[method]}
        if method != "scratch":
            extra.update(backbone=backbone, pretrained=pretrained)
        if method == "finetune":
            extra["top_run"] = ids[-1]
        if augment is not None and method != "bottleneck":  # the blog's features: unaugmented
            extra["augment"] = augment
        config = dataclasses.replace(TrainConfig.blog(method), **overrides, **extra)
        ids.append(create_run(config.validate(), store))
    ensure_worker()
    return ids


def stop(run_id: int, store: RunStore | None = None) -> None:
    """Ask a run to stop: a queued one never starts, a running one stops within a batch."""
    (store or RunStore()).request_stop(run_id)


def ensure_worker() -> int:
    """Start the background worker unless one is alive.

    Returns:
        The worker's pid (the existing one's, or the new one's).
    """
    _reap_children()
    pid = _worker_pid()
    if pid is not None:
        return pid
    home = app_home()
    env = {**os.environ, "LDL_HOME": str(home)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    with open(home / "worker.log", "ab") as log:
        # The worker writes what users read (a failed run's reason, progress) in the
        # language of whoever started it: the app session's, or the CLI's.
        child = subprocess.Popen(
            [sys.executable, "-m", "core", "--lang", current_language(), "worker"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the app; a Ctrl-C in the app's terminal too
        )
    _children.append(child)
    return child.pid


def revive(store: RunStore | None = None) -> list[int]:
    """Notice a dead worker: mark its runs interrupted, and restart the queue.

    A worker killed by SIGKILL (or the OOM killer) leaves its run "running" and
    the runs behind it "queued" with nobody to take them. Whoever reads the store
    (the app's sidebar, the CLI) calls this: runs whose process died become
    "interrupted", and when runs are still queued and no worker is alive, a new
    worker is started.

    Returns:
        The ids of the runs marked interrupted.
    """
    store = store or RunStore()
    marked = store.mark_interrupted_dead()
    if store.next_queued() is not None:
        ensure_worker()  # starts one only when none holds the lock
    return marked


def worker_state(store: RunStore | None = None) -> WorkerState:
    """The worker's state: alive, the running run with epoch x/y and ETA, queue length.

    Also notices a dead worker (see `revive`): its runs are marked interrupted
    and a new worker takes the queue.
    """
    store = store or RunStore()
    revive(store)
    runs = store.list_runs()
    running = next((r for r in reversed(runs) if r.status == "running"), None)
    queued = sum(r.status == "queued" for r in runs)
    epoch, eta = _progress(running, store) if running else (None, None)
    return WorkerState(
        alive=_worker_pid() is not None,
        running=running,
        queued=queued,
        epoch=epoch,
        epochs=running.epochs_planned if running else None,
        eta_seconds=eta,
        phase=store.phase(running.id) if running else None,
    )


def _progress(run: RunRecord, store: RunStore) -> tuple[int | None, float | None]:
    """(current epoch, seconds left) of a running run (`core.progress`: smoothed ETA)."""
    from core.progress import run_progress

    prog, eta = run_progress(run, store)
    if prog is None:
        done = store.epochs(run.id)
        return (done[-1]["epoch"] if done else None), None
    return prog.epoch, eta


def _lock_path() -> Path:
    return app_home() / "worker.lock"


def _try_lock(path: Path, attempts: int = 1):
    """An open file holding the exclusive lock, or None when another process has it."""
    handle = open(path, "a+")
    for attempt in range(attempts):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if attempt + 1 < attempts:
                time.sleep(0.1)
    handle.close()
    return None


def _worker_pid() -> int | None:
    """The live worker's pid, or None when no process holds the lock."""
    path = _lock_path()
    probe = _try_lock(path)
    if probe is not None:
        probe.close()  # nobody held it
        return None
    for _attempt in range(20):  # the new worker writes its pid right after locking
        with contextlib.suppress(ValueError, OSError):
            return int(path.read_text().strip())
        time.sleep(0.05)
    return 0


def _reap_children() -> None:
    _children[:] = [c for c in _children if c.poll() is None]


# --- the worker side ------------------------------------------------------------


class _Worker:
    """The loop behind `python -m core worker`."""

    def __init__(self, store: RunStore, train_fn: Callable | None, idle_timeout: float):
        self.store = store
        self.train_fn = train_fn
        self.idle_timeout = idle_timeout
        self.current: int | None = None
        self.exiting = False

    def on_sigterm(self, signum, frame) -> None:
        # Finish like a stop request (what was learned is kept), then exit.
        self.exiting = True
        if self.current is not None:
            self.store.request_stop(self.current)

    def loop(self, lock, poll: float) -> None:
        idle_since = time.monotonic()
        while not self.exiting:
            record = self.store.next_queued()
            if record is None:
                if time.monotonic() - idle_since < self.idle_timeout:
                    time.sleep(poll)
                    continue
                # Give the lock back, then look once more: a run queued meanwhile
                # saw the lock held and so started no worker of its own.
                lock.close()
                if self.store.next_queued() is None:
                    return
                lock = _try_lock(_lock_path())
                if lock is None:
                    return  # a newer worker took over
                _write_pid(lock)
                continue
            if self.store.claim(record.id, os.getpid()):
                self.current = record.id
                try:
                    run_one(self.store.get(record.id), self.store, self.train_fn)
                finally:
                    self.current = None
            idle_since = time.monotonic()
        lock.close()


def run_worker(
    idle_timeout: float = IDLE_TIMEOUT_S,
    poll: float = 0.5,
    store: RunStore | None = None,
    train_fn: Callable | None = None,
) -> int:
    """Run queued runs one at a time until idle for `idle_timeout` seconds.

    Args:
        idle_timeout: seconds without queued runs before exiting.
        poll: seconds between looks at the queue.
        store: the run store (default: the app home's).
        train_fn: replaces `core.training.train`, called as
            `train_fn(config, store, run_id)` (a `TrainConfig`); default: the
            `LDL_TRAIN_FUNCTION` environment variable, else the real training.

    Returns:
        0 (also when another worker already holds the lock).
    """
    lock = _try_lock(_lock_path(), attempts=30)  # a probe may hold it for an instant
    if lock is None:
        print(f"another worker is running (pid {_worker_pid()}); exiting", flush=True)
        return 0
    _write_pid(lock)
    store = store or RunStore()
    marked = store.mark_interrupted_dead()
    _log(f"worker {os.getpid()} started" + (f"; marked interrupted: {marked}" if marked else ""))
    worker = _Worker(store, train_fn or _train_function_from_env(), idle_timeout)
    previous = signal.signal(signal.SIGTERM, worker.on_sigterm)
    try:
        worker.loop(lock, poll)
    finally:
        signal.signal(signal.SIGTERM, previous)
    _log(f"worker {os.getpid()} exiting")
    return 0


def run_one(record: RunRecord, store: RunStore, train_fn: Callable | None = None) -> str:
    """Train one claimed run in this process, its output going to the run's log.txt.

    A run that ends without a final status (an unexpected exception) is marked
    failed with the exception's text; the worker goes on with the next run.

    Returns:
        The run's final status.
    """
    log_path = store.run_folder(record.id).log
    _log(f"run {record.id} ({record.name}) started")
    with _output_to(log_path):
        try:
            if train_fn is not None:
                train_fn(record.config, store, record.id)
            else:
                from core.training import train

                train(record.config, store, record.id)
        except Exception as exc:  # noqa: BLE001 - one bad run must not end the worker
            print(f"{type(exc).__name__}: {exc}", flush=True)
            if store.get(record.id).is_active:
                store.finish(record.id, "failed", error=_one_line(exc))
        finally:
            _free_memory()
    final = store.get(record.id)
    if final.is_active:  # train returned without recording an outcome
        store.finish(record.id, "failed", error=_("Training ended without recording a result."))
        final = store.get(record.id)
    _log(f"run {record.id} ended: {final.status}")
    return final.status


def _train_function_from_env() -> Callable | None:
    spec = os.environ.get(TRAIN_FUNCTION_ENV)
    if not spec:
        return None
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _write_pid(lock) -> None:
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()


@contextlib.contextmanager
def _output_to(path: Path):
    """Send this process's output to `path` while a run trains.

    Both at the file-descriptor level, so TensorFlow's C++ logging lands there,
    and for Python's `sys.stdout`/`sys.stderr` (which may not be fds 1 and 2).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a", buffering=1, encoding="utf-8") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _free_memory() -> None:
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    gc.collect()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    detail = text[0] if text else type(exc).__name__
    return _("Training failed unexpectedly: {error}").format(error=detail)


def _log(message: str) -> None:
    print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}", flush=True)
