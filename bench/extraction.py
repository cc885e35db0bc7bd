"""Bottleneck feature extraction at native size: images/s of the ways to run the base.

    KERAS_HOME=/work/shared/keras_home python bench/extraction.py \\
        [--data /work/shared/datasets/cats_vs_dogs] [--limit 100] [--rounds 2] [--out DIR]

MobileNetV2 1.0 at 224 px with its ImageNet weights (`models.extraction_model`, as
`core.features` extracts), on the same decoded arrays: the first `--limit` training
images per class. Every variant is compared with the baseline, plain
`model.predict(x, batch_size=32)` on float32 arrays, measured in the same run:

- in this process, interleaved round by round (each round times every variant once;
  the figure is the median over rounds): `predict` at batch 16 / 64 / 128; a
  `tf.function(jit_compile=True)` (XLA) over batches of 32; the lab's
  `core.features.extract` (chunks of uint8 cast per chunk); decoding the files then
  extracting, against decoding the next chunk on a thread while the model runs
  (decode overlapping inference; both from the image files);
- in fresh processes, alternating: the baseline with oneDNN on (TensorFlow's default)
  and off (`TF_ENABLE_ONEDNN_OPTS=0` is read at import);
- `mixed_bfloat16` (`core.devices.precision_policy`): the base built in that policy.

Correctness: the largest absolute difference of each variant's features from the
baseline's (and the features' own largest magnitude, for scale). Results:
bench/results/extraction.md and .json, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BACKBONE, SIZE = "mobilenet_v2_1.0", 224
START_LOAD = list(os.getloadavg())


def samples(data: str, limit: int):
    from core.datasets import load_dataset

    train = load_dataset(data).splits["train"]
    counts: dict[int, int] = {}
    kept = []
    for sample in train:
        if counts.get(sample.label, 0) < limit:
            counts[sample.label] = counts.get(sample.label, 0) + 1
            kept.append(sample)
    return kept


def decode(chosen):
    from core.pipeline import decode_samples

    images, _ok, _skipped = decode_samples(chosen, SIZE, "stretch")
    return images


def extraction_model(precision: str = "float32"):
    from core import backbones, models
    from core.devices import precision_policy

    with precision_policy(precision):
        base = backbones.build_base(BACKBONE, SIZE, pretrained=True)
        return models.extraction_model(base, BACKBONE)


def xla_runner(model, batch: int = 32):
    import numpy as np
    import tensorflow as tf

    step = tf.function(lambda x: model(x, training=False), jit_compile=True)

    def run(images):
        out = [
            step(tf.constant(images[i : i + batch])).numpy() for i in range(0, len(images), batch)
        ]
        return np.concatenate(out)

    return run


def overlapped(model, chosen, chunk: int = 64, batch: int = 32):
    """Decode chunk i+1 on a thread while the model runs on chunk i."""
    import numpy as np

    parts = [chosen[i : i + chunk] for i in range(0, len(chosen), chunk)]
    out = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(decode, parts[0])
        for index in range(len(parts)):
            images = pending.result()
            if index + 1 < len(parts):
                pending = pool.submit(decode, parts[index + 1])
            out.append(model.predict(images.astype("float32"), batch_size=batch, verbose=0))
    return np.concatenate(out)


def child(args) -> None:
    """In a fresh process: the baseline's seconds and features (for the oneDNN switch)."""
    import numpy as np

    images = np.load(args.child)
    model = extraction_model()
    model.predict(images[:32], batch_size=32, verbose=0)  # trace outside the timing
    start = time.perf_counter()
    features = model.predict(images, batch_size=32, verbose=0)
    seconds = time.perf_counter() - start
    np.save(args.child + ".out.npy", features)
    print(json.dumps({"seconds": seconds}))


def in_subprocess(images_path: str, onednn: bool) -> tuple[float, object]:
    import numpy as np

    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0"}
    result = subprocess.run(
        [sys.executable, __file__, "--child", images_path],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds = json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
    return seconds, np.load(images_path + ".out.npy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/work/shared/datasets/cats_vs_dogs")
    parser.add_argument("--limit", type=int, default=100, help="training images per class")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    import numpy as np

    from core import features

    chosen = samples(args.data, args.limit)
    start = time.perf_counter()
    uint8 = decode(chosen)
    decode_seconds = time.perf_counter() - start
    x = uint8.astype("float32")
    n = len(x)
    model = extraction_model()
    xla = None
    try:
        xla = xla_runner(model)
        xla(x)  # compile every batch shape outside the timing
    except Exception as exc:  # XLA on this CPU may not compile: recorded, not fatal
        xla_error = f"{type(exc).__name__}: {exc}"[:300]
        xla = None
    else:
        xla_error = None

    variants = {
        "baseline: predict, batch 32": lambda: model.predict(x, batch_size=32, verbose=0),
        "predict, batch 16": lambda: model.predict(x, batch_size=16, verbose=0),
        "predict, batch 64": lambda: model.predict(x, batch_size=64, verbose=0),
        "predict, batch 128": lambda: model.predict(x, batch_size=128, verbose=0),
        "lab: features.extract (uint8 chunks)": lambda: features.extract(model, uint8, 32),
        "decode, then predict (from files)": lambda: model.predict(
            decode(chosen).astype("float32"), batch_size=32, verbose=0
        ),
        "decode overlapping predict (from files)": lambda: overlapped(model, chosen),
    }
    if xla is not None:
        variants["XLA tf.function(jit_compile=True), batch 32"] = lambda: xla(x)
    for batch in (16, 32, 64, 128):  # trace each batch size (and a last, smaller batch)
        model.predict(x[: batch + 8], batch_size=batch, verbose=0)

    seconds: dict[str, list[float]] = {name: [] for name in variants}
    outputs = {}
    for _ in range(args.rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            outputs[name] = run()
            seconds[name].append(time.perf_counter() - start)
            print(f"{name}: {seconds[name][-1]:.1f} s", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="ldl-extraction-") as folder:
        path = str(Path(folder) / "images.npy")
        np.save(path, uint8.astype("float32"))
        for name in ("baseline: predict, batch 32", "oneDNN off: predict, batch 32"):
            seconds.setdefault(f"fresh process, {name}", [])
        for _ in range(args.rounds):
            for onednn, name in (
                (True, "baseline: predict, batch 32"),
                (False, "oneDNN off: predict, batch 32"),
            ):
                took, out = in_subprocess(path, onednn)
                seconds[f"fresh process, {name}"].append(took)
                outputs[f"fresh process, {name}"] = out

    bf16 = extraction_model("mixed_bfloat16")
    bf16.predict(x[:32], batch_size=32, verbose=0)
    start = time.perf_counter()
    outputs["mixed_bfloat16: predict, batch 32"] = bf16.predict(x, batch_size=32, verbose=0)
    seconds["mixed_bfloat16: predict, batch 32"] = [time.perf_counter() - start]

    reference = outputs["baseline: predict, batch 32"].astype("float32")
    base_ips = n / statistics.median(seconds["baseline: predict, batch 32"])
    fresh_ips = n / statistics.median(seconds["fresh process, baseline: predict, batch 32"])
    rows = []
    for name, times in seconds.items():
        ips = n / statistics.median(times)
        against = fresh_ips if name.startswith("fresh process") else base_ips
        diff = float(np.abs(outputs[name].astype("float32") - reference).max())
        rows.append({"variant": name, "seconds": times, "images_per_s": ips,
                     "vs_baseline": ips / against, "max_abs_diff": diff})  # fmt: skip
    report = {
        "backbone": BACKBONE,
        "image_size": SIZE,
        "images": n,
        "decode_seconds": decode_seconds,
        "feature_max_abs": float(np.abs(reference).max()),
        "xla_error": xla_error,
        "rows": rows,
        "loadavg_before_after": [START_LOAD, list(os.getloadavg())],
        "cpus": os.cpu_count(),
        "command": " ".join(sys.argv),
    }
    table = markdown(report)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "extraction.json").write_text(json.dumps(report, indent=2))
    (out / "extraction.md").write_text(table)


def markdown(report: dict) -> str:
    load = [", ".join(f"{v:.1f}" for v in values) for values in report["loadavg_before_after"]]
    lines = [
        f"Feature extraction, {report['backbone']} at {report['image_size']} px, "
        f"{report['images']} images (features' largest magnitude "
        f"{report['feature_max_abs']:.2f}). Load average (1, 5, 15 min) before {load[0]}, "
        f"after {load[1]} on {report['cpus']} CPUs. Ratios against the baseline of the "
        "same process kind (in this process, or a fresh one).",
        "",
        "| variant | images/s | vs baseline | max abs diff | seconds per round |",
        "|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        each = ", ".join(f"{s:.1f}" for s in row["seconds"])
        lines.append(
            f"| {row['variant']} | {row['images_per_s']:.1f} | {row['vs_baseline']:.2f}x | "
            f"{row['max_abs_diff']:.2g} | {each} |"
        )
    if report["xla_error"]:
        lines += ["", f"XLA did not run: {report['xla_error']}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
