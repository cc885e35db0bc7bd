"""What a run reached: `RunSummary`, the figures training writes into its run record.

Standard library only (the run store, pages and the CLI read it). Every figure is
optional: a run records them as it goes (decoding, features, fitting, evaluation),
and a failed or old run has only some. The store merges new figures in through
`RunStore.update_summary`, the one writer; unknown keys of old stores are ignored on read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class RunSummary:
    """A run's figures; None: not (yet) recorded."""

    # The data (decoding).
    class_names: list[str] | None = None
    num_classes: int | None = None
    train_n: int | None = None
    seed: int | None = None
    skipped_files: int | None = None
    decode_seconds: float | None = None
    # Bottleneck features.
    extract_seconds: float | None = None
    feature_cache_hit: bool | None = None
    feature_shape: list[int] | None = None
    # Fine-tuning: the run whose top model it starts from, and its stage-1 run.
    top_run_id: int | None = None
    stage1_run_id: int | None = None
    # The top run's validation accuracy, copied when fine-tuning starts: the figure
    # fine-tuning must not end below (`runs_view.below_top_run_warning`).
    top_run_val_accuracy: float | None = None
    # Fine-tuning without augmentation (issue 13): the frozen prefix's outputs computed
    # once (or read from the cache) and only the tail trained on them; else the reason.
    prefix_cached: bool | None = None
    prefix_layer: str | None = None  # the base's layer whose output was cached
    prefix_seconds: float | None = None  # computing them (0 on a cache hit)
    prefix_cache_hit: bool | None = None
    prefix_skipped_reason: str | None = None
    # Evaluation on the validation split (and the test split where there is one).
    val_accuracy: float | None = None
    val_ci_low: float | None = None
    val_ci_high: float | None = None
    val_n: int | None = None
    val_loss: float | None = None
    test_accuracy: float | None = None
    test_ci_low: float | None = None
    test_ci_high: float | None = None
    test_n: int | None = None
    test_loss: float | None = None
    # Fitting.
    best_val_accuracy: float | None = None
    best_epoch: int | None = None
    final_val_accuracy: float | None = None
    best_weights_restored: bool | None = None
    restored_by: str | None = None  # the epoch figure the best epoch was chosen by
    epochs_run: int | None = None
    total_params: int | None = None
    trainable_params: int | None = None
    train_seconds: float | None = None
    seconds_per_epoch: float | None = None
    steady_seconds_per_epoch: float | None = None  # median after the warm-up epoch
    warmup_seconds: float | None = None  # the first epoch's extra time (tracing)
    pretrained: bool | None = None
    # Issue 13: the dtype policy the run trained in, its devices (replicas) and the
    # global batch (batch_size x devices).
    precision: str | None = None
    devices: int | None = None
    global_batch_size: int | None = None

    @classmethod
    def fields(cls) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict:
        """The recorded figures only (None left out), as stored."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> RunSummary:
        """Reads a stored summary; keys this version does not know are ignored."""
        known = cls.fields()
        return cls(**{k: v for k, v in data.items() if k in known})

    def merged(self, **figures) -> RunSummary:
        """A copy with `figures` set.

        Raises:
            ValueError: for a name that is not a summary field (a typo must not pass).
        """
        unknown = sorted(set(figures) - self.fields())
        if unknown:
            raise ValueError(f"Unknown run summary figure '{unknown[0]}'.")
        return dataclasses.replace(self, **figures)
