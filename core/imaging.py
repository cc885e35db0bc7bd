"""Robust image decoding: any common file in, an RGB image or a square array out.

Every decoder problem becomes an `ImageError` whose message names the file and
the problem in one sentence, so callers can skip the file and carry on.
Pillow's decompression-bomb guard stays on: a huge image is refused from its
header, before any pixel memory is allocated.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import ImageError
from core.i18n import _

# What the dataset listing treats as images (Pillow decides by content, not name).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})
# The same, as the `type` list of an upload widget.
UPLOAD_TYPES = tuple(sorted(ext[1:] for ext in IMAGE_EXTENSIONS))

RESIZE_MODES = ("stretch", "crop", "pad")

# Pillow only warns between MAX_IMAGE_PIXELS and twice that (and errors above):
# raised as an error, that image is refused in one sentence, without a warning
# printed beside the refusal. A global filter: thread-safe, unlike catch_warnings
# (the health report decodes on a thread pool).
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

Source = str | os.PathLike | bytes | BinaryIO


def is_image_name(name: str | os.PathLike) -> bool:
    """True when the file name has one of `IMAGE_EXTENSIONS` (case-insensitive)."""
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def open_rgb(source: Source, *, name: str | None = None, draft: int | None = None) -> Image.Image:
    """Decodes an image file into a fully loaded RGB `PIL.Image`.

    GIFs give their first frame, EXIF orientation is applied, and grayscale,
    palette, RGBA (composited on white), CMYK and 16-bit images become 8-bit RGB.

    Args:
        source: a path, the file's bytes, or a binary file object.
        name: how to name the file in error messages (default: the path).
        draft: if given, JPEGs may be decoded at a reduced scale (1/2 .. 1/8)
            that keeps both sides at least `draft` pixels: much faster when
            the image is shrunk afterwards anyway.

    Returns:
        An RGB image, detached from the file.

    Raises:
        ImageError: the file is empty, not an image, truncated, corrupt, or
            larger than Pillow's decompression-bomb limit.
    """
    label = name or _describe(source)
    if _is_empty(source):
        raise ImageError(_("{file} is an empty file (0 bytes).").format(file=label))
    try:
        with Image.open(_as_file(source)) as img:
            _check_pixels(img, label)
            if draft and img.format == "JPEG":
                img.draft(None, (draft, draft))
            img.load()
            return _to_rgb(_upright(img))
    except Image.DecompressionBombWarning as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        if found:
            pixels = _("{n} pixels").format(n=f"{int(found[1]):,}")
        else:
            pixels = _("too many pixels")
        message = _(
            "{file} has {pixels}, over the {limit}-pixel limit that guards against "
            "decompression bombs."
        )
        raise ImageError(
            message.format(file=label, pixels=pixels, limit=f"{Image.MAX_IMAGE_PIXELS:,}")
        ) from exc
    except Image.DecompressionBombError as exc:
        message = _(
            "{file} was refused: it has more than {limit} pixels, "
            "Pillow's limit against decompression bombs."
        )
        limit = f"{2 * Image.MAX_IMAGE_PIXELS:,}"
        raise ImageError(message.format(file=label, limit=limit)) from exc
    except FileNotFoundError as exc:
        raise ImageError(_("{file} does not exist.").format(file=label)) from exc
    except IsADirectoryError as exc:
        raise ImageError(_("{file} is a folder, not an image file.").format(file=label)) from exc
    except UnidentifiedImageError as exc:
        message = _("{file} is not an image file that Pillow can read.")
        raise ImageError(message.format(file=label)) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        message = _("{file} is truncated or corrupt ({reason}).")
        raise ImageError(message.format(file=label, reason=exc)) from exc


def fit_to_square(img: Image.Image, size: int, mode: str = "stretch") -> np.ndarray:
    """Resizes an RGB image to `size`×`size` and returns it as a uint8 array.

    Args:
        img: an RGB image (as from `open_rgb`).
        size: side of the square output, in pixels.
        mode: `stretch` (ignore the aspect ratio, the blog's behaviour),
            `crop` (center-crop to a square, then resize) or `pad` (fit inside
            the square, padding the borders with black).

    Returns:
        A `(size, size, 3)` uint8 array.

    Raises:
        ValueError: an unknown mode or a non-positive size.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}. Received: mode={mode!r}")
    if size <= 0:
        raise ValueError(f"size must be positive. Received: size={size}")
    target = (size, size)
    if mode == "stretch":
        out = img.resize(target, Image.Resampling.BILINEAR)
    elif mode == "crop":
        out = ImageOps.fit(img, target, Image.Resampling.BILINEAR)
    else:
        out = ImageOps.pad(img, target, Image.Resampling.BILINEAR, color=(0, 0, 0))
    return np.asarray(out, dtype=np.uint8)


def load_square(source: Source, size: int, mode: str = "stretch", *, name: str | None = None):
    """`open_rgb` then `fit_to_square`, decoding JPEGs at the smallest scale that suffices."""
    return fit_to_square(open_rgb(source, name=name, draft=size), size, mode)


def _describe(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return getattr(source, "name", None) or _("the image")


def _is_empty(source: Source) -> bool:
    if isinstance(source, (bytes, bytearray)):
        return len(source) == 0
    if isinstance(source, (str, os.PathLike)):
        try:
            return os.path.getsize(source) == 0
        except OSError:
            return False  # Missing files are reported by Image.open.
    return False


def _as_file(source: Source):
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(source)
    return source


def _check_pixels(img: Image.Image, label: str) -> None:
    # Pillow only warns between MAX_IMAGE_PIXELS and twice that; refuse both.
    limit = Image.MAX_IMAGE_PIXELS
    width, height = img.size
    if limit and width * height > limit:
        raise ImageError(
            _(
                "{file} is {width}×{height} pixels, over the {limit}-pixel limit that guards "
                "against decompression bombs."
            ).format(file=label, width=width, height=height, limit=f"{limit:,}")
        )


def _upright(img: Image.Image) -> Image.Image:
    # A broken EXIF block should not cost the picture: keep it as stored.
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - any EXIF parsing failure
        return img.copy()


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img  # Already a copy detached from the file (see _upright).
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_rgb(img)
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    # 16-bit grayscale: Pillow's own convert would clip everything above 255 to white.
    values = np.asarray(img).astype(np.float64)
    if img.mode.startswith("I;16") or (img.mode == "I" and values.max(initial=0) > 255):
        values = values / 257.0
    gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")
