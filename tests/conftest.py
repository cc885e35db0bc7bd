"""Shared fixtures: a temporary app home for every test, and the shared data."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from core.paths import shared_dir  # noqa: E402


@pytest.fixture(autouse=True)
def app_home(tmp_path_factory, monkeypatch) -> Path:
    """Every test writes into its own app home, never into ./.littledata."""
    home = tmp_path_factory.mktemp("ldl_home")
    monkeypatch.setenv("LDL_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def shared() -> Path:
    """`../shared` (or LDL_SHARED); the test is skipped with a reason when it is absent."""
    path = shared_dir()
    if not (path / "datasets").is_dir():
        pytest.skip(f"shared data not found at {path} (set LDL_SHARED to its folder)")
    return path


@pytest.fixture(scope="session")
def keras_home(shared) -> Path:
    """The shared Keras cache with ImageNet MobileNet weights."""
    path = shared / "keras_home"
    if not (path / "models").is_dir():
        pytest.skip(f"no Keras weights cache at {path}")
    return path
