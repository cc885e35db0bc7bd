"""Layout detection, class names and the seeded, stratified split."""

import os
from pathlib import Path

import pytest

from core.datasets import display_name, load_dataset, resolve_dataset
from core.errors import DatasetError
from tests.core.image_factory import make_image_folder, write_bad_file

BLOG = {"train": {"cats": 6, "dogs": 5}, "validation": {"cats": 2, "dogs": 3}}


def test_blog_layout(tmp_path):
    root = make_image_folder(tmp_path / "pets", BLOG)
    ds = load_dataset(root)
    assert ds.name == "pets" and ds.root == root.resolve()
    assert ds.class_names == ["cats", "dogs"] and ds.is_binary and not ds.synthetic
    assert ds.counts() == {"train": {"cats": 6, "dogs": 5}, "validation": {"cats": 2, "dogs": 3}}
    # Labels follow the sorted class names.
    for sample in ds.splits["train"]:
        assert Path(sample.path).parent.name == ds.class_names[sample.label]


def test_blog_layout_with_test_split_and_val_alias(tmp_path):
    layout = {"train": {"a": 3, "b": 3, "c": 3}, "val": {"a": 1, "b": 1, "c": 1}}
    layout["test"] = {"a": 2, "b": 1, "c": 1}
    ds = load_dataset(make_image_folder(tmp_path / "abc", layout))
    assert set(ds.splits) == {"train", "validation", "test"}
    assert ds.num_classes == 3 and not ds.is_binary
    assert len(ds.splits["test"]) == 4


def test_blog_layout_under_one_top_level_folder(tmp_path):
    make_image_folder(tmp_path / "outer" / "pets", BLOG)
    ds = load_dataset(tmp_path / "outer")
    assert ds.name == "pets" and ds.counts()["train"]["cats"] == 6


def test_folder_of_class_folders_is_split_stratified(tmp_path):
    root = make_image_folder(tmp_path / "flat", {"ants": 10, "bees": 20, "wasps": 5})
    ds = load_dataset(root, val_fraction=0.2, seed=1)
    counts = ds.counts()
    assert counts["validation"] == {"ants": 2, "bees": 4, "wasps": 1}
    assert counts["train"] == {"ants": 8, "bees": 16, "wasps": 4}
    train = {s.path for s in ds.splits["train"]}
    validation = {s.path for s in ds.splits["validation"]}
    assert not train & validation and len(train | validation) == 35


def test_seeded_split_is_reproducible_and_seed_dependent(tmp_path):
    root = make_image_folder(tmp_path / "flat", {"ants": 30, "bees": 30})

    def held_out(seed):
        return [s.path for s in load_dataset(root, seed=seed).splits["validation"]]

    assert held_out(7) == held_out(7)
    assert held_out(7) != held_out(8)
    assert load_dataset(root, val_fraction=0.5).counts()["validation"] == {"ants": 15, "bees": 15}


def test_train_only_blog_layout_gets_a_validation_split(tmp_path):
    ds = load_dataset(make_image_folder(tmp_path / "t", {"train": {"a": 5, "b": 5}}))
    assert ds.counts()["validation"] == {"a": 1, "b": 1}


def test_non_image_files_and_junk_are_skipped(tmp_path):
    root = make_image_folder(tmp_path / "pets", BLOG)
    write_bad_file(root / "train" / "cats" / "notes.txt", "not_an_image")
    (root / "train" / "cats" / ".DS_Store").write_bytes(b"junk")
    (root / "__MACOSX").mkdir()
    (root / "README.md").write_text("about")
    (root / "train" / "loose.jpg").write_bytes(b"")
    ds = load_dataset(root)
    assert ds.counts()["train"]["cats"] == 6
    reasons = dict(ds.skipped)
    assert "not an image file" in reasons[str(root.resolve() / "train" / "cats" / "notes.txt")]
    assert str(root.resolve() / "README.md") in reasons
    assert "not inside a class folder" in reasons[str(root.resolve() / "train" / "loose.jpg")]
    assert not any(".DS_Store" in p or "__MACOSX" in p for p in reasons)


def test_empty_class_folder_is_ignored_and_reported(tmp_path):
    root = make_image_folder(tmp_path / "flat", {"ants": 4, "bees": 4, "empty": 0})
    ds = load_dataset(root)
    assert ds.class_names == ["ants", "bees"]
    assert "empty class folder" in dict(ds.skipped)[str(root.resolve() / "empty")]


def test_classes_differing_between_splits(tmp_path):
    # 'birds' only in validation: no training images, refused.
    layout = {"train": {"cats": 3, "dogs": 3}, "validation": {"cats": 1, "birds": 1}}
    with pytest.raises(DatasetError, match="'birds'.*no training images"):
        load_dataset(make_image_folder(tmp_path / "a", layout))
    # 'dogs' missing from validation: usable, the union of classes is kept.
    layout = {"train": {"cats": 3, "dogs": 3}, "validation": {"cats": 2}}
    ds = load_dataset(make_image_folder(tmp_path / "b", layout))
    assert ds.class_names == ["cats", "dogs"]
    assert ds.counts()["validation"] == {"cats": 2, "dogs": 0}


@pytest.mark.parametrize(
    "layout, message",
    [
        ({"cats": 5}, "only one class"),
        ({"train": {"cats": 3}, "validation": {"cats": 1}}, "only one class"),
        ({"cats": 0, "dogs": 0}, "no class folders"),
        ({"train": {"a": 2, "b": 2}, "validation": {"a": 0, "b": 0}}, "validation split"),
        ({"a": 1, "b": 1}, "only one image; each class needs at least two, one to train on"),
        ({"train": {"a": 1, "b": 1}}, "only one image; each class needs at least two"),
    ],
)
def test_unusable_datasets_raise_a_clear_error(tmp_path, layout, message):
    root = make_image_folder(tmp_path / "bad", layout)
    with pytest.raises(DatasetError, match=message):
        load_dataset(root)


def test_missing_folder_and_bad_fraction(tmp_path):
    with pytest.raises(DatasetError, match="is not a folder"):
        load_dataset(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="val_fraction"):
        load_dataset(tmp_path, val_fraction=1.0)


def test_fingerprint_tracks_content(tmp_path):
    root = make_image_folder(tmp_path / "pets", BLOG)
    first = load_dataset(root).fingerprint()
    assert load_dataset(root).fingerprint() == first
    victim = root / "train" / "cats" / "cats_000.jpg"
    victim.write_bytes(victim.read_bytes() + b"\0")
    os.utime(victim, ns=(1, 1))
    assert load_dataset(root).fingerprint() != first


def test_resolve_dataset(tmp_path):
    root = make_image_folder(tmp_path / "pets", BLOG)
    assert resolve_dataset(str(root)).class_names == ["cats", "dogs"]
    ds = load_dataset(root)
    assert resolve_dataset(ds) is ds


@pytest.mark.shared
def test_shared_cats_vs_dogs_layout(shared):
    ds = load_dataset(shared / "datasets" / "cats_vs_dogs")
    assert ds.class_names == ["cats", "dogs"]
    assert ds.counts() == {
        "train": {"cats": 1000, "dogs": 1000},
        "validation": {"cats": 400, "dogs": 400},
    }


def test_start_up_modules_do_not_import_tensorflow():
    # Pages import these at start-up; TensorFlow would cost seconds there.
    import subprocess
    import sys

    from core.paths import PROJECT_ROOT

    code = (
        "import sys, core.datasets, core.health, core.demo, core.imaging, core.zipimport, "
        "core.download, core.pipeline; print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "False", result.stderr


def test_class_samples_and_display_name(tmp_path):
    ds = load_dataset(make_image_folder(tmp_path / "pets", BLOG))
    dogs = ds.class_samples("validation", "dogs")
    assert len(dogs) == 3 and all(Path(s.path).parent.name == "dogs" for s in dogs)
    assert [s.path for s in ds.class_samples("train", "cats")] == [
        s.path for s in ds.splits["train"] if s.label == 0
    ]
    with pytest.raises(ValueError):
        ds.class_samples("train", "birds")
    assert ds.display_name == "pets"  # real data is not marked
    assert display_name("shapes", synthetic=True) == "shapes (synthetic)"
    assert display_name("shapes (synthetic)", synthetic=True) == "shapes (synthetic)"  # once
