"""Seconds per epoch of the blog's small CNN, three ways, at the blog's settings.

    python bench/scratch_epoch.py [--data PATH|demo] [--epochs 1] [--limit N] [--out FILE]

- blog: the blog's own pipeline: the legacy `ImageDataGenerator` (shear, zoom, flip)
  + `flow_from_directory` + `fit`, which decodes and warps every image with
  PIL/scipy on every epoch.
- ours: `core.training` exactly as the lab runs it (`start_run` of a scratch run):
  images decoded once (`core.pipeline`), the augmentation layers in a tf.data map
  (`ours_model`, on request: inside the model), per-batch and per-epoch streaming into
  the run store, the best checkpoint, TensorBoard when installed.
- bound: the compute-only bound: the same model fitted on already-decoded,
  un-augmented float32 arrays.

All three: 150x150, batch 16, RMSprop, validation every epoch; an epoch is timed
from its start to its end (validation included), as Keras' callbacks see it. Each
variant runs in a fresh process (TensorFlow's determinism switch is process-wide).
Runs under `KERAS_BACKEND=jax` without TensorFlow too ("ours" then feeds numpy arrays).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("blog", "ours", "bound")
# Extra variants, on request: augmentation layers inside the model instead of tf.data;
# ours without op determinism; the bound with it (compare like with like).
EXTRA = ("ours_model", "ours_nondet", "bound_det")
SIZE, BATCH, SEED = 150, 16, 1337


def machine() -> dict:
    """The machine and software the figures were measured on."""
    import keras

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }
    if info["backend"] == "jax":
        import jax

        info["devices"] = [str(d) for d in jax.devices()]
    else:
        try:
            import tensorflow as tf

            info["tensorflow"] = tf.__version__
            info["devices"] = [d.name for d in tf.config.list_physical_devices()]
        except ImportError:
            pass
    return info


def resolve_data(spec: str, limit: int | None, scratch: Path) -> Path:
    """The dataset folder; with `limit`, a temporary copy of the first N files per class."""
    if spec == "demo":
        from core.demo import demo_dataset

        source = Path(demo_dataset().root)
    else:
        source = Path(spec)
    if not limit:
        return source
    target = scratch / "data"
    for split in ("train", "validation"):
        for folder in sorted(p for p in (source / split).iterdir() if p.is_dir()):
            (target / split / folder.name).mkdir(parents=True, exist_ok=True)
            for image in sorted(folder.iterdir())[:limit]:
                shutil.copy(image, target / split / folder.name / image.name)
    return target


class EpochTimer:
    """A Keras callback recording each epoch's seconds (start to end, validation included)."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.seconds, self.logs = [], []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._start)
                self.logs.append({k: float(v) for k, v in (logs or {}).items()})

        return _Timer()


def _model():
    import keras

    from core.models import make_scratch_cnn

    keras.utils.set_random_seed(SEED)
    model = make_scratch_cnn(SIZE, 2)  # its Rescaling(1/255) is the blog's rescale=1./255
    model.compile(keras.optimizers.RMSprop(1e-3), "binary_crossentropy", metrics=["accuracy"])
    return model


def run_blog(data: Path, epochs: int) -> dict:
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    # The blog's generators (rescaling happens in the model, identically for all three).
    train = ImageDataGenerator(shear_range=0.2, zoom_range=0.2, horizontal_flip=True)
    flow = dict(target_size=(SIZE, SIZE), batch_size=BATCH, class_mode="binary", seed=SEED)
    train_gen = train.flow_from_directory(str(data / "train"), **flow)
    val_gen = ImageDataGenerator().flow_from_directory(str(data / "validation"), **flow)
    timer = EpochTimer()
    _model().fit(train_gen, epochs=epochs, validation_data=val_gen, callbacks=[timer], verbose=0)
    return {"epoch_seconds": timer.seconds, "last": timer.logs[-1]}


def run_ours(
    data: Path, epochs: int, augment_on: str = "pipeline", deterministic: bool = True
) -> dict:
    os.environ["LDL_HOME"] = tempfile.mkdtemp(prefix="ldl_bench_")
    from core.datasets import load_dataset
    from core.pipeline import load_split
    from core.store import RunStore
    from core.train_config import TrainConfig
    from core.training import start_run

    start = time.perf_counter()
    dataset = load_dataset(data)
    for split in ("train", "validation"):
        load_split(dataset, split, SIZE)  # memoised: the run below reuses it
    decode = time.perf_counter() - start
    store = RunStore()
    config = TrainConfig.defaults(
        "scratch",
        data=str(data),
        epochs=epochs,
        seed=SEED,
        augment_on=augment_on,
        deterministic=deterministic,
    )
    run_id = start_run(config, store)
    rows = store.epochs(run_id)
    last = {k: rows[-1][k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    return {"epoch_seconds": [r["seconds"] for r in rows], "decode_seconds": decode, "last": last}


def run_bound(data: Path, epochs: int, deterministic: bool = False) -> dict:
    from core.datasets import load_dataset
    from core.pipeline import load_split

    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()

    dataset = load_dataset(data)
    train, val = (load_split(dataset, s, SIZE) for s in ("train", "validation"))
    x, xv = train.images.astype("float32"), val.images.astype("float32")
    timer = EpochTimer()
    _model().fit(
        x,
        train.labels,
        batch_size=BATCH,
        epochs=epochs,
        shuffle=True,
        validation_data=(xv, val.labels),
        callbacks=[timer],
        verbose=0,
    )
    return {"epoch_seconds": timer.seconds, "last": timer.logs[-1]}


def child(variant: str, data: Path, epochs: int, out: Path) -> None:
    runs = {
        "blog": run_blog,
        "ours": run_ours,
        "ours_model": lambda d, e: run_ours(d, e, "model"),
        "ours_nondet": lambda d, e: run_ours(d, e, deterministic=False),
        "bound": run_bound,
        "bound_det": lambda d, e: run_bound(d, e, deterministic=True),
    }
    result = runs[variant](data, epochs)
    seconds = result["epoch_seconds"]
    result.update(
        variant=variant,
        first_epoch=seconds[0],
        # Later epochs show the steady state; with one epoch, the first (tracing included).
        steady=statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0],
    )
    out.write_text(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/datasets/cats_vs_dogs"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, help="images per class and split (a short run)")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS + EXTRA)}"
    )
    parser.add_argument("--out", help="also write the results as JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        variant, result_file = args.child.split(":", 1)
        child(variant, Path(args.data), args.epochs, Path(result_file))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        data = resolve_data(args.data, args.limit, Path(scratch))
        results = {}
        for variant in args.variants.split(","):
            out = Path(scratch) / f"{variant}.json"
            cmd = [
                sys.executable,
                __file__,
                "--data",
                str(data),
                "--epochs",
                str(args.epochs),
                "--child",
                f"{variant}:{out}",
            ]
            print(f"running {variant} ...", file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
            results[variant] = json.loads(out.read_text())
    report = {
        "machine": machine(),
        "data": args.data,
        "limit": args.limit,
        "epochs": args.epochs,
        "image_size": SIZE,
        "batch_size": BATCH,
        "results": results,
    }
    print(f"{'variant':11} {'first epoch s':>14} {'steady s/epoch':>15} {'val acc':>8}")
    for name, r in results.items():
        acc = r["last"].get("val_accuracy")
        print(f"{name:11} {r['first_epoch']:14.1f} {r['steady']:15.1f} {acc:8.3f}")
    if {"blog", "ours", "bound"} <= set(results):
        blog, ours, bound = (results[k]["steady"] for k in ("blog", "ours", "bound"))
        report["speedup_vs_blog"] = blog / ours
        report["ours_over_bound"] = ours / bound
        print(
            f"ours vs blog: {blog / ours:.2f}x faster (goal >= 1.2x); "
            f"ours / bound: {ours / bound:.2f} (goal <= 1.25)"
        )
    # Like with like: each of ours over the bound with the same determinism setting.
    for ours_key, bound_key in (("ours", "bound_det"), ("ours_nondet", "bound")):
        if {ours_key, bound_key} <= set(results):
            ratio = results[ours_key]["steady"] / results[bound_key]["steady"]
            report[f"{ours_key}_over_{bound_key}"] = ratio
            print(f"{ours_key} / {bound_key}: {ratio:.2f} (goal <= 1.25)")
    if "decode_seconds" in results.get("ours", {}):
        print(f"ours decoded the images once in {results['ours']['decode_seconds']:.1f} s")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
