"""core.builder: a dataset from pictures given per class, with an automatic validation split."""

import io

import numpy as np
import pytest
from PIL import Image

from core.builder import build_dataset
from core.datasets import load_dataset
from core.errors import DatasetError
from core.health import health_report
from core.paths import app_subdir
from tests.core.image_factory import image_array


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image_array((40, 32), seed)).save(buffer, "JPEG")
    return buffer.getvalue()


def _pictures(n: int, start: int = 0) -> list[tuple[str, bytes]]:
    return [(f"shot {i}.jpg", _jpeg(start + i)) for i in range(n)]


def test_build_writes_the_blog_layout_with_a_validation_split():
    built = build_dataset("my pets", {"cats": _pictures(10), "dogs": _pictures(5, 100)})
    assert built.path == app_subdir("datasets") / "my pets"
    assert built.counts == {"train": {"cats": 8, "dogs": 4}, "validation": {"cats": 2, "dogs": 1}}
    ds = load_dataset(built.path)
    assert ds.class_names == ["cats", "dogs"]
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 12, "validation": 3}
    assert health_report(ds).usable
    again = build_dataset("again", {"cats": _pictures(10), "dogs": _pictures(5, 100)})
    same = [
        sorted(p.name for p in (b.path / "validation" / "cats").iterdir()) for b in (built, again)
    ]
    assert same[0] == same[1]  # the seeded split is repeatable


def test_bad_files_are_skipped_and_named(tmp_path):
    path = tmp_path / "on disk.png"
    Image.fromarray(image_array((20, 20), 7)).save(path)
    no_suffix = ("webcam", _jpeg(3))  # a camera shot without an extension
    pictures = {
        "a": [*_pictures(2), ("notes.jpg", b"not a picture"), ("empty.png", b"")],
        "b": [path, no_suffix, ("shot 0.jpg", _jpeg(9)), ("shot 0.jpg", _jpeg(10))],
    }
    built = build_dataset("mixed", pictures)
    assert [name for name, _ in built.skipped] == ["notes.jpg", "empty.png"]
    assert "not an image" in built.skipped[0][1] and "empty" in built.skipped[1][1]
    names = sorted(p.name for p in built.path.glob("*/b/*"))
    assert names == ["on_disk.png", "shot_0.jpg", "shot_0_4.jpg", "webcam.jpg"]


def test_refusals_in_one_sentence():
    build_dataset("taken", {"a": _pictures(2), "b": _pictures(2, 10)})
    with pytest.raises(
        DatasetError, match="'taken' already exists; choose another name or replace"
    ):
        build_dataset("taken", {"a": _pictures(2), "b": _pictures(2, 10)})
    with pytest.raises(DatasetError, match=r"at least 2 usable pictures; too few in 'b' \(1\)"):
        build_dataset("few", {"a": _pictures(3), "b": [*_pictures(1), ("x.jpg", b"junk")]})
    with pytest.raises(DatasetError, match="at least 2 classes"):
        build_dataset("one", {"a": _pictures(3)})
    with pytest.raises(DatasetError, match="not a usable dataset name"):
        build_dataset("../", {"a": _pictures(2), "b": _pictures(2)})
    assert not app_subdir("datasets").joinpath("few").exists()  # nothing half-written


def test_replace_overwrites_an_existing_dataset():
    build_dataset("pets", {"a": _pictures(4), "b": _pictures(4, 10)})
    built = build_dataset("pets", {"x": _pictures(3), "y": _pictures(3, 20)}, replace=True)
    assert load_dataset(built.path).class_names == ["x", "y"]
    leftovers = [p.name for p in app_subdir("datasets").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert np.sum([n for per in built.counts.values() for n in per.values()]) == 6
