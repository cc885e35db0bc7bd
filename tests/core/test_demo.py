"""The built-in synthetic dataset: deterministic, cached, labelled as synthetic."""

import hashlib

import numpy as np

from core import demo
from core.datasets import resolve_dataset
from core.imaging import open_rgb


def _digest(dataset) -> str:
    h = hashlib.sha256()
    for split in sorted(dataset.splits):
        for sample in dataset.splits[split]:
            with open(sample.path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def test_demo_dataset_layout_and_labels(app_home):
    ds = demo.demo_dataset()
    assert ds.synthetic and "synthetic" in ds.name.lower()
    assert ds.root == (app_home / "datasets" / "demo").resolve()
    assert ds.class_names == sorted(demo.DEMO_CLASSES) and ds.num_classes >= 2
    per_class = {split: {c: n for c in ds.class_names} for split, n in demo.DEMO_COUNTS.items()}
    assert ds.counts() == per_class
    assert not ds.skipped
    img = open_rgb(ds.splits["train"][0].path)
    assert img.size == (demo.IMAGE_SIZE, demo.IMAGE_SIZE)


def test_demo_is_deterministic_and_regenerated_when_incomplete(app_home, tmp_path, monkeypatch):
    first = demo.demo_dataset()
    digest = _digest(first)
    # Cached: a second call draws nothing.
    monkeypatch.setattr(demo, "_draw_all", lambda folder: (_ for _ in ()).throw(AssertionError))
    assert demo.demo_dataset().fingerprint() == first.fingerprint()
    monkeypatch.undo()
    # A missing file makes the copy incomplete: it is drawn again, identically.
    (first.root / "train" / first.class_names[0]).joinpath("circle_0000.jpg").unlink()
    assert _digest(demo.demo_dataset()) == digest
    # Another app home draws the very same bytes.
    monkeypatch.setenv("LDL_HOME", str(tmp_path / "other_home"))
    assert _digest(demo.demo_dataset()) == digest


def test_resolve_demo():
    assert resolve_dataset("demo").synthetic


def test_mean_colour_does_not_give_the_class_away():
    # A nearest-class-mean classifier on the mean RGB should be near chance.
    rng = np.random.default_rng(0)
    means = {
        shape: np.array(
            [np.asarray(demo.draw_shape(shape, rng, 48)).mean((0, 1)) for _ in range(40)]
        )
        for shape in ("circle", "triangle")
    }
    centre = {k: v[:20].mean(0) for k, v in means.items()}
    correct = sum(
        min(centre, key=lambda c: np.linalg.norm(x - centre[c])) == shape
        for shape, v in means.items()
        for x in v[20:]
    )
    assert correct / 40 < 0.75


def test_shapes_differ_in_structure():
    rng = np.random.default_rng(1)
    circle = np.asarray(demo.draw_shape("circle", rng, 64))
    triangle = np.asarray(demo.draw_shape("triangle", rng, 64))
    assert circle.shape == triangle.shape == (64, 64, 3)
    assert not np.array_equal(circle, triangle)
