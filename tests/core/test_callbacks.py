"""The training callbacks, each on a tiny Keras model fitted on random data."""

import keras
import numpy as np
import pytest

from core import callbacks as cb
from core.store import RunStore


def _model() -> keras.Model:
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(1, activation="sigmoid")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    return model


def _data(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("float32")


def test_store_progress_records_every_epoch_and_each_epochs_first_and_last_batch(make_run):
    store = RunStore()
    run_id = make_run(status="queued", name="callbacks", epochs=3).id
    x, y = _data()
    # A huge interval: only the always-kept first and last batches of each epoch are written.
    progress = cb.StoreProgress(store, run_id, batch_size=8, num_samples=40, min_interval=1e9)
    _model().fit(x, y, batch_size=8, epochs=3, validation_data=_data(16, 1), verbose=0,
                 callbacks=[progress])  # fmt: skip
    epochs = store.epochs(run_id)
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert all(e["val_accuracy"] is not None and e["seconds"] > 0 for e in epochs)
    assert epochs[0]["lr"] == pytest.approx(0.1)
    batches = store.batches(run_id)
    assert [(b["epoch"], b["batch"]) for b in batches] == [
        (e, b) for e in (1, 2, 3) for b in (1, 5)
    ]
    assert len(progress.epoch_seconds) == 3
    # A second fit() with the same instance starts afresh.
    _model().fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[progress])
    assert len(progress.epoch_seconds) == 1


def test_stop_on_request_ends_after_the_batch_that_asked():
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) == 3

    stop = cb.StopOnRequest(should_stop)
    x, y = _data()
    history = _model().fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[stop])
    assert stop.stopped and len(calls) == 3
    assert len(history.history["loss"]) == 1  # the first epoch's bookkeeping still happens


def test_best_checkpoint_keeps_and_restores_the_best_epoch(tmp_path):
    model = _model()
    best = cb.BestCheckpoint("val_loss", path=tmp_path / "best.keras")
    best.set_model(model)
    best.on_train_begin()
    for epoch, loss in enumerate((0.9, 0.5, 0.7)):
        model.layers[-1].bias.assign([float(epoch)])  # each epoch's weights differ
        best.on_epoch_end(epoch, {"val_loss": loss})
    assert (best.best, best.best_epoch) == (0.5, 2)
    assert (tmp_path / "best.keras").is_file()
    assert best.restore()
    assert float(model.layers[-1].bias.numpy()[0]) == 1.0
    fresh = cb.BestCheckpoint("val_accuracy")
    fresh.on_train_begin()
    assert not fresh.restore()  # nothing to restore before an epoch ends


def test_best_checkpoint_ignores_missing_and_non_finite_figures():
    best = cb.BestCheckpoint("val_accuracy")
    best.set_model(_model())
    best.on_train_begin()
    best.on_epoch_end(0, {"val_accuracy": float("nan")})
    best.on_epoch_end(1, {})
    assert best.best is None
    best.on_epoch_end(2, {"val_accuracy": 0.6})
    best.on_epoch_end(3, {"val_accuracy": 0.6})  # a tie is not an improvement
    assert (best.best, best.best_epoch) == (0.6, 3)


def test_epoch_reporter_gives_epoch_of_planned_and_figures():
    lines = []
    x, y = _data()
    reporter = cb.EpochReporter(lambda e, n, f: lines.append((e, n, f)))
    history = _model().fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[reporter])
    assert [(e, n) for e, n, _ in lines] == [(1, 2), (2, 2)]
    assert [f["accuracy"] for _, _, f in lines] == pytest.approx(history.history["accuracy"])
    assert [f["loss"] for _, _, f in lines] == pytest.approx(history.history["loss"])
    assert all(f["seconds"] > 0 for _, _, f in lines)


def test_epoch_events_are_readable_tensorboard_files(tmp_path):
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    x, y = _data()
    _model().fit(x, y, batch_size=8, epochs=2, validation_data=_data(16, 1), verbose=0,
                 callbacks=[cb.EpochEvents(tmp_path)])  # fmt: skip
    for split in ("train", "validation"):
        (events,) = (tmp_path / split).glob("events.out.tfevents.*")
        records = [event_pb2.Event.FromString(r.numpy()) for r in tf.data.TFRecordDataset(
            str(events))]  # fmt: skip
        assert records[0].file_version == "brain.Event:2"
        tags = [(r.step, v.tag) for r in records[1:] for v in r.summary.value]
        assert (0, "epoch_loss") in tags and (1, "epoch_accuracy") in tags
