"""The health report: counts, formats, bad files, duplicates and leakage."""

import json
import shutil

import pytest
from PIL import Image, ImageEnhance

from core.datasets import load_dataset
from core.demo import demo_dataset
from core.health import Conflict, SideStats, health_report
from tests.core.image_factory import (
    READABLE_KINDS,
    UNREADABLE_KINDS,
    image_array,
    make_image_folder,
    write_bad_file,
)

LAYOUT = {"train": {"cats": 6, "dogs": 6}, "validation": {"cats": 3, "dogs": 3}}


def test_clean_dataset(tmp_path):
    report = health_report(load_dataset(make_image_folder(tmp_path / "pets", LAYOUT)))
    assert report.usable and report.problems == []
    assert report.counts == {"train": {"cats": 6, "dogs": 6}, "validation": {"cats": 3, "dogs": 3}}
    assert report.totals() == {"train": 12, "validation": 6}
    assert report.formats == {"JPEG": 18} and report.modes == {"RGB": 18}
    assert report.sizes.width == SideStats(min=40, median=40, max=40)
    assert report.sizes.longer_side == {"< 64 px": 18}
    assert report.sizes.width.text(" px") == "40–40 px (median 40)"
    assert report.to_dict()["sizes"]["width"] == {"min": 40, "median": 40, "max": 40}  # JSON
    assert report.imbalance == {"train": 1.0, "validation": 1.0}
    assert not report.duplicates and not report.leaks
    assert "Usable for training." in report.to_text()


def test_every_bad_input_is_reported_and_the_rest_counted(tmp_path):
    root = make_image_folder(tmp_path / "pets", LAYOUT)
    cats = root / "train" / "cats"
    for kind in UNREADABLE_KINDS:
        write_bad_file(cats / f"bad_{kind}.jpg", kind)
    for kind in READABLE_KINDS:
        write_bad_file(cats / f"odd_{kind}.png", kind)
    write_bad_file(cats / "photo.txt", "not_an_image")  # Wrong extension: ignored.
    report = health_report(load_dataset(root))
    assert report.usable
    assert report.counts["train"]["cats"] == 6 + len(READABLE_KINDS)
    undecodable = dict(report.undecodable)
    assert {p.rsplit("/", 1)[1] for p in undecodable} == {f"bad_{k}.jpg" for k in UNREADABLE_KINDS}
    assert "decompression bomb" in undecodable[str(cats / "bad_huge.jpg")]
    assert "truncated" in undecodable[str(cats / "bad_truncated.jpg")]
    assert [p for p, _ in report.ignored] == [str(cats / "photo.txt")]
    assert {"CMYK", "I;16", "P", "RGBA", "L"} <= set(report.modes)
    assert {"JPEG", "PNG", "GIF", "WEBP", "BMP"} <= set(report.formats)
    text = report.to_text()
    assert "bad_zero_byte.jpg is an empty file" in text and "photo.txt" in text
    assert any("cannot be decoded" in p for p in report.problems)


def test_exact_duplicates_and_leakage(tmp_path):
    root = make_image_folder(tmp_path / "pets", LAYOUT, size=(64, 48))
    train_cat = root / "train" / "cats" / "cats_000.jpg"
    # An exact copy inside train, and a resized, brightened copy in validation.
    shutil.copy(train_cat, root / "train" / "cats" / "copy.jpg")
    near = ImageEnhance.Brightness(Image.open(train_cat).resize((50, 40))).enhance(1.2)
    near.save(root / "validation" / "cats" / "near.png")
    report = health_report(load_dataset(root))
    assert report.duplicates == [sorted([str(train_cat), str(root / "train/cats/copy.jpg")])]
    leaked = {(leak.train.rsplit("/", 1)[1], leak.other) for leak in report.leaks}
    assert leaked == {
        ("cats_000.jpg", str(root / "validation/cats/near.png")),
        ("copy.jpg", str(root / "validation/cats/near.png")),
    }
    assert report.usable
    assert any("data leakage" in p for p in report.problems)
    assert any("exact copies" in p for p in report.problems)


def test_similar_but_different_images_are_not_leaks(tmp_path):
    root = make_image_folder(tmp_path / "pets", LAYOUT, size=(64, 48))
    # Same smooth blobs, different seed: similar statistics, different picture.
    Image.fromarray(image_array((64, 48), seed=999)).save(root / "validation" / "cats" / "x.png")
    assert health_report(load_dataset(root)).leaks == []


def test_imbalance_and_missing_class(tmp_path):
    layout = {"train": {"cats": 9, "dogs": 3}, "validation": {"cats": 2}}
    report = health_report(load_dataset(make_image_folder(tmp_path / "pets", layout)))
    assert report.usable
    assert report.imbalance["train"] == 3.0
    assert any("'cats' has 3.0× as many images as 'dogs'" in p for p in report.problems)
    assert any("validation split has no images of 'dogs'" in p for p in report.problems)


def test_undecodable_class_or_split_makes_it_unusable(tmp_path):
    root = make_image_folder(tmp_path / "pets", LAYOUT)
    for path in (root / "train" / "dogs").iterdir():
        write_bad_file(path, "corrupt")
    report = health_report(load_dataset(root))
    assert not report.usable
    assert report.blocking == ["Class 'dogs' has no training image that decodes."]
    assert report.problems[0] == report.blocking[0]
    assert "NOT usable" in report.to_text()


def test_to_dict_is_json(tmp_path):
    root = make_image_folder(tmp_path / "pets", LAYOUT)
    write_bad_file(root / "train" / "cats" / "z.jpg", "truncated")
    data = json.loads(json.dumps(health_report(load_dataset(root)).to_dict()))
    assert data["usable"] is True and data["totals"] == {"train": 12, "validation": 6}
    assert data["undecodable"][0][0].endswith("z.jpg")


def test_demo_is_healthy():
    report = health_report(demo_dataset())
    assert report.usable and report.synthetic
    assert not report.duplicates and not report.leaks


@pytest.mark.shared
def test_shared_cats_vs_dogs_counts(shared):
    report = health_report(load_dataset(shared / "datasets" / "cats_vs_dogs"))
    assert report.usable
    assert report.counts == {
        "train": {"cats": 1000, "dogs": 1000},
        "validation": {"cats": 400, "dogs": 400},
    }
    assert report.formats == {"JPEG": 2800} and not report.undecodable
    # The shared README: duplicates were removed, train and validation are disjoint.
    assert not report.duplicates and not report.leaks


def test_the_same_picture_under_two_classes_is_a_label_conflict(tmp_path):
    root = make_image_folder(tmp_path / "pets", LAYOUT)
    cat = root / "train" / "cats" / "cats_000.jpg"
    shutil.copy(cat, root / "train" / "dogs" / "mislabelled.jpg")
    shutil.copy(cat, root / "train" / "cats" / "same_class_copy.jpg")
    report = health_report(load_dataset(root))
    paths = sorted(str(p) for p in (cat, root / "train/dogs/mislabelled.jpg",
                                    root / "train/cats/same_class_copy.jpg"))  # fmt: skip
    assert report.conflicts == [Conflict(classes=["cats", "dogs"], paths=paths)]
    (sentence,) = [p for p in report.problems if "Label conflict" in p]
    assert "filed under 'cats' and 'dogs'" in sentence and "mislabelled.jpg" in sentence
    assert not any("exact copies" in p for p in report.problems)  # a conflict, not a copy
    assert json.loads(json.dumps(report.to_dict()))["conflicts"][0]["classes"] == ["cats", "dogs"]


def test_dot_files_are_listed_under_ignored_with_a_reason(tmp_path):
    root = make_image_folder(tmp_path / "pets", LAYOUT)
    fork = root / "train" / "cats" / "._cats_000.jpg"
    fork.write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    (root / "train" / "cats" / ".DS_Store").write_bytes(b"junk")  # clutter: not worth a line
    report = health_report(load_dataset(root))
    assert report.ignored == [(str(fork), "a hidden file (such as a macOS '._' resource fork), "
                                          "ignored")]  # fmt: skip
    assert "._cats_000.jpg: a hidden file" in report.to_text()
    assert any("1 file(s) or folder(s) are not images" in p for p in report.problems)


def test_report_is_typed_and_names_synthetic_data(tmp_path):
    """Pages read the report's attributes; the demo is named as synthetic once."""
    report = health_report(demo_dataset())
    assert report.display_name == demo_dataset().display_name
    assert report.display_name.count("synthetic") == 1
    assert report.sizes is not None and sum(report.sizes.longer_side.values()) == sum(
        report.totals().values()
    )
    root = make_image_folder(tmp_path / "bad", LAYOUT)
    for path in root.rglob("*.jpg"):
        write_bad_file(path, "corrupt")
    nothing = health_report(load_dataset(root))
    assert nothing.sizes is None and not nothing.usable  # no image decodes: no sizes
    assert json.loads(json.dumps(nothing.to_dict()))["sizes"] == {}


def test_health_lines_and_dataset_errors_in_korean(tmp_path):
    """The report's sentences and a dataset's one-sentence errors follow the language."""
    from core import i18n
    from core.errors import DatasetError

    root = make_image_folder(tmp_path / "pets", LAYOUT)
    write_bad_file(root / "train" / "cats" / "broken.jpg", "corrupt")
    (root / "train" / "dogs" / "notes.txt").write_text("not a picture")
    lonely = make_image_folder(tmp_path / "lonely", {"cats": 4})
    i18n.set_language("ko")
    report = health_report(load_dataset(root))
    assert "파일 1개를 디코딩할 수 없어 건너뜁니다." in report.problems
    assert any("이미지가 아니라 무시했습니다" in p for p in report.problems)
    assert "확장자(.txt)로 보아 이미지 파일이 아니라 무시함" in dict(report.ignored).values()
    text = report.to_text()
    assert "학습에 쓸 수 있습니다." in text and "Usable for training" not in text
    assert report.sizes.width.text(" px") == "40–40 px (중앙값 40)"
    with pytest.raises(DatasetError, match="클래스가 하나\\('cats'\\)뿐입니다"):
        load_dataset(lonely)
    i18n.set_language("en")  # the same report, made again, in English
    assert (
        "1 file(s) cannot be decoded and will be skipped."
        in health_report(load_dataset(root)).problems
    )
