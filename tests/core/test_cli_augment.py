"""`python -m core augment preview`: files written, presets and JSON, clear errors."""

import json

import numpy as np
import pytest
from PIL import Image

from core.cli import main


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "cat.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(path)
    return path


def _run(*argv):
    return main(["augment", "preview", *map(str, argv)])


def test_preset_writes_original_and_variants(picture, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        _run("--image", picture, "--preset", "blog: preview", "--n", 4, "--size", 32, "--out", out)
        == 0
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == ["cat_00.png", "cat_01.png", "cat_02.png", "cat_03.png", "cat_original.png"]
    assert Image.open(out / "cat_00.png").size == (32, 32)
    assert "wrote 5 files" in capsys.readouterr().out


def test_json_text_and_file_give_the_same_seeded_images(picture, tmp_path):
    settings = json.dumps({"rotation_degrees": 30, "horizontal_flip": True})
    config_file = tmp_path / "aug.json"
    config_file.write_text(settings)
    for name, config in (("a", settings), ("b", config_file)):
        assert (
            _run(
                "--image",
                picture,
                "--config",
                config,
                "--n",
                2,
                "--seed",
                3,
                "--size",
                24,
                "--out",
                tmp_path / name,
            )
            == 0
        )
    for file in ("cat_00.png", "cat_01.png"):
        a = np.asarray(Image.open(tmp_path / "a" / file))
        b = np.asarray(Image.open(tmp_path / "b" / file))
        np.testing.assert_array_equal(a, b)


def test_bad_config_and_bad_image_are_one_line_errors(picture, tmp_path, capsys):
    assert _run("--image", picture, "--config", '{"zoom": 3}', "--out", tmp_path) == 2
    assert "zoom must be between 0 and 0.9" in capsys.readouterr().err
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert _run("--image", text, "--preset", "none", "--out", tmp_path / "x") == 2
    err = capsys.readouterr().err
    assert "notes.png" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_preset_and_config_are_exclusive(picture, tmp_path):
    with pytest.raises(SystemExit):
        _run("--image", picture, "--preset", "none", "--config", "{}", "--out", tmp_path)
