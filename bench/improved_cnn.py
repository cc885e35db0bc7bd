"""The improved small CNN's cost per epoch against the blog's CNN, in CPU seconds.

    python bench/improved_cnn.py [--steps 6] [--train-n 2000]

On a shared machine wall-clock seconds per epoch say more about the neighbours than
about the model. CPU seconds (all threads of this process, `time.process_time`) do not
depend much on how many other processes share the cores. Two estimates of the improved
CNN's seconds per epoch on the quiet machine: (a) CPU seconds / 2 cores (both busy all
epoch; for the blog CNN this matched a quiet 42 s per epoch measured on this machine
instance); (b) the ratio of the two models' CPU seconds times the blog CNN's seconds per
epoch in bench/results/blog_table.json (15.6 s: a faster machine instance, 2.5x, see
estimate_accuracy above). Both assume the models use the 2 cores equally well.

Each model trains through `core.training.time_epochs` exactly as `train` does
(pipeline, augmentation, optimizer, callbacks, determinism; random pictures): once
untimed (first-call costs), once with `--steps` batches per epoch and once with three
times as many; the difference is the CPU cost of 4 x `--steps` steady training batches
(building and tracing cancel out).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_SECONDS = 1800  # issue 10: the whole training within 30 minutes on 2 quiet cores


def cpu_per_train_step(config, steps: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one steady training batch."""
    from core.training import time_epochs

    time_epochs(config, num_classes=2, steps=2, val_steps=1)  # first-call costs: not timed
    figures = []
    for n in (steps, 3 * steps):
        cpu, wall = time.process_time(), time.perf_counter()
        time_epochs(config, num_classes=2, steps=n, val_steps=1)
        figures.append((time.process_time() - cpu, time.perf_counter() - wall))
    extra = 2 * 2 * steps  # two epochs, each 2 x `steps` batches longer
    return (
        (figures[1][0] - figures[0][0]) / extra,
        (figures[1][1] - figures[0][1]) / extra,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--train-n", type=int, default=2000, help="training pictures")
    args = parser.parse_args()
    from core.train_config import TrainConfig

    table = json.loads((ROOT / "bench/results/blog_table.json").read_text())
    blog_quiet = next(r for r in table["rows"] if r["method"] == "scratch")["seconds_per_epoch"]
    rows = {}
    for method in ("scratch", "improved"):
        config = TrainConfig.defaults(method)
        cpu, wall = cpu_per_train_step(config, args.steps)
        steps = math.ceil(args.train_n / config.batch_size)
        rows[method] = dict(config=config, cpu_epoch=cpu * steps, wall_epoch=wall * steps)
        print(
            f"{method}: {config.image_size} px, batch {config.batch_size}: "
            f"{cpu * steps:.1f} CPU s per training epoch ({cpu:.2f} per batch), "
            f"{wall * steps:.1f} wall s here and now",
            flush=True,
        )
    ratio = rows["improved"]["cpu_epoch"] / rows["scratch"]["cpu_epoch"]
    epochs = rows["improved"]["config"].epochs
    for basis, quiet in (
        ("(a) CPU s / 2 cores", rows["improved"]["cpu_epoch"] / 2),
        (f"(b) {ratio:.2f} x blog CNN's {blog_quiet:.1f} s (blog_table.json)", blog_quiet * ratio),
    ):
        print(
            f"improved quiet estimate {basis}: {quiet:.1f} s/epoch, {epochs} epochs ~ "
            f"{quiet * epochs:.0f} s (goal <= {GOAL_SECONDS} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
