"""The run store: every training run, its metrics and its files, on SQLite in WAL mode.

Several processes share it: the worker writes while the app and the CLI read.
Each `RunStore` keeps one connection per thread (SQLite connections must not
cross threads), WAL lets readers proceed during writes, and a 30 s busy timeout
absorbs the short write locks. Standard library only, so pages import it fast.

Example:

    store = RunStore()
    run_id = store.create_run(name="cnn", method="scratch", backbone=None,
                              config={...}, dataset="demo", fingerprint="ab12",
                              epochs_planned=2, pretrained=False)
    store.mark_running(run_id, os.getpid())
    store.log_epoch(run_id, 1, {"loss": 0.6, "val_accuracy": 0.7})
    store.finish(run_id, "finished")
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import LabError, RunError
from core.i18n import N_, _
from core.paths import app_home
from core.run_summary import RunSummary
from core.train_config import TrainConfig

STATUSES = ("queued", "running", "finished", "stopped", "failed", "interrupted")
ACTIVE_STATUSES = ("queued", "running")
# A run's status in words (the store keeps the English identifier).
STATUS_WORDS = {
    "queued": N_("queued"),
    "running": N_("running"),
    "finished": N_("finished"),
    "stopped": N_("stopped"),
    "failed": N_("failed"),
    "interrupted": N_("interrupted"),
}


def status_text(status: str) -> str:
    """A run status in the session's language ("finished" / "완료")."""
    return _(STATUS_WORDS[status]) if status in STATUS_WORDS else status


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    method TEXT NOT NULL,
    backbone TEXT,
    config TEXT NOT NULL,
    dataset TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    epochs_planned INTEGER NOT NULL,
    pretrained INTEGER NOT NULL,
    summary TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    pid INTEGER,
    pid_started TEXT,
    stop_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    time REAL NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS batches (
    run_id INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    batch INTEGER NOT NULL,
    batches_per_epoch INTEGER NOT NULL,
    time REAL NOT NULL,
    metrics TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_run ON batches (run_id, epoch, batch);
CREATE TABLE IF NOT EXISTS phases (
    run_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    done INTEGER NOT NULL,
    total INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    data_path TEXT NOT NULL,
    data_label TEXT NOT NULL,
    split TEXT NOT NULL,
    n INTEGER NOT NULL,
    accuracy REAL NOT NULL,
    ci_low REAL NOT NULL,
    ci_high REAL NOT NULL,
    tta TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluations_by_run ON evaluations (run_id, created);
"""
_TABLES = re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", _SCHEMA)
# Stores written before a table existed gain it on open (CREATE TABLE IF NOT EXISTS):
# added tables are the only schema changes so far, so old stores keep working as is.

_RUN_COLUMNS = (
    "id, name, method, backbone, config, dataset, fingerprint, status, created_at, "
    "started_at, finished_at, epochs_planned, pretrained, summary, error, pid"
)


@dataclass
class Phase:
    """What a running run is doing outside its training batches, with counts.

    Attributes:
        name: one of `PHASES` ("decode", "extract", "prepare", "train", "evaluate", "stage1").
        done, total: units done and planned (images, batches or epochs; total 0: unknown).
        updated_at: when it was last written (time.time()).
    """

    name: str
    done: int
    total: int
    updated_at: float

    @property
    def fraction(self) -> float:
        """Share done, in [0, 1] (0 when the total is unknown)."""
        return min(1.0, max(0.0, self.done / self.total)) if self.total > 0 else 0.0


PHASES = ("decode", "extract", "prepare", "train", "evaluate", "stage1")


@dataclass(frozen=True)
class RunFolder:
    """A run's folder (`runs/<id>/`) and its files: the one place their names are written.

    Training writes the model, reports, predictions, its config and TensorBoard logs; the
    worker the log; calibration the temperature; exports go to `exports/`.
    """

    path: Path

    @property
    def model(self) -> Path:
        return self.path / "model.keras"

    @property
    def best(self) -> Path:
        """The best epoch's weights (`checkpoint_best`)."""
        return self.path / "best.keras"

    @property
    def top_weights(self) -> Path:
        """A bottleneck run's top model, which fine-tuning starts from."""
        return self.path / "top.weights.h5"

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def log(self) -> Path:
        """The worker's output while it trained this run."""
        return self.path / "log.txt"

    @property
    def temperature(self) -> Path:
        """The fitted temperature (`core.calibration`), when there is one."""
        return self.path / "temperature.json"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def exports(self) -> Path:
        return self.path / "exports"

    def report(self, split: str = "validation") -> Path:
        """The `EvalReport` JSON of "validation" or "test"."""
        return self.path / f"{_split_prefix(split)}report.json"

    def predictions(self, split: str = "validation") -> Path:
        """One row per image of "validation" or "test" (`core.metrics`)."""
        return self.path / f"{_split_prefix(split)}predictions.csv"


def _split_prefix(split: str) -> str:
    if split not in ("validation", "test"):
        raise ValueError(f"A run is evaluated on 'validation' or 'test'. Received: {split!r}")
    return "" if split == "validation" else "test_"


@dataclass
class StoredEvaluation:
    """A run's model scored on a labelled folder (`core.holdout`), as the store keeps it.

    `data_path` is the folder (or "demo"), `data_label` its display name, `split` the
    part scored ("all" for a plain folder of classes), `tta` the test-time augmentation;
    `created` is a Unix time, `id` the store's.
    """

    run_id: int
    data_path: str
    data_label: str
    split: str
    n: int
    accuracy: float
    ci_low: float
    ci_high: float
    tta: str = "none"
    created: float = 0.0
    id: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunRecord:
    """One training run as stored: what was asked, where it stands, what it reached."""

    id: int
    name: str
    method: str
    backbone: str | None
    config: TrainConfig
    dataset: str
    dataset_fingerprint: str
    status: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    epochs_planned: int
    pretrained: bool
    summary: RunSummary = field(default_factory=RunSummary)
    error: str | None = None
    pid: int | None = None

    @property
    def is_active(self) -> bool:
        """Queued or running: not yet in a final state."""
        return self.status in ACTIVE_STATUSES

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish (or to now while running); None if never started."""
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at

    def to_dict(self) -> dict:
        """JSON-ready; the summary holds only the figures recorded."""
        return {**asdict(self), "config": self.config.to_dict(), "summary": self.summary.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> RunRecord:
        config = _config(data["config"], data["method"], data["dataset"])
        return cls(**{**data, "config": config, "summary": RunSummary.from_dict(data["summary"])})


def process_alive(pid: int | None, started: str | None = None) -> bool:
    """Whether process `pid` is running (not a zombie, and not a recycled pid).

    Args:
        pid: the process id.
        started: the process start stamp recorded with it (`_process_start`),
            compared when given so that a pid reused by another process counts as dead.
    """
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: trust kill(0)
    if stat[0] == "Z":  # killed but not yet reaped by its parent
        return False
    return started is None or stat[1] == started


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) from /proc/<pid>/stat, or None where /proc is absent."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ")".
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], fields[19]


def _process_start(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


class RunStore:
    """Runs, metrics and stop requests in `runs.sqlite`; run folders beside it.

    Args:
        path: the database file; default `app_home()/runs.sqlite`. Run folders
            live in `runs/` next to it.
    """

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else app_home() / "runs.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.runs_root = self.path.parent / "runs"
        self._local = threading.local()
        conn = self._conn()
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not set(_TABLES) <= tables:
            conn.executescript(_SCHEMA)  # a new store, or one from before a table existed

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Autocommit (isolation_level=None): each statement is its own
            # transaction unless we open one explicitly.
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            # Switching modes takes a lock that a concurrent writer can hold: only when needed.
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # no fsync per commit in WAL
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- runs -----------------------------------------------------------------

    def create_run(
        self,
        *,
        name: str,
        method: str,
        backbone: str | None,
        config: TrainConfig | dict,
        dataset: str,
        fingerprint: str,
        epochs_planned: int,
        pretrained: bool,
        status: str = "queued",
    ) -> int:
        """Record a new run and return its id (ids are never reused).

        An empty `name` becomes "<method> #<id>". Runs to train are created by
        `core.training.create_run`; a dict `config` (some settings) reads back as a
        `TrainConfig` with the other fields at their defaults.
        """
        if isinstance(config, TrainConfig):
            config = config.to_dict()
        _check_status(status)
        cur = self._conn().execute(
            "INSERT INTO runs (name, method, backbone, config, dataset, fingerprint, status,"
            " created_at, epochs_planned, pretrained) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                name or "",
                method,
                backbone,
                json.dumps(config, default=_json_default),
                str(dataset),
                fingerprint,
                status,
                time.time(),
                int(epochs_planned),
                int(bool(pretrained)),
            ),
        )
        run_id = int(cur.lastrowid)
        if not name:
            self.rename(run_id, f"{method} #{run_id}")
        return run_id

    def get(self, run_id: int) -> RunRecord:
        """The run with this id.

        Raises:
            RunError: when no such run exists.
        """
        row = (
            self._conn()
            .execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (int(run_id),))
            .fetchone()
        )
        if row is None:
            raise RunError(_("Run {run} does not exist.").format(run=run_id))
        return _record(row)

    def list_runs(self) -> list[RunRecord]:
        """All runs, newest first."""
        rows = self._conn().execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id DESC")
        return [_record(row) for row in rows]

    def next_queued(self) -> RunRecord | None:
        """The oldest queued run, or None."""
        row = (
            self._conn()
            .execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1")
            .fetchone()
        )
        return None if row is None else _record(row)

    def claim(self, run_id: int, pid: int) -> bool:
        """Atomically move a queued run to running; False if it is no longer queued."""
        cur = self._conn().execute(
            "UPDATE runs SET status = 'running', pid = ?, pid_started = ?, started_at = ?"
            " WHERE id = ? AND status = 'queued'",
            (pid, _process_start(pid), time.time(), int(run_id)),
        )
        return cur.rowcount == 1

    def mark_running(self, run_id: int, pid: int) -> None:
        """The run has started in process `pid` (sets started_at unless already set)."""
        self._require(run_id)
        self._conn().execute(
            "UPDATE runs SET status = 'running', pid = ?, pid_started = ?,"
            " started_at = COALESCE(started_at, ?), finished_at = NULL WHERE id = ?",
            (pid, _process_start(pid), time.time(), int(run_id)),
        )

    def finish(self, run_id: int, status: str, error: str | None = None) -> None:
        """Put the run in a final state (finished, stopped, failed, interrupted)."""
        _check_status(status)
        if status in ACTIVE_STATUSES:
            raise ValueError(f"finish() needs a final status. Received: status={status!r}")
        self._require(run_id)
        self._conn().execute(
            "UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
            (status, error, time.time(), int(run_id)),
        )
        self._record_epochs_run(run_id)

    def update_summary(self, run_id: int, **figures) -> RunSummary:
        """Merge figures (`RunSummary` fields: val_accuracy, best_epoch, ...) into the run's
        summary; returns it. The one writer of summaries.

        Raises:
            ValueError: a name that is not a `RunSummary` field.
        """
        RunSummary().merged(**figures)  # refuse an unknown figure before writing
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")  # read-modify-write without a lost update
        try:
            row = conn.execute("SELECT summary FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if row is None:
                raise RunError(_("Run {run} does not exist.").format(run=run_id))
            summary = {**json.loads(row["summary"]), **figures}
            conn.execute(
                "UPDATE runs SET summary = ? WHERE id = ?",
                (json.dumps(summary, default=_json_default), int(run_id)),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return RunSummary.from_dict(summary)

    def rename(self, run_id: int, name: str) -> None:
        """Give the run a new display name.

        Raises:
            RunError: when the run does not exist or the name is blank.
        """
        name = (name or "").strip()
        if not name:
            raise RunError(_("Run {run} needs a non-empty name.").format(run=run_id))
        self._require(run_id)
        self._conn().execute("UPDATE runs SET name = ? WHERE id = ?", (name, int(run_id)))

    def delete(self, run_id: int) -> None:
        """Forget the run, its metrics and its folder.

        Raises:
            RunError: when the run does not exist or is running now (stop it first).
        """
        record = self.get(run_id)
        if record.status == "running" and process_alive(record.pid):
            raise RunError(
                _("Run {run} is running; stop it before deleting it.").format(run=run_id)
            )
        conn = self._conn()
        tables = (
            ("batches", "run_id"), ("epochs", "run_id"), ("phases", "run_id"),
            ("evaluations", "run_id"), ("runs", "id"),
        )  # fmt: skip
        for table, column in tables:
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (int(run_id),))
        shutil.rmtree(self.runs_root / str(int(run_id)), ignore_errors=True)

    def run_dir(self, run_id: int) -> Path:
        """The run's folder (`runs/<id>/` beside the database), created."""
        path = self.runs_root / str(int(run_id))
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run_folder(self, run_id: int) -> RunFolder:
        """The run's folder and the names of its files (the folder is created)."""
        return RunFolder(self.run_dir(run_id))

    # --- stop requests and crash detection ---------------------------------------

    def request_stop(self, run_id: int) -> None:
        """Ask the run to stop; a queued run becomes "stopped" without starting."""
        self._require(run_id)
        conn = self._conn()
        conn.execute("UPDATE runs SET stop_requested = 1 WHERE id = ?", (int(run_id),))
        conn.execute(
            "UPDATE runs SET status = 'stopped', finished_at = ?,"
            " error = 'Stopped before it started.' WHERE id = ? AND status = 'queued'",
            (time.time(), int(run_id)),
        )

    def stop_requested(self, run_id: int) -> bool:
        """Whether a stop was requested (cheap: called at every batch end)."""
        row = (
            self._conn()
            .execute("SELECT stop_requested FROM runs WHERE id = ?", (int(run_id),))
            .fetchone()
        )
        return bool(row and row["stop_requested"])

    def mark_interrupted_dead(self) -> list[int]:
        """Runs left "running" by a process that has died become "interrupted".

        Returns:
            The ids of the runs so marked. Their files (best.keras) are kept.
        """
        rows = (
            self._conn()
            .execute("SELECT id, pid, pid_started FROM runs WHERE status = 'running'")
            .fetchall()
        )
        marked = []
        for row in rows:
            if process_alive(row["pid"], row["pid_started"]):
                continue
            cur = self._conn().execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, error = ?"
                " WHERE id = ? AND status = 'running'",
                (
                    time.time(),
                    f"The process running it (pid {row['pid']}) ended unexpectedly; "
                    "its best checkpoint, if any, was kept.",
                    row["id"],
                ),
            )
            if cur.rowcount:
                marked.append(int(row["id"]))
                self._record_epochs_run(row["id"])
        return marked

    def _record_epochs_run(self, run_id: int) -> None:
        """An ended run's summary says how many epochs it completed ("3/20", not "-/20").

        Training records `epochs_run` itself when it ends normally; a run that
        failed, or whose process died, gets the number of epochs it logged.
        """
        if self.get(run_id).summary.epochs_run is None:
            self.update_summary(run_id, epochs_run=len(self.epochs(run_id)))

    # --- metrics --------------------------------------------------------------

    def log_batch(
        self, run_id: int, epoch: int, batch: int, batches_per_epoch: int, metrics: dict
    ) -> None:
        """Record the running figures after one batch (loss, accuracy, images_per_second...).

        Epochs and batches count from 1 (batch `batches_per_epoch` ends the epoch).
        """
        self._conn().execute(
            "INSERT INTO batches (run_id, epoch, batch, batches_per_epoch, time, metrics)"
            " VALUES (?,?,?,?,?,?)",
            (
                int(run_id),
                int(epoch),
                int(batch),
                int(batches_per_epoch or 0),
                time.time(),
                json.dumps(metrics, default=_json_default),
            ),
        )

    def log_epoch(self, run_id: int, epoch: int, metrics: dict) -> None:
        """Record one epoch's figures, epochs counting from 1 (a repeat replaces the row)."""
        self._conn().execute(
            "INSERT OR REPLACE INTO epochs (run_id, epoch, time, metrics) VALUES (?,?,?,?)",
            (int(run_id), int(epoch), time.time(), json.dumps(metrics, default=_json_default)),
        )

    def epochs(self, run_id: int) -> list[dict]:
        """Per-epoch figures in order; each dict has "epoch" and "time" besides the metrics."""
        rows = self._conn().execute(
            "SELECT epoch, time, metrics FROM epochs WHERE run_id = ? ORDER BY epoch",
            (int(run_id),),
        )
        return [{**json.loads(r["metrics"]), "epoch": r["epoch"], "time": r["time"]} for r in rows]

    def batches(self, run_id: int, epoch: int | None = None) -> list[dict]:
        """Per-batch figures in order, optionally of one epoch only."""
        sql = "SELECT epoch, batch, batches_per_epoch, time, metrics FROM batches WHERE run_id = ?"
        args: tuple = (int(run_id),)
        if epoch is not None:
            sql, args = sql + " AND epoch = ?", args + (int(epoch),)
        rows = self._conn().execute(sql + " ORDER BY rowid", args)
        return [_batch(r) for r in rows]

    def last_batch(self, run_id: int) -> dict | None:
        """The most recent batch record of the run (for progress bars), or None."""
        row = (
            self._conn()
            .execute(
                "SELECT epoch, batch, batches_per_epoch, time, metrics FROM batches"
                " WHERE run_id = ? ORDER BY rowid DESC LIMIT 1",
                (int(run_id),),
            )
            .fetchone()
        )
        return None if row is None else _batch(row)

    # --- phases -----------------------------------------------------------------

    def set_phase(self, run_id: int, name: str, done: int = 0, total: int = 0) -> None:
        """Record the run's current phase and its counts (replaces the previous one)."""
        if name not in PHASES:
            raise ValueError(f"Unknown phase. Expected one of {PHASES}. Received: {name!r}")
        self._conn().execute(
            "INSERT OR REPLACE INTO phases (run_id, name, done, total, updated_at)"
            " VALUES (?,?,?,?,?)",
            (int(run_id), name, int(done), int(total), time.time()),
        )

    def phase(self, run_id: int) -> Phase | None:
        """The run's latest phase, or None when none was recorded."""
        row = (
            self._conn()
            .execute(
                "SELECT name, done, total, updated_at FROM phases WHERE run_id = ?",
                (int(run_id),),
            )
            .fetchone()
        )
        return None if row is None else Phase(**dict(row))

    def phase_reporter(self, run_id: int, name: str, min_interval: float = 0.25):
        """A `report(done, total)` callable writing phase `name`, at most every `min_interval` s.

        The first and the last report (done == total) are always written.
        """
        last = [-float("inf")]

        def report(done: int, total: int) -> None:
            now = time.monotonic()
            if done < total and now - last[0] < min_interval:
                return
            last[0] = now
            self.set_phase(run_id, name, done, total)

        return report

    # --- hold-out evaluations ------------------------------------------------------

    def add_evaluation(self, evaluation: StoredEvaluation) -> StoredEvaluation:
        """Keep a run's score on a labelled folder; returns it with its id and time."""
        self._require(evaluation.run_id)
        stored = dataclasses.replace(evaluation, created=evaluation.created or time.time())
        fields = [f.name for f in dataclasses.fields(StoredEvaluation) if f.name != "id"]
        marks = ", ".join("?" * len(fields))
        cur = self._conn().execute(
            f"INSERT INTO evaluations ({', '.join(fields)}) VALUES ({marks})",
            [getattr(stored, name) for name in fields],
        )
        return dataclasses.replace(stored, id=int(cur.lastrowid))

    def evaluations(self, run_id: int | None = None) -> list[StoredEvaluation]:
        """The stored evaluations of one run (or of every run), oldest first."""
        sql, args = "SELECT * FROM evaluations", ()
        if run_id is not None:
            sql, args = sql + " WHERE run_id = ?", (int(run_id),)
        rows = self._conn().execute(sql + " ORDER BY created, id", args)
        return [StoredEvaluation(**dict(row)) for row in rows]

    def _require(self, run_id: int) -> None:
        row = self._conn().execute("SELECT 1 FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise RunError(_("Run {run} does not exist.").format(run=run_id))


def _record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        name=row["name"],
        method=row["method"],
        backbone=row["backbone"],
        config=_config(json.loads(row["config"]), row["method"], row["dataset"]),
        dataset=row["dataset"],
        dataset_fingerprint=row["fingerprint"],
        status=row["status"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        epochs_planned=row["epochs_planned"],
        pretrained=bool(row["pretrained"]),
        summary=RunSummary.from_dict(json.loads(row["summary"])),
        error=row["error"],
        pid=row["pid"],
    )


def _config(stored: dict, method: str, dataset: str) -> TrainConfig:
    """A stored config, typed: settings this version does not know are ignored, and ones
    a record lacks take their defaults (its method and dataset from the record)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    settings = {"method": method, "data": dataset}
    settings.update({k: v for k, v in stored.items() if k in known})
    try:
        return TrainConfig(**settings)
    except LabError:  # settings this version refuses: keep what identifies the run
        return TrainConfig(method=method, data=dataset)


def _batch(row: sqlite3.Row) -> dict:
    return {
        **json.loads(row["metrics"]),
        "epoch": row["epoch"],
        "batch": row["batch"],
        "batches_per_epoch": row["batches_per_epoch"],
        "time": row["time"],
    }


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"Unknown run status. Expected one of {STATUSES}. Received: {status!r}")


def _json_default(value):
    """numpy scalars and arrays (and Paths) as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
