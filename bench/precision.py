"""float32 against mixed_bfloat16 on this machine (issue 13), images per second.

    python bench/precision.py [--batches 2] [--repeats 1] [--out bench/results/precision.json]

- scratch epoch: the blog's small CNN (`models.make_scratch_cnn`, 150 px, batch 16,
  RMSprop) fitted on random images; the second epoch is timed (the first traces).
- MobileNetV2 inference at 150 and 224 px (`backbones.build_base`, random weights:
  the same arithmetic as ImageNet's), `predict` in batches of 32 after a warm-up batch.

Both policies run in the same process, interleaved repeat by repeat (so both see the
same load on a shared machine); the best repeat counts. The policy is set through
`core.devices.precision_policy`, as training sets it. mixed_float16 is left out: the lab
refuses it without a GPU. The CPU's bf16 flags are printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POLICIES = ("float32", "mixed_bfloat16")


def scratch_epoch(batches: int) -> float:
    """Images per second of one steady training epoch of the scratch CNN."""
    from core import models

    model = models.make_scratch_cnn(150, 2)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    n = batches * 16
    x = rng.uniform(0, 255, (n, 150, 150, 3)).astype("float32")
    y = (np.arange(n) % 2).astype("float32")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # traces
    start = time.perf_counter()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return n / (time.perf_counter() - start)


def mobilenet_inference(size: int, batches: int) -> float:
    """Images per second of MobileNetV2 (no top) predicting batches of 32."""
    from core import backbones

    base = backbones.build_base("mobilenet_v2_1.0", size, pretrained=False)
    x = np.random.default_rng(0).uniform(-1, 1, (batches * 32, size, size, 3)).astype("float32")
    base.predict(x[:32], batch_size=32, verbose=0)  # traces
    start = time.perf_counter()
    base.predict(x, batch_size=32, verbose=0)
    return len(x) / (time.perf_counter() - start)


def measure(args) -> dict:
    from core.devices import cpu_flags, precision_policy

    tasks = {
        "scratch epoch (150 px, batch 16)": lambda: scratch_epoch(args.batches),
        "MobileNetV2 inference, 150 px": lambda: mobilenet_inference(150, args.batches),
        "MobileNetV2 inference, 224 px": lambda: mobilenet_inference(224, args.batches),
    }
    best = {task: dict.fromkeys(POLICIES, 0.0) for task in tasks}
    for _ in range(args.repeats):
        for task, run in tasks.items():
            for policy in POLICIES:
                with precision_policy(policy):
                    rate = run()
                best[task][policy] = max(best[task][policy], rate)
                print(f"{task}, {policy}: {rate:.1f} images/s", flush=True)
    flags = sorted(f for f in cpu_flags() if "bf16" in f or f.startswith(("avx512f", "amx")))
    return {
        "machine": f"{platform.processor() or platform.machine()}, bf16 flags: {flags or 'none'}",
        "batches": args.batches,
        "repeats": args.repeats,
        "images_per_second": best,
        "bf16_over_f32": {t: r["mixed_bfloat16"] / r["float32"] for t, r in best.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "bench/results/precision.json"))
    args = parser.parse_args()
    result = measure(args)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("\n| task | float32 images/s | mixed_bfloat16 images/s | bf16 / f32 |\n|---|---|---|---|")
    for task, rates in result["images_per_second"].items():
        ratio = result["bf16_over_f32"][task]
        print(f"| {task} | {rates['float32']:.1f} | {rates['mixed_bfloat16']:.1f} | {ratio:.2f}× |")
    print(result["machine"])


if __name__ == "__main__":
    main()
