"""Turn one slice as stored (encoded image bytes, a file path or a 2-D pixel array) into a PIL image.

ct-reduce accepts three slice sources (``params.source``):

- ``image``: encoded image bytes (PNG, JPEG, TIFF, BMP … whatever Pillow decodes; 16-bit PNG too);
- ``path``: a path to such a file on a file system the executors can read (local or mounted; no
  URLs, no object-store clients);
- ``pixels``: a 2-D ``array<array<double>>`` of intensities (e.g. Hounsfield units), mapped linearly
  from the window ``[window_low, window_high]`` to 0..255 and clipped, as CT viewers window a slice.

DICOM is out of scope: convert to PNG (the paper's own pre-processing does the same) or to pixels.
Each decoder raises :class:`SliceDecodeError` with a short reason; the stage writes that reason to
the ``rejected`` table and goes on.
"""
from __future__ import annotations

import io
import re

import numpy as np

_OBJECT_REPR = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")


def describe_error(exc: BaseException) -> str:
    """A short, run-independent description of a decoding error (no object addresses)."""
    text = _OBJECT_REPR.sub("<data>", str(exc))
    return f"{type(exc).__name__}: {text[:120]}"


class SliceDecodeError(ValueError):
    """A slice could not be turned into an image; ``str(err)`` is the reason written to ``rejected``."""


def image_from_bytes(data: bytes | None):
    """A fully loaded PIL image from encoded bytes."""
    from PIL import Image, UnidentifiedImageError

    if data is None:
        raise SliceDecodeError("null image")
    try:
        img = Image.open(io.BytesIO(bytes(data)))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise SliceDecodeError(f"undecodable image: {describe_error(exc)}") from exc
    return img


def image_from_path(path: str | None):
    """A fully loaded PIL image from a file path."""
    if path is None:
        raise SliceDecodeError("null path")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise SliceDecodeError(f"unreadable path: {describe_error(exc)}") from exc
    return image_from_bytes(data)


def window_to_uint8(pixels: np.ndarray, window_low: float, window_high: float) -> np.ndarray:
    """Map ``[window_low, window_high]`` linearly to 0..255 (clipped, rounded half to even)."""
    scaled = (np.asarray(pixels, dtype=np.float64) - window_low) * (255.0 / (window_high - window_low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def image_from_pixels(rows, window_low: float, window_high: float):
    """A PIL greyscale image from a 2-D array (a list of equal-length rows)."""
    from PIL import Image

    if rows is None:
        raise SliceDecodeError("null pixels")
    try:
        arr = np.array([np.asarray(r, dtype=np.float64) for r in rows])
    except (TypeError, ValueError) as exc:
        raise SliceDecodeError(f"pixels are not a 2-D numeric array: {str(exc)[:120]}") from exc
    if arr.ndim != 2 or arr.size == 0:
        raise SliceDecodeError(f"pixels must be a non-empty 2-D array (ragged rows?), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise SliceDecodeError("pixels contain NaN or infinity")
    return Image.fromarray(window_to_uint8(arr, window_low, window_high), mode="L")


def load_image(value, source: str, window_low: float = 0.0, window_high: float = 255.0):
    """Dispatch on ``source`` (``image``, ``path`` or ``pixels``)."""
    if source == "image":
        return image_from_bytes(value)
    if source == "path":
        return image_from_path(value)
    if source == "pixels":
        return image_from_pixels(value, window_low, window_high)
    raise ValueError(f"unknown slice source {source!r}")


def greyscale_array(image) -> np.ndarray:
    """The image as a 2-D uint8 array after Pillow's ``convert('L')`` (the greyscale dHash uses)."""
    return np.asarray(image if image.mode == "L" else image.convert("L"), dtype=np.uint8)
