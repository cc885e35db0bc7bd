"""Tiny generated images, dataset folders, bad files and zip archives for tests.

Usage:

    from tests.core.image_factory import make_image_folder, write_bad_file

    root = make_image_folder(tmp_path / "ds", {"train": {"cats": 6, "dogs": 6},
                                               "validation": {"cats": 2, "dogs": 2}})
    write_bad_file(root / "train" / "cats" / "broken.jpg", "truncated")

Every image is drawn from a seeded generator: the same call gives the same bytes.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# Pillow format name for each extension the factory writes.
FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".gif": "GIF"}
FORMATS[".webp"] = "WEBP"


def image_array(size=(40, 32), seed=0, tint=None) -> np.ndarray:
    """A `(height, width, 3)` uint8 array: smooth random blobs, optionally tinted.

    Args:
        size: `(width, height)` as in Pillow.
        seed: the same seed gives the same pixels.
        tint: optional RGB triple mixed in at half strength (to make classes differ).
    """
    width, height = size
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    pixels = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR))
    if tint is not None:
        pixels = (pixels.astype(np.float32) + np.asarray(tint, np.float32)) / 2
    return pixels.astype(np.uint8)


def make_image(path, size=(40, 32), seed=0, tint=None, mode="RGB", fmt=None) -> Path:
    """Writes one image file; the format follows the extension unless `fmt` is given."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(image_array(size, seed, tint))
    if mode != "RGB":
        img = img.convert(mode)
    img.save(path, format=fmt or FORMATS.get(path.suffix.lower(), "PNG"))
    return path


def make_image_folder(root, layout, size=(40, 32), ext=".jpg", seed=0) -> Path:
    """Writes a dataset folder and returns its root.

    Args:
        root: the folder to create.
        layout: either the blog's layout `{split: {class: count}}`, e.g.
            `{"train": {"cats": 6, "dogs": 6}, "validation": {"cats": 2, "dogs": 2}}`,
            or a single folder of classes `{class: count}`. A count of 0 makes
            an empty class folder.
        size: `(width, height)` of every image.
        ext: file extension, which also picks the format.
        seed: base seed; each file gets its own seed derived from it.

    Returns:
        `root` as a `Path`.
    """
    root = Path(root)
    first = next(iter(layout.values()), None)
    splits = layout if isinstance(first, dict) else {"": layout}
    counter = 0
    for split, classes in splits.items():
        for class_index, (name, count) in enumerate(sorted(classes.items())):
            folder = root / split / name if split else root / name
            folder.mkdir(parents=True, exist_ok=True)
            tint = _class_tint(class_index)
            for i in range(count):
                counter += 1
                make_image(folder / f"{name}_{i:03d}{ext}", size, seed * 100_003 + counter, tint)
    return root


def write_bad_file(path, kind: str) -> Path:
    """Writes one troublesome file of `kind` (see `BAD_KINDS`) and returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    BAD_KINDS[kind](path)
    return path


def _corrupt(path: Path) -> None:
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)  # JPEG magic, then junk.


def _truncated(path: Path) -> None:
    data = _encoded(image_array((64, 48), seed=7), "JPEG")
    path.write_bytes(data[: len(data) // 2])


def _zero_byte(path: Path) -> None:
    path.write_bytes(b"")


def _not_an_image(path: Path) -> None:
    path.write_text("This is a text file that happens to have an image's name.\n")


def _huge(path: Path) -> None:
    path.write_bytes(huge_png_bytes(40_000, 40_000))


def _cmyk(path: Path) -> None:
    Image.fromarray(image_array(seed=11)).convert("CMYK").save(path, format="JPEG")


def _sixteen_bit(path: Path) -> None:
    ramp = np.linspace(0, 65535, 40 * 32).reshape(32, 40).astype(np.uint16)
    Image.fromarray(ramp).save(path, format="PNG")  # uint16 -> mode I;16


def _palette(path: Path) -> None:
    Image.fromarray(image_array(seed=12)).convert("P", palette=Image.ADAPTIVE).save(path, "PNG")


def _rgba(path: Path) -> None:
    rgba = np.dstack([image_array(seed=13), np.full((32, 40), 128, np.uint8)])
    Image.fromarray(rgba).save(path, format="PNG")


def _exif_rotated(path: Path) -> None:
    """A 40×20 landscape stored image whose EXIF says "rotate 90°": displayed as 20×40."""
    img = Image.fromarray(image_array((40, 20), seed=14))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display.
    img.save(path, format="JPEG", exif=exif)


def _png_named_jpg(path: Path) -> None:
    path.write_bytes(_encoded(image_array(seed=15), "PNG"))


def _grayscale(path: Path) -> None:
    Image.fromarray(image_array(seed=16)).convert("L").save(path, format="PNG")


def _gif(path: Path) -> None:
    frames = [Image.fromarray(image_array(seed=s)).convert("P") for s in (17, 18)]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:])


def _webp(path: Path) -> None:
    Image.fromarray(image_array(seed=19)).save(path, format="WEBP")


def _bmp(path: Path) -> None:
    Image.fromarray(image_array(seed=20)).save(path, format="BMP")


# Files that must be skipped with a reason.
UNREADABLE_KINDS = ("corrupt", "truncated", "zero_byte", "not_an_image", "huge")
# Files that must decode into RGB.
READABLE_KINDS = ("cmyk", "sixteen_bit", "palette", "rgba", "exif_rotated", "png_named_jpg")
READABLE_KINDS += ("grayscale", "gif", "webp", "bmp")
BAD_KINDS = {
    "corrupt": _corrupt,
    "truncated": _truncated,
    "zero_byte": _zero_byte,
    "not_an_image": _not_an_image,
    "huge": _huge,
    "cmyk": _cmyk,
    "sixteen_bit": _sixteen_bit,
    "palette": _palette,
    "rgba": _rgba,
    "exif_rotated": _exif_rotated,
    "png_named_jpg": _png_named_jpg,
    "grayscale": _grayscale,
    "gif": _gif,
    "webp": _webp,
    "bmp": _bmp,
}


def huge_png_bytes(width: int, height: int) -> bytes:
    """A valid PNG header announcing `width`×`height` pixels, with almost no data.

    It costs a few bytes to write but would need gigabytes to decode: the shape
    of a decompression bomb.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND")


def make_zip(path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    """Writes a zip archive with the given member names and contents, verbatim.

    Names are not sanitised, so tests can build hostile archives (`../x`,
    `/etc/x`); `symlinks` maps member names to link targets stored as Unix symlinks.
    """
    path = Path(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # Unix, so external_attr holds the file mode.
            info.external_attr = (0o120777 << 16) | 0
            zf.writestr(info, target)
    return path


def zip_folder(folder, path, prefix: str = "") -> Path:
    """Zips every file under `folder`, naming members `prefix + relative path`."""
    folder = Path(folder)
    members = {
        prefix + f.relative_to(folder).as_posix(): f.read_bytes()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }
    return make_zip(path, members)


def _class_tint(index: int) -> tuple[int, int, int]:
    palette = [(230, 40, 40), (40, 40, 230), (40, 200, 40), (220, 200, 30), (200, 40, 200)]
    return palette[index % len(palette)]


def _encoded(pixels: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes = b"") -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
