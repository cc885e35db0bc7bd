"""The built-in demo dataset: procedurally drawn shapes, no download needed.

Each image is one shape (a circle, a square or a triangle) of random colour,
size, position and rotation on a noisy, textured background with a few
distracting strokes, so neither mean colour nor any single pixel gives the class
away: a model has to learn shapes. Generation is seeded, so every machine draws
the same images; they are written once into `app_home()/datasets/demo`.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from core.datasets import Dataset, load_dataset
from core.i18n import N_
from core.paths import app_home, app_subdir
from core.tempdirs import OWNER_FILE, file_lock, owned_tempdir

DEMO_NAME = N_("Demo shapes (synthetic)")  # translated where shown (`display_name`)
DEMO_CLASSES = ("circles", "triangles")
DEMO_COUNTS = {"train": 200, "validation": 60}  # Images per class.
IMAGE_SIZE = 128
SEED = 20160605  # The blog post's date.
# Bump when the drawing changes, so old copies on disk are regenerated.
VERSION = 1
_MANIFEST = ".demo.json"  # Hidden: the dataset listing ignores it.


def demo_dataset() -> Dataset:
    """The demo dataset, generated into the app home on first use.

    A copy that is missing, incomplete or from an older version of the generator
    is drawn again; drawing takes a few seconds.

    Returns:
        A `Dataset` in the blog's layout with `synthetic=True`.
    """
    folder = app_subdir("datasets") / "demo"
    if not _is_complete(folder):
        # Two processes starting on a fresh app home (the app and a CLI command)
        # must not both draw it: the second waits, then finds it complete.
        with file_lock(app_home() / "demo.lock"):
            if not _is_complete(folder):
                _generate(folder)
    dataset = load_dataset(folder)
    dataset.name = DEMO_NAME
    dataset.synthetic = True
    return dataset


def draw_shape(shape: str, rng: np.random.Generator, size: int = IMAGE_SIZE) -> Image.Image:
    """One demo image: `shape` ('circle', 'square' or 'triangle') drawn at random.

    Args:
        shape: which shape to draw.
        rng: the random generator that decides everything else.
        size: side of the square image in pixels.

    Returns:
        An RGB image.
    """
    img, base = _background(rng, size)
    draw = ImageDraw.Draw(img)
    _distractors(draw, rng, size)
    radius = rng.uniform(0.24, 0.36) * size
    # Shapes stay near the centre, as objects do in photos people take.
    cx, cy = size / 2 + rng.uniform(-0.12, 0.12, 2) * size
    color = _contrasting(base, rng)
    if shape == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=color)
    elif shape in ("square", "triangle"):
        sides = 4 if shape == "square" else 3
        angle = rng.uniform(0, 2 * math.pi)
        # A square's circumradius r gives side r*sqrt(2); scale it down so both
        # shapes cover similar areas and size alone does not tell them apart.
        r = radius * (0.9 if sides == 4 else 1.1)
        points = [
            (
                cx + r * math.cos(angle + 2 * math.pi * k / sides),
                cy + r * math.sin(angle + 2 * math.pi * k / sides),
            )
            for k in range(sides)
        ]
        draw.polygon(points, fill=color)
    else:
        raise ValueError(f"shape must be circle, square or triangle. Received: shape={shape!r}")
    return img.filter(ImageFilter.GaussianBlur(radius=0.6))


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    # A random colour gradient plus per-pixel noise: the mean colour of an
    # image says nothing about its class.
    base = rng.integers(0, 256, 3).astype(np.float32)
    tilt = rng.uniform(-80, 80, 3).astype(np.float32)
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    gradient = ramp[None, :, None] * tilt if rng.random() < 0.5 else ramp[:, None, None] * tilt
    noise = rng.normal(0, 12, (size, size, 3)).astype(np.float32)
    pixels = np.clip(base + gradient + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels), base


def _contrasting(base: np.ndarray, rng: np.random.Generator) -> tuple[int, int, int]:
    # A random colour, but visibly different from the background's.
    while True:
        color = rng.integers(0, 256, 3)
        if np.abs(color - base).sum() > 180:
            return tuple(int(c) for c in color)


def _distractors(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    for _ in range(rng.integers(0, 4)):
        x0, y0, x1, y1 = rng.uniform(0, size, 4)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.line([x0, y0, x1, y1], fill=color, width=1)


def _is_complete(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / _MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("version") != VERSION:
        return False
    return all((folder / rel).is_file() for rel in manifest.get("files", []))


def _generate(folder: Path) -> None:
    # Draw into a temporary sibling folder and swap it in, so an interrupted
    # run never leaves a half-drawn dataset that looks complete.
    # The temporary folder names its owner, so one left by a killed process is
    # removed at the next start-up (core.tempdirs).
    tmp = owned_tempdir(folder.parent, ".demo-")
    try:
        files = _draw_all(tmp)
        (tmp / _MANIFEST).write_text(json.dumps({"version": VERSION, "files": files}))
        (tmp / OWNER_FILE).unlink()
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _draw_all(folder: Path) -> list[str]:
    files = []
    for split_index, (split, count) in enumerate(DEMO_COUNTS.items()):
        for class_index, class_name in enumerate(DEMO_CLASSES):
            shape = class_name[:-1]  # "circles" -> "circle"
            (folder / split / class_name).mkdir(parents=True)
            # One stream per (split, class): counts can change without
            # reshuffling the other classes' images.
            rng = np.random.default_rng([SEED, split_index, class_index])
            for i in range(count):
                rel = f"{split}/{class_name}/{shape}_{i:04d}.jpg"
                draw_shape(shape, rng).save(folder / rel, quality=90)
                files.append(rel)
    return files
