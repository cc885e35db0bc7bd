"""Augment page preview latency: 9 variants per slider change, at 150 and 224 px.

Replays 50 slider changes (one knob at a time, starting from the "blog: preview"
preset, each giving a config not seen before) and times `core.augment.preview`
exactly as the page calls it, so every change pays the cache miss of building the
layer it touches (and `preview` reuses what the change does not touch). Also
measured in the same run, for comparison:
- "four layers": the page's `preview` (with its reuse) on Keras' four geometric layers,
  one resampling each, as before `RandomAffine` composed them;
- "previous": the implementation before the reuse (every layer run and drawn anew
  on each change, the four geometric layers);
  each on its own slider changes, interleaved change by change with the page's;
- "new draw": the same config with another seed (the cached stack);
- "tf.function": the stack wrapped in a tf.function, traced once per config;
- "legacy": the blog's way, ImageDataGenerator drawing 9 transforms (baseline).

Run: `python bench/preview_latency.py [--changes 50] [--sizes 150 224]` (needs scipy, in
requirements-dev.txt, for the legacy baseline). `--tail` instead times 200 slider changes
at 150 px and groups them by the knob changed and by the layers run again, and times each
layer's step: where the p95 comes from.
"""

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from core import augment  # noqa: E402
from core.augment import (  # noqa: E402
    _cached_layer,
    _reset_seed,
    build_augmenter,
    layer_specs,
    preview,
)
from core.augment_config import KNOBS, PRESETS  # noqa: E402

GOAL_P95_MS = 60.0
N = 9


def slider_changes(count: int, seed: int = 0) -> list:
    """`count` distinct configs, each one knob away from the previous one."""
    rng = np.random.default_rng(seed)
    config, seen, out = PRESETS["blog: preview"], set(), []
    knobs = [k for k in KNOBS if k.field != "fill_value"]
    while len(out) < count:
        knob = knobs[rng.integers(len(knobs))]
        steps = int(round((knob.max - knob.min) / knob.step))
        value = round(knob.min + knob.step * int(rng.integers(steps + 1)), 6)
        config = dataclasses.replace(config, **{knob.field: value})
        if config.to_json() not in seen:
            seen.add(config.to_json())
            out.append(config)
    return out


def timed(fn, items) -> np.ndarray:
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - start) * 1000)
    return np.array(times)


def previous_preview(image, config, seed=0):
    """`preview` before the reuse of prefix outputs and draws (the committed baseline)."""
    layers = [
        _cached_layer(index, name, tuple(sorted(kwargs.items())))
        for index, (name, kwargs) in enumerate(layer_specs(config))
    ]
    out = np.broadcast_to(image.astype("float32"), (N, *image.shape))
    for index, layer in enumerate(layers):
        _reset_seed(layer, seed, index)
        out = layer(out, training=True)
    return np.clip(np.rint(np.asarray(out)), 0, 255).astype(np.uint8)


def four_layer_preview(image, config, seed=0):
    """The page's `preview`, reuse included, on Keras' four geometric layers (before
    `RandomAffine`): its stack is `layer_specs` instead of `stack_specs`."""
    composed = augment.stack_specs
    augment.stack_specs = layer_specs
    try:
        return preview(image, config, n=N, seed=seed)
    finally:
        augment.stack_specs = composed


def interleaved(functions, item_lists):
    """Times the functions in turn, one item each, so all see the same machine load."""
    times = [[] for _ in functions]
    for items in zip(*item_lists, strict=True):
        for fn, item, out in zip(functions, items, times, strict=True):
            out.extend(timed(fn, [item]))
    return [np.array(t) for t in times]


def tf_function_preview(image, config):
    import tensorflow as tf

    stack = build_augmenter(config, seed=0)
    call = tf.function(lambda x: stack(x, training=True))
    return np.asarray(call(np.broadcast_to(image.astype("float32"), (N, *image.shape))))


def legacy_preview(image, config):
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    generator = ImageDataGenerator(
        rotation_range=config.rotation_degrees,
        width_shift_range=config.width_shift,
        height_shift_range=config.height_shift,
        shear_range=config.shear_degrees,
        zoom_range=config.zoom,
        horizontal_flip=config.horizontal_flip,
        vertical_flip=config.vertical_flip,
        fill_mode=config.fill_mode,
    )
    x = image.astype("float32")
    return [generator.apply_transform(x, generator.get_random_transform(x.shape)) for _ in range(N)]


def row(name, times):
    p95 = np.percentile(times, 95)
    return f"| {name} | {np.median(times):.1f} | {p95:.1f} | {p95 / GOAL_P95_MS:.2f} |"


def starts_of_runs(configs: list, length: int) -> list:
    """Slider changes that continue from one another, split into `length`-long runs."""
    return [configs[i : i + length] for i in range(0, len(configs), length)]


def tail(changes: int = 200, size: int = 150) -> None:
    """Slider changes grouped by knob and by layers run again; each layer's step."""
    from core import augment

    per_layer: dict[str, list[float]] = {}
    apply_layer = augment._apply_layer

    def timed_layer(spec, seed, images):
        start = time.perf_counter()
        out = np.asarray(apply_layer(spec, seed, images))
        per_layer.setdefault(spec[1], []).append((time.perf_counter() - start) * 1000)
        return out

    augment._apply_layer = timed_layer
    configs = slider_changes(changes + 1)
    rng = np.random.default_rng(1)
    preview(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), configs[-1])  # warm-up
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    by_knob, by_layers, previous = {}, {}, PRESETS["blog: preview"]
    for config in configs[:changes]:
        knob = next(f.name for f in dataclasses.fields(config)
                    if getattr(config, f.name) != getattr(previous, f.name))  # fmt: skip
        runs_before = sum(map(len, per_layer.values()))
        ms = timed(lambda c: preview(image, c, n=N, seed=0), [config])[0]
        by_knob.setdefault(knob, []).append(ms)
        by_layers.setdefault(sum(map(len, per_layer.values())) - runs_before, []).append(ms)
        previous = config
    print(f"{changes} slider changes at {size} px, load {os.getloadavg()[0]:.1f}")
    print("| group | n | median ms | p95 ms |\n|---|---|---|---|")
    groups = [(f"knob {k}", v) for k, v in sorted(by_knob.items())]
    groups += [(f"{k} layers run again", v) for k, v in sorted(by_layers.items())]
    groups += [(f"layer {k} (one step)", v) for k, v in per_layer.items()]
    for name, times in groups:
        p95 = np.percentile(times, 95)
        print(f"| {name} | {len(times)} | {np.median(times):.1f} | {p95:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--sizes", type=int, nargs="+", default=[150, 224])
    parser.add_argument("--tail", action="store_true", help="where the p95 comes from")
    args = parser.parse_args()
    if args.tail:
        return tail()
    # Each size and each implementation gets its own configs (one sequence of slider
    # changes), so every change builds the layer it touches.
    configs = slider_changes(3 * args.changes * len(args.sizes) + 1)
    rng = np.random.default_rng(1)
    preview(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), configs[-1])  # import + warm-up
    print(f"{os.cpu_count()} CPUs, {N} variants, {args.changes} slider changes per size")
    print(f"| size, path | median ms | p95 ms | p95 / goal ({GOAL_P95_MS:.0f} ms) |")
    print("|---|---|---|---|")
    for index, size in enumerate(args.sizes):
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        runs = starts_of_runs(configs[3 * index * args.changes :], args.changes)[:3]
        before = runs[2]
        page, four_layers, previous = interleaved(
            [
                lambda c, im=image: preview(im, c, n=N, seed=0),
                lambda c, im=image: four_layer_preview(im, c),
                lambda c, im=image: previous_preview(im, c),
            ],
            runs,
        )
        last = runs[0][-1]
        redraw = timed(lambda s, im=image, c=last: preview(im, c, n=N, seed=s), range(1, 21))
        traced = timed(lambda c, im=image: tf_function_preview(im, c), before[:10])
        legacy = timed(lambda c, im=image: legacy_preview(im, c), before[:20])
        print(row(f"{size} px, slider change (page)", page))
        print(row(f"{size} px, slider change, four geometric layers", four_layers))
        print(row(f"{size} px, slider change, previous implementation", previous))
        for name, times in (("four layers", four_layers), ("previous", previous)):
            ratio = np.percentile(times, 95) / np.percentile(page, 95)
            median_ratio = np.median(times) / np.median(page)
            print(f"| {size} px, {name} / page | {median_ratio:.2f}× | {ratio:.2f}× | |")
        print(row(f"{size} px, new draw (cached stack)", redraw))
        print(row(f"{size} px, tf.function per config", traced))
        print(row(f"{size} px, legacy ImageDataGenerator", legacy))
        if size == 150:
            verdict = "meets" if np.percentile(page, 95) < GOAL_P95_MS else "misses"
            print(f"\n150 px slider change {verdict} the goal: p95 < {GOAL_P95_MS:.0f} ms\n")


if __name__ == "__main__":
    main()
