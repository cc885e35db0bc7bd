"""Decoding every kind of file a user may drop in a dataset folder."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core.errors import ImageError
from core.imaging import fit_to_square, is_image_name, load_square, open_rgb
from core.paths import PROJECT_ROOT
from tests.core.image_factory import (
    READABLE_KINDS,
    huge_png_bytes,
    image_array,
    make_image,
    write_bad_file,
)


@pytest.mark.parametrize("kind", READABLE_KINDS)
def test_readable_kinds_become_rgb(tmp_path, kind):
    path = write_bad_file(tmp_path / f"{kind}.jpg", kind)
    img = open_rgb(path)
    assert img.mode == "RGB"
    assert load_square(path, 24).shape == (24, 24, 3)


@pytest.mark.parametrize(
    "kind, words",
    [
        ("corrupt", "not an image"),
        ("not_an_image", "not an image"),
        ("truncated", "truncated"),
        ("zero_byte", "empty file"),
        ("huge", "decompression bomb"),
    ],
)
def test_unreadable_kinds_name_the_file_and_the_problem(tmp_path, kind, words):
    path = write_bad_file(tmp_path / f"{kind}.jpg", kind)
    with pytest.raises(ImageError) as info:
        open_rgb(path)
    message = str(info.value)
    assert str(path) in message and words in message


def test_image_over_the_warning_limit_is_refused_too(tmp_path):
    # Pillow itself only warns below twice its limit; the lab refuses.
    path = tmp_path / "big.png"
    path.write_bytes(huge_png_bytes(10_000, 10_000))
    with pytest.raises(ImageError, match=r"big.png (has|is) .*over the [\d,]+-pixel limit"):
        open_rgb(path)


def test_the_refusal_is_not_accompanied_by_a_printed_warning(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(huge_png_bytes(10_000, 10_000))
    script = (
        "import sys\nfrom core.errors import ImageError\nfrom core.imaging import open_rgb\n"
        "try:\n    open_rgb(sys.argv[1])\nexcept ImageError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0
    assert out.stdout.endswith("big.png has 100,000,000 pixels, over the 89,478,485-pixel limit "
                               "that guards against decompression bombs.\n")  # fmt: skip
    assert out.stderr == ""  # no DecompressionBombWarning beside the refusal


def test_a_folder_is_said_to_be_a_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    with pytest.raises(ImageError) as info:
        open_rgb(folder)
    assert str(info.value) == f"{folder} is a folder, not an image file."


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        open_rgb(tmp_path / "nope.jpg")


def test_exif_orientation_is_applied(tmp_path):
    # Stored 40 wide × 20 high, EXIF orientation 6: displayed 20 wide × 40 high.
    path = write_bad_file(tmp_path / "rotated.jpg", "exif_rotated")
    assert Image.open(path).size == (40, 20)
    assert open_rgb(path).size == (20, 40)


def test_sixteen_bit_keeps_its_range(tmp_path):
    # A 0..65535 ramp must become 0..255, not a white image clipped at 255.
    pixels = np.asarray(open_rgb(write_bad_file(tmp_path / "deep.png", "sixteen_bit")))
    assert pixels.min() == 0 and pixels.max() == 255
    assert 100 < pixels.mean() < 155


def test_rgba_is_composited_on_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(path)
    assert np.asarray(open_rgb(path)).min() == 255


def test_cmyk_colours_survive(tmp_path):
    path = tmp_path / "red.jpg"
    Image.new("RGB", (16, 16), (220, 20, 20)).convert("CMYK").save(path, "JPEG", quality=95)
    r, g, b = np.asarray(open_rgb(path)).reshape(-1, 3).mean(axis=0)
    assert r > 150 and g < 80 and b < 80


def test_bytes_and_file_objects(tmp_path):
    path = make_image(tmp_path / "a.png")
    from_bytes = np.asarray(open_rgb(path.read_bytes()))
    with open(path, "rb") as f:
        from_file = np.asarray(open_rgb(f))
    np.testing.assert_array_equal(from_bytes, np.asarray(open_rgb(path)))
    np.testing.assert_array_equal(from_file, from_bytes)
    with pytest.raises(ImageError, match="upload.jpg is an empty file"):
        open_rgb(b"", name="upload.jpg")


def test_fit_to_square_modes():
    # A wide image: left half red, right half blue, 60×20.
    pixels = np.zeros((20, 60, 3), np.uint8)
    pixels[:, :30] = (255, 0, 0)
    pixels[:, 30:] = (0, 0, 255)
    img = Image.fromarray(pixels)
    stretched = fit_to_square(img, 30, "stretch")
    cropped = fit_to_square(img, 30, "crop")
    padded = fit_to_square(img, 30, "pad")
    for out in (stretched, cropped, padded):
        assert out.shape == (30, 30, 3) and out.dtype == np.uint8
    # Stretch keeps the whole width: red on the left, blue on the right.
    assert stretched[15, 2, 0] > 200 and stretched[15, 27, 2] > 200
    # Pad keeps the aspect ratio: black bands above and below.
    assert padded[0].max() == 0 and padded[-1].max() == 0 and padded[15].max() > 200
    # Crop keeps the centre: both colours, no padding.
    assert cropped[0].max() > 200
    with pytest.raises(ValueError, match="resize mode"):
        fit_to_square(img, 30, "squash")


def test_draft_decoding_matches_full_decoding_closely(tmp_path):
    path = tmp_path / "big.jpg"
    Image.fromarray(image_array((400, 300), seed=3)).save(path, quality=95)
    full = fit_to_square(open_rgb(path), 50).astype(float)
    fast = load_square(path, 50).astype(float)
    assert np.abs(full - fast).mean() < 6


def test_image_names():
    assert is_image_name("a/B.JPG") and is_image_name("x.webp") and is_image_name("x.gif")
    assert not is_image_name("notes.txt") and not is_image_name("README")
