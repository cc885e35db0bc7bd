"""Zip import: good archives land in the app home, hostile ones are refused."""

import io
import zipfile

import pytest

from core.datasets import load_dataset
from core.errors import ZipImportError
from core.zipimport import ZipLimits, import_zip
from tests.core.image_factory import make_image_folder, make_zip, zip_folder

LAYOUT = {"train": {"cats": 3, "dogs": 3}, "validation": {"cats": 1, "dogs": 1}}


@pytest.fixture
def pets(tmp_path):
    return make_image_folder(tmp_path / "src" / "pets", LAYOUT)


def _datasets_dir(app_home):
    return app_home / "datasets"


def test_blog_layout_at_the_top(app_home, pets, tmp_path):
    root = import_zip(zip_folder(pets, tmp_path / "pets.zip"))
    assert root == _datasets_dir(app_home) / "pets"
    assert load_dataset(root).counts() == {
        "train": {"cats": 3, "dogs": 3},
        "validation": {"cats": 1, "dogs": 1},
    }


def test_under_one_top_level_folder_with_macos_junk(app_home, pets, tmp_path):
    archive = zip_folder(pets, tmp_path / "upload.zip", prefix="pets/")
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("__MACOSX/pets/._train", b"junk")
        zf.writestr("pets/.DS_Store", b"junk")
        zf.writestr("pets/train/cats/._cats_000.jpg", b"junk")
    root = import_zip(archive, name="my pets")
    assert root == _datasets_dir(app_home) / "my_pets" / "pets"
    assert not (_datasets_dir(app_home) / "my_pets" / "__MACOSX").exists()
    ds = load_dataset(_datasets_dir(app_home) / "my_pets")
    assert ds.counts()["train"] == {"cats": 3, "dogs": 3} and not ds.skipped


def test_folder_of_class_folders_from_a_file_object(app_home, tmp_path):
    flat = make_image_folder(tmp_path / "flat", {"ants": 5, "bees": 5})
    data = zip_folder(flat, tmp_path / "bugs.zip", prefix="bugs/").read_bytes()
    upload = io.BytesIO(data)
    upload.name = "bugs.zip"  # As Streamlit's UploadedFile has.
    root = import_zip(upload)
    assert root == _datasets_dir(app_home) / "bugs" / "bugs"
    assert load_dataset(root).class_names == ["ants", "bees"]


def test_name_taken_and_overwrite(pets, tmp_path):
    archive = zip_folder(pets, tmp_path / "pets.zip")
    import_zip(archive)
    with pytest.raises(ZipImportError, match="already exists"):
        import_zip(archive)
    assert import_zip(archive, overwrite=True).name == "pets"


@pytest.mark.parametrize(
    "members, symlinks, words",
    [
        ({"train/cats/a.jpg": b"x", "../evil.txt": b"x"}, None, "'../evil.txt' points outside"),
        ({"train/../../evil.txt": b"x"}, None, "points outside"),
        ({"/etc/evil.txt": b"x"}, None, "'/etc/evil.txt' has an absolute path"),
        ({"C:/evil.txt": b"x"}, None, "absolute path"),
        ({"train/cats/a.jpg": b"x"}, {"train/cats/link.jpg": "/etc/passwd"}, "symbolic link"),
    ],
)
def test_hostile_members_are_refused(app_home, tmp_path, members, symlinks, words):
    archive = make_zip(tmp_path / "evil.zip", members, symlinks)
    with pytest.raises(ZipImportError, match=words) as info:
        import_zip(archive)
    assert "evil.zip" in str(info.value)
    _assert_nothing_left(app_home, tmp_path)


DEEP = "/".join(["d" * 250] * 20)  # each part a legal name, the whole path too long


@pytest.mark.parametrize(
    "members, words",
    [
        ({"train": b"x", "train/cats/0.jpg": b"x"}, "'train' is both a file and a folder"),
        ({"train/cats/0.jpg": b"x", "train/cats": b"x"}, "'train/cats' is both a file and"),
        ({"x" * 300 + "/0.jpg": b"x"}, "has a name part of 300 bytes, longer than the 255"),
        ({f"{DEEP}/0.jpg": b"x"}, r"member 'd{79}…' cannot be extracted \(File name too long\)"),
    ],
)
def test_conflicting_and_over_long_paths_are_one_clear_error(app_home, tmp_path, members, words):
    archive = make_zip(tmp_path / "odd.zip", members)
    with pytest.raises(ZipImportError, match=words) as info:
        import_zip(archive)
    assert str(info.value).startswith("odd.zip: member '")
    assert len(str(info.value)) < 300
    _assert_nothing_left(app_home, tmp_path)


def test_zip_bomb_member_is_refused(app_home, tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", {"train/cats/zeros.jpg": b"\0" * (8 * 2**20)})
    with pytest.raises(ZipImportError, match=r"'train/cats/zeros.jpg' expands .*zip bomb"):
        import_zip(archive)
    _assert_nothing_left(app_home, tmp_path)


def test_total_size_and_file_count_limits(tmp_path, pets):
    archive = zip_folder(pets, tmp_path / "pets.zip")
    with pytest.raises(ZipImportError, match="more than the limit of 5"):
        import_zip(archive, limits=ZipLimits(max_files=5))
    with pytest.raises(ZipImportError, match="expands to more than"):
        import_zip(archive, limits=ZipLimits(max_total_bytes=2000))


def test_not_a_zip_and_not_a_dataset(app_home, tmp_path):
    fake = tmp_path / "photos.zip"
    fake.write_bytes(b"PK but not really")
    with pytest.raises(ZipImportError, match="photos.zip is not a readable zip"):
        import_zip(fake)
    one_class = make_image_folder(tmp_path / "one", {"cats": 3})
    with pytest.raises(ZipImportError, match="one.zip does not hold a usable dataset.*one class"):
        import_zip(zip_folder(one_class, tmp_path / "one.zip"))
    _assert_nothing_left(app_home, tmp_path)


def test_failed_extraction_leaves_nothing_behind(app_home, pets, tmp_path):
    archive = zip_folder(pets, tmp_path / "pets.zip")
    data = bytearray(archive.read_bytes())
    # Corrupt the compressed bytes of a member: the CRC check fails mid-extraction.
    offset = data.find(b"train/dogs/dogs_002.jpg") + len("train/dogs/dogs_002.jpg") + 40
    data[offset : offset + 20] = bytes(20)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(data))
    with pytest.raises(ZipImportError, match="broken.zip: member .* cannot be extracted"):
        import_zip(broken)
    _assert_nothing_left(app_home, tmp_path)


def _assert_nothing_left(app_home, tmp_path):
    datasets = _datasets_dir(app_home)
    assert not datasets.exists() or list(datasets.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()
