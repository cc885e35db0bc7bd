"""Keras callbacks of the training runs: progress into the run store, stop requests,
the best checkpoint, and epoch lines for the command line.

Each callback resets its state in `on_train_begin`, so one instance can serve
several `fit()` calls.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras

# Figures streamed per epoch (when the logs have them).
EPOCH_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def _number(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class StoreProgress(keras.callbacks.Callback):
    """Streams running per-batch and per-epoch figures into a `RunStore`.

    Batch records are throttled to one per `min_interval` seconds (the UI polls
    every 2 s; each record costs a SQLite insert), but the first and last batches
    of every epoch are always recorded. Epochs and batches are numbered from 1.

    Args:
        store: the `RunStore`.
        run_id: the run being trained.
        batch_size: images per batch (for images per second).
        num_samples: training images per epoch (the last batch may be smaller).
        min_interval: seconds between batch records.
    """

    def __init__(
        self, store, run_id: int, batch_size: int, num_samples: int, min_interval: float = 0.25
    ):
        super().__init__()
        self.store, self.run_id = store, run_id
        self.batch_size, self.num_samples = batch_size, num_samples
        self.min_interval = min_interval

    def on_train_begin(self, logs=None):
        self._epoch_start = self._last_write = time.perf_counter()
        self._epoch_index = 0
        self._trained = False
        self.epoch_seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_index = epoch
        self._epoch_start = time.perf_counter()
        self._last_write = -math.inf  # the first batch of an epoch is always logged

    def on_train_batch_end(self, batch, logs=None):
        steps = int(self.params.get("steps") or 0)
        now = time.perf_counter()
        last = steps and batch + 1 >= steps
        if not last and now - self._last_write < self.min_interval:
            return
        self._last_write = now
        if not self._trained:  # the first step is traced: "prepare" lasts until it ends
            self._trained = True
            self.store.set_phase(self.run_id, "train")
        images = min((batch + 1) * self.batch_size, self.num_samples or math.inf)
        figures = {k: _number(v) for k, v in (logs or {}).items()}
        figures["images_per_second"] = images / max(now - self._epoch_start, 1e-9)
        self.store.log_batch(self.run_id, self._epoch_index + 1, batch + 1, steps, figures)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._epoch_start
        self.epoch_seconds.append(seconds)
        figures = {k: _number(v) for k, v in (logs or {}).items()}
        figures["seconds"] = seconds
        lr = getattr(self.model.optimizer, "learning_rate", None)
        if lr is not None:
            figures["lr"] = _number(keras.ops.convert_to_numpy(lr))
        self.store.log_epoch(self.run_id, epoch + 1, figures)


class PredictProgress(keras.callbacks.Callback):
    """Calls `on_batch(images)` after each batch of `predict`, with the images it held.

    Args:
        on_batch: receives the number of images of the batch just predicted.
        batch_size: images per batch.
        num_samples: images in this `predict` call (the last batch may be smaller).
    """

    def __init__(self, on_batch: Callable[[int], None], batch_size: int, num_samples: int):
        super().__init__()
        self.on_batch, self.batch_size, self.num_samples = on_batch, batch_size, num_samples

    def on_predict_batch_end(self, batch, logs=None):
        before = batch * self.batch_size
        self.on_batch(max(0, min(self.batch_size, self.num_samples - before)))


class StopOnRequest(keras.callbacks.Callback):
    """Ends training after the current batch when `should_stop()` returns True.

    What was learned is kept: Keras finishes the epoch's bookkeeping (including
    validation) and `fit()` returns normally. `stopped` tells the caller.

    Args:
        should_stop: a cheap callable, polled after every batch.
    """

    def __init__(self, should_stop: Callable[[], bool]):
        super().__init__()
        self.should_stop = should_stop

    def on_train_begin(self, logs=None):
        self.stopped = False

    def on_train_batch_end(self, batch, logs=None):
        if not self.stopped and self.should_stop():
            self.stopped = True
            self.model.stop_training = True


class BestCheckpoint(keras.callbacks.Callback):
    """Keeps the weights of the best epoch (in memory, and optionally as a `.keras` file).

    Args:
        monitor: the epoch figure to maximise (`val_accuracy`) or minimise (`*loss`).
        path: where to save the best model, or None to keep it in memory only.
        saved_model: the model saved at `path`, if not the one trained (fine-tuning's
            whole model, when only its tail trains on cached prefix outputs).
    """

    def __init__(
        self, monitor: str = "val_accuracy", path: str | Path | None = None, saved_model=None
    ):
        super().__init__()
        self.monitor, self.path, self.saved_model = monitor, path, saved_model
        self._sign = -1.0 if "loss" in monitor else 1.0

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.best_weights = None, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = _number((logs or {}).get(self.monitor))
        if value is None or (
            self.best is not None and self._sign * value <= self._sign * self.best
        ):
            return
        self.best, self.best_epoch = value, epoch + 1
        self.best_weights = self.model.get_weights()
        if self.path is not None:
            (self.saved_model or self.model).save(self.path)

    def restore(self) -> bool:
        """Put the best epoch's weights back into the model; False if there were none."""
        if self.best_weights is None:
            return False
        self.model.set_weights(self.best_weights)
        return True


class EpochReporter(keras.callbacks.Callback):
    """Calls `report(epoch, epochs, figures)` after each epoch (the CLI prints a line).

    Args:
        report: receives the 1-based epoch, the planned epochs and the epoch's logs.
    """

    def __init__(self, report: Callable[[int, int, dict], None]):
        super().__init__()
        self.report = report

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        figures = {k: _number(v) for k, v in (logs or {}).items()}
        figures["seconds"] = time.perf_counter() - self._start
        self.report(epoch + 1, int(self.params.get("epochs") or 0), figures)


class EpochEvents(keras.callbacks.Callback):
    """Per-epoch scalars as TensorBoard event files, without the tensorboard package.

    `keras.callbacks.TensorBoard` needs the `tensorboard` package for its summary ops;
    this writes the same layout (`train/` and `validation/`, tags `epoch_loss`,
    `epoch_accuracy`...) with TensorFlow's own protos and record writer, which
    TensorBoard reads. Used when the package is missing.

    Args:
        log_dir: the run's TensorBoard folder.
    """

    def __init__(self, log_dir: str | Path):
        super().__init__()
        self.log_dir = Path(log_dir)

    def on_train_begin(self, logs=None):
        import tensorflow as tf
        from tensorflow.core.util import event_pb2

        self._writers = {}
        for split in ("train", "validation"):
            folder = self.log_dir / split
            folder.mkdir(parents=True, exist_ok=True)
            name = folder / f"events.out.tfevents.{time.time():.0f}.lab.{id(self)}.v2"
            writer = tf.io.TFRecordWriter(str(name))
            header = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
            writer.write(header.SerializeToString())
            writer.flush()
            self._writers[split] = writer

    def on_epoch_end(self, epoch, logs=None):
        from tensorflow.core.framework import summary_pb2
        from tensorflow.core.util import event_pb2

        values = {"train": [], "validation": []}
        for key, value in (logs or {}).items():
            number = _number(value)
            if number is None:
                continue
            split = "validation" if key.startswith("val_") else "train"
            tag = "epoch_" + key.removeprefix("val_")
            values[split].append(summary_pb2.Summary.Value(tag=tag, simple_value=number))
        for split, items in values.items():
            if items:
                event = event_pb2.Event(
                    wall_time=time.time(), step=epoch, summary=summary_pb2.Summary(value=items)
                )
                self._writers[split].write(event.SerializeToString())
                self._writers[split].flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


@dataclass
class EpochTiming:
    """Two short epochs of real training on random data, taken apart (seconds).

    Attributes:
        train_step: one training batch, steady (mean gap between batch ends, epoch 2).
        val_step: one validation batch, steady (0 when too few to tell).
        fixed: the rest of a steady epoch: first batch, validation set-up, callbacks,
            checkpoint, logs (epoch 2's wall time minus its steps).
        warmup: what the first epoch took beyond a steady one (tracing).
        steps, val_steps: batches per timed epoch.
    """

    train_step: float
    val_step: float
    fixed: float
    warmup: float
    steps: int
    val_steps: int

    def epoch_seconds(self, train_batches: int, val_batches: int) -> float:
        """A steady epoch of `train_batches` training and `val_batches` validation batches."""
        return self.fixed + self.train_step * train_batches + self.val_step * val_batches


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock times of batch ends and epoch ends over two epochs, for `EpochTiming`.

    Put it last among the callbacks, so that an epoch's end includes the others' work
    (store writes, checkpoint, logs).
    """

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.epoch, self.epoch_ends = 0, []
        self.train: dict[int, list[float]] = {}
        self.val: dict[int, list[float]] = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.train.setdefault(self.epoch, []).append(time.perf_counter())

    def on_test_batch_end(self, batch, logs=None):
        self.val.setdefault(self.epoch, []).append(time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_ends.append(time.perf_counter())

    def timing(self, steps: int, val_steps: int) -> EpochTiming:
        """The second epoch taken apart; the first's extra time is the warm-up."""
        first = self.epoch_ends[0] - self.start
        steady = self.epoch_ends[1] - self.epoch_ends[0]
        train_step = _mean_gap(self.train.get(1, []))
        val_step = _mean_gap(self.val.get(1, []))
        fixed = steady - train_step * steps - val_step * val_steps
        return EpochTiming(
            train_step, val_step, max(0.0, fixed), max(0.0, first - steady), steps, val_steps
        )


def _mean_gap(times: list[float]) -> float:
    """Mean seconds between consecutive times (the first, with its start-up, left out)."""
    return (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.0
