"""Image decoding helpers: pure functions that return a reason instead of raising.

An image a stage cannot use (null, zero bytes, not an image, truncated, too many pixels, a path that
cannot be read) is a row-level problem: the caller writes it to a ``rejected`` table with the reason
string returned here, and the run goes on (CONTRIBUTING: "row-level problems go to an output table").
"""
from __future__ import annotations

import io
from pathlib import Path

# PIL's own decompression-bomb limit (Image.MAX_IMAGE_PIXELS, ~89 Mpx); a larger image is rejected,
# never decoded, so one hostile file cannot exhaust an executor's memory.
DEFAULT_MAX_PIXELS = 89_478_485

REASON_NULL = "null_image"
REASON_EMPTY = "empty_image"
REASON_UNDECODABLE = "undecodable_image"
REASON_TOO_LARGE = "image_too_large"
REASON_UNREADABLE_PATH = "unreadable_path"


def read_image_path(path: str | None) -> tuple[bytes | None, str | None]:
    """Read the bytes of an image file: ``(bytes, None)`` or ``(None, reason)``."""
    if path is None:
        return None, REASON_NULL
    try:
        text = str(path)
        data = Path(text[len("file:"):] if text.startswith("file:") else text).read_bytes()
    except OSError as exc:
        return None, f"{REASON_UNREADABLE_PATH}: {type(exc).__name__}"
    return data, None


def decode_image(data: bytes | None, *, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Decode image bytes to an RGB ``PIL.Image``: ``(image, None)`` or ``(None, reason)``.

    Never raises for bad data; the reason is one of the ``REASON_*`` strings (with a detail after
    ``': '`` for undecodable images).
    """
    from PIL import Image

    if data is None:
        return None, REASON_NULL
    if len(data) == 0:
        return None, REASON_EMPTY
    try:
        with Image.open(io.BytesIO(bytes(data))) as img:
            width, height = img.size
            if width <= 0 or height <= 0:
                return None, REASON_EMPTY
            if width * height > max_pixels:
                return None, f"{REASON_TOO_LARGE}: {width}x{height} > {max_pixels} pixels"
            img.load()  # decode now: a truncated file fails here, not later inside a batch
            return img.convert("RGB"), None
    except Exception as exc:  # PIL raises many types (UnidentifiedImageError, OSError, SyntaxError...)
        return None, f"{REASON_UNDECODABLE}: {type(exc).__name__}"


def encode_png(pixels) -> bytes:
    """PNG bytes of a uint8 array (H×W grey or H×W×3 RGB)."""
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
