"""Where a native-size bottleneck epoch goes: the blog's top model on 7x7x1280 features.

    python bench/top_epoch.py [--n 1000] [--variants lab,xla,gap]

MobileNetV2 1.0's features at 224 px are 7x7x1280; the blog's top model flattens them
into Dense(256): 16 M weights, which RMSprop updates every batch of 16. Each variant
trains the lab's top model (`models.make_top_model`, compiled by `fitting.compile_model`
as a run compiles it) on random features of that shape, one untimed epoch (tracing),
then one timed epoch with validation on 800 more, in this process, one after another:

- `lab`: as a run trains it (Keras's `jit_compile="auto"`, which leaves XLA off on CPU);
- `xla`: the same model compiled with `jit_compile=True` (XLA fuses RMSprop's update);
- `gap`: the global-average-pooling head (`--head gap`): 1280 inputs to Dense(256).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHAPE = (7, 7, 1280)  # MobileNetV2 1.0's features at 224 px


def epoch_seconds(x, y, validation, head: str, jit: bool) -> float:
    import keras

    from core import models
    from core.fitting import compile_model
    from core.train_config import TrainConfig

    keras.utils.set_random_seed(1)
    config = TrainConfig.defaults("bottleneck", head=head)
    top = models.make_top_model(SHAPE, 2, head, config.dropout)
    compile_model(top, config, 2, len(x) // config.batch_size)
    if jit:
        top.compile(optimizer=top.optimizer, loss=top.loss, metrics=["accuracy"], jit_compile=True)
    fit = dict(x=x, y=y, batch_size=config.batch_size, validation_data=validation, verbose=0)
    top.fit(epochs=1, **fit)  # tracing and first-call costs: not timed
    start = time.perf_counter()
    top.fit(epochs=1, **fit)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="training feature maps")
    parser.add_argument("--variants", default="lab,xla,gap")
    args = parser.parse_args()
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((args.n, *SHAPE), dtype=np.float32)
    y = rng.integers(0, 2, args.n).astype("float32")
    validation = (rng.random((800, *SHAPE), dtype=np.float32), rng.integers(0, 2, 800))
    settings = {"lab": ("flatten", False), "xla": ("flatten", True), "gap": ("gap", False)}
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, {args.n} + 800 feature maps")
    seconds = {}
    for name in args.variants.split(","):
        seconds[name] = epoch_seconds(x, y, validation, *settings[name])
        ratio = seconds["lab"] / seconds[name] if "lab" in seconds else float("nan")
        print(f"{name:4s} {seconds[name]:6.1f} s/epoch  lab / this {ratio:5.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
