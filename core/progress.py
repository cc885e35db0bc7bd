"""Where a running run stands and how long it has left: one formula for every view.

The Train page, the sidebar and `runs list` all ask `run_progress(record, store)`.
Standard library only (no pandas, no TensorFlow), so any caller imports it cheaply.

The ETA is smoothed: it rests on the typical epoch, not on the elapsed time
(which holds decoding, feature extraction and the first epoch's tracing) nor on
the last few batches (which leave out validation). The typical epoch is an
exponential moving average (weight `ALPHA` for the newest) of the completed epochs
after the first (the first traces the model: warm-up), validation included; until a
second epoch completes it is the first epoch's time, or within the first epoch its
batch rate so far. On noisy synthetic epochs (log-normal, sd 0.25) the average moved
the ETA by at most ~30% from one batch record to the next, a median of the last 3
epochs by up to ~65% (tests/core/test_progress.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.i18n import _

ALPHA = 0.25  # weight of the newest epoch in the moving average


@dataclass
class Progress:
    """Where a run stands within its epochs and batches, from its last batch record."""

    epoch: int  # 1-based epoch in progress
    epochs: int
    batch: int  # batches done in that epoch
    batches: int  # batches per epoch (0 when unknown)
    images_per_second: float | None

    def text(self, eta_seconds: float | None = None) -> str:
        """ "epoch 2/5 · batch 10/25 · 300 images/s · ETA 1 min 5 s" (what is known)."""
        parts = [
            _("epoch {epoch}/{epochs}").format(epoch=self.epoch, epochs=self.epochs),
            _("batch {batch}/{batches}").format(batch=self.batch, batches=self.batches),
        ]
        if self.images_per_second:
            parts.append(_("{n} images/s").format(n=f"{self.images_per_second:.0f}"))
        if eta_seconds:
            parts.append(_("ETA {time}").format(time=format_seconds(eta_seconds)))
        return " · ".join(parts)

    @property
    def fraction(self) -> float:
        """Share of all planned batches done, in [0, 1]."""
        if not self.epochs:
            return 0.0
        within = self.batch / self.batches if self.batches else 0.0
        return min(1.0, max(0.0, (self.epoch - 1 + within) / self.epochs))


def progress(record, last_batch: dict | None, first_epoch: int = 1) -> Progress | None:
    """The `Progress` of a run, or None before its first batch.

    Args:
        record: the `RunRecord`.
        last_batch: `RunStore.last_batch(run_id)`.
        first_epoch: the number training gives its first epoch (0 or 1).
    """
    if last_batch is None:
        return None
    return Progress(
        epoch=int(last_batch["epoch"]) - first_epoch + 1,
        epochs=record.epochs_planned,
        batch=int(last_batch["batch"]),
        batches=int(last_batch.get("batches_per_epoch") or 0),
        images_per_second=last_batch.get("images_per_second"),
    )


def epoch_durations(epochs: list[dict]) -> list[float]:
    """Seconds of each completed epoch: its logged "seconds" (validation included), else
    the time since the previous epoch's record (none for a first epoch without it)."""
    durations, previous = [], None
    for e in epochs:
        seconds = e.get("seconds")
        if seconds is None and previous is not None:
            seconds = e["time"] - previous
        if seconds is not None:
            durations.append(float(seconds))
        previous = e["time"]
    return durations


def typical_epoch(durations: list[float], current: list[dict] | None = None) -> float | None:
    """Seconds of a steady epoch: the moving average of the epochs after the first.

    Args:
        durations: completed epochs' seconds, in order (`epoch_durations`).
        current: the batch records of the epoch in progress; used only before any
            epoch completed (then its batch rate, the first batch's tracing left out).
    """
    if len(durations) >= 2:
        average = durations[1]
        for seconds in durations[2:]:
            average = ALPHA * seconds + (1 - ALPHA) * average
        return average
    if durations:
        return durations[0]
    return _epoch_from_batches(current or [])


def _epoch_from_batches(batches: list[dict]) -> float | None:
    if len(batches) < 3 or not batches[-1].get("batches_per_epoch"):
        return None
    first, last = batches[0], batches[-1]  # rate after the first batch: no tracing
    steps, seconds = last["batch"] - first["batch"], last["time"] - first["time"]
    if steps <= 0 or seconds <= 0:
        return None
    return seconds / steps * last["batches_per_epoch"]


def eta_seconds(
    prog: Progress | None, durations: list[float], current: list[dict] | None = None
) -> float | None:
    """Seconds left: the typical epoch times the epochs still to run (the one in
    progress counted by its share of batches not yet done); None when unknown."""
    if prog is None or not prog.epochs:
        return None
    epoch = typical_epoch(durations, current)
    if epoch is None:
        return None
    done = len(durations)
    if prog.epoch > done:  # an epoch is in progress
        within = prog.batch / prog.batches if prog.batches else 0.0
        left = prog.epochs - done - min(1.0, within)
    else:
        left = prog.epochs - done
    return max(0.0, left * epoch)


def run_progress(record, store) -> tuple[Progress | None, float | None]:
    """(`Progress`, seconds left) of a run from what its process wrote into `store`."""
    prog = progress(record, store.last_batch(record.id))
    if prog is None:
        return None, None
    durations = epoch_durations(store.epochs(record.id))
    current = None if durations else store.batches(record.id, epoch=prog.epoch)
    return prog, eta_seconds(prog, durations, current)


def format_seconds(seconds: float | None) -> str:
    """`75` -> "1 min 15 s", `7830` -> "2 h 10 min"; None -> "—"."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("{h} h {m} min").format(h=hours, m=minutes)
    if minutes:
        return _("{m} min {s} s").format(m=minutes, s=secs)
    return _("{s} s").format(s=secs)


def phase_text(phase) -> str:
    """A `core.store.Phase` in words with its counts: "Decoding images 1,234 / 2,800"."""
    counts = f"{phase.done:,} / {phase.total:,}" if phase.total else ""
    words = {
        "decode": _("Decoding images {counts}"),
        "extract": _("Extracting features, batch {counts}"),
        "prepare": _("Building the model and tracing its first training step…"),
        "train": _("Training"),
        "evaluate": _("Evaluating {counts}"),
        "stage1": _("Stage 1, training the top model: epoch {counts}"),
    }
    return words.get(phase.name, phase.name).format(counts=counts).strip()


def activity(phase, epoch: int | None, epochs: int | None) -> str:
    """What a running run is doing, in a few words: its phase outside training batches,
    else "epoch 2/5", else "starting"."""
    if phase is not None and phase.name != "train":
        text = phase_text(phase)
        return text[0].lower() + text[1:]
    if epoch is not None:
        return _("epoch {epoch}/{epochs}").format(epoch=epoch, epochs=epochs)
    return _("starting")
