"""Typed dataset paths are limited to the app home and the folders the owner allows."""

import pytest

from core import dataroots
from core.dataroots import check_allowed
from core.datasets import load_dataset
from core.errors import DatasetError
from core.paths import app_subdir


def test_app_home_datasets_are_allowed_and_listed():
    folder = app_subdir("datasets") / "mine"
    folder.mkdir()
    assert dataroots.check_allowed(folder) == folder.resolve()
    assert folder in dataroots.local_datasets()


def test_outside_is_refused_until_allowed(tmp_path, monkeypatch):
    folder = tmp_path / "photos" / "pets"
    folder.mkdir(parents=True)
    with pytest.raises(DatasetError, match="outside the folders this app may open"):
        dataroots.check_allowed(folder)
    monkeypatch.setenv("LDL_ALLOWED_DIRS", str(tmp_path / "photos"))
    assert dataroots.check_allowed(folder) == folder.resolve()


def test_symlinks_and_dotdot_cannot_escape(tmp_path, monkeypatch):
    allowed, secret = tmp_path / "allowed", tmp_path / "secret"
    allowed.mkdir()
    secret.mkdir()
    (allowed / "link").symlink_to(secret)
    monkeypatch.setenv("LDL_ALLOWED_DIRS", str(allowed))
    for sneaky in (allowed / "link", allowed / ".." / "secret"):
        with pytest.raises(DatasetError):
            dataroots.check_allowed(sneaky)


def test_an_allowed_file_is_not_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LDL_ALLOWED_DIRS", str(tmp_path))
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(DatasetError, match="is not a folder"):
        dataroots.check_allowed(tmp_path / "a.txt")


@pytest.mark.parametrize("opener", [check_allowed, load_dataset])
def test_a_nul_byte_is_one_sentence(opener):
    with pytest.raises(DatasetError, match=r"contains a NUL character, which no file name"):
        opener("/tmp/pets\x00/train")
