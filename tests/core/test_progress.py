"""core.progress: one progress formula and a smoothed ETA, on synthetic timestamps."""

import numpy as np
import pytest

from core import progress as P
from core.store import RunStore

EPOCHS, BATCHES = 20, 50


def _simulated_run(seed=0, decode=50.0, warmup=20.0, epoch=10.0, noise=0.25):
    """Batch and epoch records of a run with noisy epoch times (log-normal, sd `noise`).

    The first epoch also traces the model (`warmup` s); decoding comes before it. 80% of
    each epoch is training batches, the rest validation. Returns (epochs, batches).
    """
    rng = np.random.default_rng(seed)
    t, epochs, batches = decode, [], []
    for e in range(1, EPOCHS + 1):
        steady = epoch * float(rng.lognormal(0, noise))
        traced = t + (warmup if e == 1 else 0.0)  # the first step's tracing
        for b in range(1, BATCHES + 1):
            at = traced + 0.8 * steady * b / BATCHES
            batches.append({"epoch": e, "batch": b, "batches_per_epoch": BATCHES, "time": at})
        epochs.append({"epoch": e, "time": traced + steady, "seconds": traced + steady - t})
        t = traced + steady
    return epochs, batches


def _eta_at(batch_index, epochs, batches):
    last = batches[batch_index]
    done = [e for e in epochs if e["time"] <= last["time"]]
    current = [b for b in batches[: batch_index + 1] if b["epoch"] == last["epoch"]]
    prog = P.Progress(last["epoch"], EPOCHS, last["batch"], BATCHES, None)
    return P.eta_seconds(prog, P.epoch_durations(done), current)


def _old_eta(batch_index, epochs, batches):
    """The formula before smoothing: elapsed time scaled by the share done."""
    last = batches[batch_index]
    done = sum(e["time"] <= last["time"] for e in epochs)
    fraction = (done + min(1.0, last["batch"] / BATCHES)) / EPOCHS
    return last["time"] * (1 - fraction) / fraction


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eta_stays_in_a_band_when_epoch_times_are_noisy(seed):
    epochs, batches = _simulated_run(seed)
    end = epochs[-1]["time"]
    ratios, old_ratios, etas = [], [], []
    for i, b in enumerate(batches):
        if b["epoch"] < 4 or b["epoch"] > EPOCHS - 5:  # 2+ steady epochs seen, 5+ left
            continue
        true_left = end - b["time"]
        eta = _eta_at(i, epochs, batches)
        ratios.append(eta / true_left)
        old_ratios.append(_old_eta(i, epochs, batches) / true_left)
        etas.append(eta)
    assert 0.6 <= min(ratios) and max(ratios) <= 1.6, (min(ratios), max(ratios))
    # No swing: from one batch record to the next the ETA moves by under 35%.
    jumps = np.abs(np.diff(etas)) / np.array(etas[1:])
    assert jumps.max() < 0.35, jumps.max()
    # The elapsed-time formula, on the same timestamps, strays far outside that band.
    assert max(old_ratios) > 2.0


def test_eta_in_the_first_epoch_uses_its_batch_rate_without_the_traced_first_step():
    epochs, batches = _simulated_run(noise=0.0, warmup=20.0)
    i = 30  # batch 31 of epoch 1: no epoch completed yet
    prog = P.Progress(1, EPOCHS, 31, BATCHES, None)
    eta = P.eta_seconds(prog, [], batches[: i + 1])
    per_epoch_train = 10.0 * 0.8  # the rate after the first batch: training only
    assert eta == pytest.approx(per_epoch_train * (EPOCHS - 31 / BATCHES), rel=1e-6)
    assert P.eta_seconds(prog, [], batches[:2]) is None  # too little to go on


def test_typical_epoch_leaves_out_the_first_and_averages_the_rest():
    assert P.typical_epoch([]) is None
    assert P.typical_epoch([30.0]) == 30.0  # only the warm-up epoch so far
    assert P.typical_epoch([30.0, 10.0]) == 10.0
    a = P.ALPHA
    assert P.typical_epoch([30.0, 10.0, 20.0]) == pytest.approx(a * 20 + (1 - a) * 10)
    durations = P.epoch_durations(
        [{"epoch": 1, "time": 100.0}, {"epoch": 2, "time": 112.0}, {"epoch": 3, "time": 130.0,
         "seconds": 17.5}]
    )  # fmt: skip
    assert durations == [12.0, 17.5]


def test_run_progress_reads_the_store(make_run):
    store = RunStore()
    record = make_run(status="queued", name="r", epochs=4)
    run_id = record.id
    assert P.run_progress(record, store) == (None, None)
    store.log_epoch(run_id, 1, {"loss": 1.0, "seconds": 30.0})
    store.log_epoch(run_id, 2, {"loss": 1.0, "seconds": 12.0})
    store.log_batch(run_id, 3, 5, 10, {"loss": 1.0})  # half of epoch 3: 2.5 of 4 epochs done
    prog, eta = P.run_progress(record, store)
    assert (prog.epoch, prog.batch, prog.fraction) == (3, 5, 2.5 / 4)
    assert eta == pytest.approx(12.0 * 1.5)


def test_progress_and_durations_in_korean():
    from core import i18n

    prog = P.Progress(epoch=2, epochs=5, batch=10, batches=25, images_per_second=300.0)
    i18n.set_language("ko")  # the autouse `english` fixture puts English back
    assert prog.text(65) == "에폭 2/5 · 배치 10/25 · 초당 이미지 300장 · 남은 시간 약 1분 5초"
    assert P.format_seconds(7830) == "2시간 10분" and P.format_seconds(9) == "9초"
    assert P.activity(None, None, None) == "시작하는 중"
