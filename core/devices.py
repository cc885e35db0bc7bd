"""What this machine offers a run and how the run uses it (issue 13): the precision
policy (float32 or mixed) and the distribution strategy (several devices).

- `resolve_precision(requested)`: "auto" becomes a concrete policy for this machine:
  `mixed_float16` when a GPU is visible, `mixed_bfloat16` on a CPU with AMX
  (`amx_bf16` in /proc/cpuinfo), else `float32`. On a CPU without AMX, bfloat16 is
  emulated and slower (bench/precision.py measured it); float16 on a CPU is refused.
- `precision_policy(name)`: sets the Keras dtype policy for one run and restores the
  previous one after, so runs in one process do not leak into each other.
- `make_strategy(devices)`: `tf.distribute.MirroredStrategy` over N devices (the GPUs,
  or the CPU split into logical devices for tests), `MultiWorkerMirroredStrategy` when
  `TF_CONFIG` is set, else None (one device). The global batch is the per-device
  `batch_size` x replicas; the learning rate is used as given (not scaled).

TensorFlow is imported inside the functions (pages import `core.train_config` only).
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

from core.errors import LabError
from core.i18n import _
from core.train_config import PRECISIONS


@functools.cache
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is missing, e.g. macOS)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_fast_bf16(flags: frozenset[str] | None = None) -> bool:
    """AMX tiles with bfloat16 (Sapphire Rapids and later): bf16 matmuls in hardware.
    `avx512_bf16` alone only converts and dots pairs; oneDNN still gains little from it."""
    flags = cpu_flags() if flags is None else flags
    return "amx_bf16" in flags


def _tensorflow() -> bool:
    import keras

    from core.pipeline import has_tensorflow

    return has_tensorflow() and keras.backend.backend() == "tensorflow"


def gpu_count() -> int:
    """GPUs TensorFlow sees (logical devices: after any memory or MIG split)."""
    if not _tensorflow():
        return 0
    import tensorflow as tf

    return len(tf.config.list_logical_devices("GPU"))


def resolve_precision(requested: str, method: str = "scratch", gpus: int | None = None) -> str:
    """The Keras policy a run uses.

    "auto": `mixed_float16` with a GPU; `mixed_bfloat16` on a CPU with AMX; else
    `float32`. The bottleneck method stays `float32` under "auto": its top model is a
    few dense layers on cached float32 features, where mixed precision saves nothing.

    Raises:
        LabError: `mixed_float16` without a GPU (float16 on a CPU is emulated: slow, and
            its loss scaling buys nothing there), or an unknown name.
    """
    if requested not in PRECISIONS:
        raise LabError(
            _("Unknown precision '{name}'; choose one of {choices}.").format(
                name=requested, choices=", ".join(PRECISIONS)
            )
        )
    gpus = gpu_count() if gpus is None else gpus
    if requested == "mixed_float16" and not gpus:
        raise LabError(
            _(
                "Precision mixed_float16 needs a GPU and none is visible; "
                "choose float32 or mixed_bfloat16 (or auto)."
            )
        )
    if requested != "auto":
        return requested
    if method == "bottleneck":
        return "float32"
    if gpus:
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_fast_bf16() else "float32"


@contextlib.contextmanager
def precision_policy(name: str):
    """Keras's global dtype policy set to `name` inside the block, restored after
    (models built inside compute in that policy; their output layers stay float32)."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def make_strategy(devices: int | None):
    """The `tf.distribute` strategy for a run, and its number of replicas.

    - `TF_CONFIG` set: `MultiWorkerMirroredStrategy` (one process per worker; see the
      README), whatever `devices` says.
    - `devices` None: every GPU when more than one is visible, else no strategy.
    - `devices` N > 1: the first N GPUs, else N logical CPU devices where the CPU was
      split so (tests), else a `LabError`. 1: no strategy.

    Inside a strategy's scope already (fine-tuning's stage 1), the run shares it.

    Returns:
        (strategy to enter, or None, replicas).
    """
    if not _tensorflow():
        if devices not in (None, 1):
            raise LabError(_("Training on several devices needs TensorFlow as the Keras backend."))
        return None, 1
    import tensorflow as tf

    if tf.distribute.has_strategy():
        return None, tf.distribute.get_strategy().num_replicas_in_sync
    if os.environ.get("TF_CONFIG"):
        strategy = _multi_worker_strategy()
        return strategy, strategy.num_replicas_in_sync
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if devices is None:
        devices = len(gpus) if len(gpus) > 1 else 1
    if devices == 1:
        return None, 1
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    chosen = gpus if len(gpus) >= devices else cpus
    if len(chosen) < devices:
        raise LabError(
            _(
                "Training on {devices} devices was asked for, but this machine shows "
                "{gpus} GPU(s) and {cpus} CPU device(s); set devices to at most {most}."
            ).format(devices=devices, gpus=len(gpus), cpus=len(cpus), most=max(1, len(gpus)))
        )
    strategy = tf.distribute.MirroredStrategy(chosen[:devices])
    return strategy, strategy.num_replicas_in_sync


@functools.cache
def _multi_worker_strategy():
    """One per process: TensorFlow allows a single collective setup, made before any op
    runs (the CLI creates it first thing, `prepare_multi_worker`)."""
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


def prepare_multi_worker() -> None:
    """Create the multi-worker strategy now when `TF_CONFIG` is set (it must exist
    before TensorFlow runs its first op); a no-op otherwise."""
    if os.environ.get("TF_CONFIG"):
        _multi_worker_strategy()


@contextlib.contextmanager
def strategy_scope(strategy):
    """`strategy.scope()`, or nothing for a single device."""
    if strategy is None:
        yield
    else:
        with strategy.scope():
            yield
