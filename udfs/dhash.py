"""Difference hash (dHash) and Hamming distance: the kernel of the ct-reduce "hash" strategy.

Wolf et al., "Less is More" (2024), §2 (reduction strategies, "Hash"): each slice is reduced to a
64-bit difference hash (greyscale, resize to 9×8, compare each pixel with its right neighbour) and a
slice is dropped when its Hamming distance to the reference slice is at most 6 ("Hash-6", their best
strategy). Their code calls ``imagehash.dhash(image, hash_size=8)``; :func:`dhash_image` reproduces
it bit for bit on the same PIL image (same ``convert('L')``, same LANCZOS resize, same comparison,
bits in row-major order with the first bit as the most significant one, as ``str(ImageHash)`` prints
them), without building an ``ImageHash`` object per slice.

Hashes are carried as signed 64-bit integers (Spark ``long``): :func:`to_signed` /
:func:`to_unsigned` convert between the two views without changing a bit.
"""
from __future__ import annotations

import io
from typing import Iterable, Sequence

import numpy as np

HASH_BITS = 64


def _lanczos():
    from PIL import Image

    return getattr(Image, "Resampling", Image).LANCZOS


def dhash_bits(image, hash_size: int = 8) -> np.ndarray:
    """The ``hash_size × hash_size`` boolean dHash matrix of a PIL image (imagehash's ``.hash``)."""
    if hash_size < 2:
        raise ValueError("hash_size must be >= 2")
    grey = image if image.mode == "L" else image.convert("L")
    small = grey.resize((hash_size + 1, hash_size), _lanczos())
    pixels = np.asarray(small)
    return pixels[:, 1:] > pixels[:, :-1]


def dhash_image(image) -> int:
    """The 64-bit dHash of a PIL image as a signed int64 (``hash_size`` 8: 64 bits)."""
    bits = dhash_bits(image, 8)
    return int(np.packbits(bits.reshape(-1)).view(">i8")[0])


def dhash_bytes(data: bytes) -> int:
    """dHash of an encoded image (PNG, JPEG, … anything Pillow decodes). Raises on undecodable data."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return dhash_image(img)


def to_unsigned(signed: int) -> int:
    """The unsigned 64-bit view of a signed hash (as ``int(str(imagehash_hash), 16)``)."""
    return signed & 0xFFFFFFFFFFFFFFFF


def to_signed(unsigned: int) -> int:
    """The signed int64 view of an unsigned 64-bit hash."""
    return unsigned - (1 << 64) if unsigned >= (1 << 63) else unsigned


def as_hash_array(hashes: Iterable[int] | np.ndarray) -> np.ndarray:
    """Hashes (signed or unsigned ints) as a ``uint64`` array."""
    arr = np.asarray(hashes)
    if arr.dtype == np.uint64:
        return arr
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64).view(np.uint64)
    return np.array([to_unsigned(int(h)) for h in hashes], dtype=np.uint64)


def hamming(a: int, b: int) -> int:
    """Hamming distance of two 64-bit hashes: the number of differing bits."""
    return int((to_unsigned(a) ^ to_unsigned(b)).bit_count())


def hamming_to_many(reference: int, hashes: np.ndarray) -> np.ndarray:
    """Hamming distances from one hash to an array of hashes (``uint64`` popcount, vectorised)."""
    ref = np.uint64(to_unsigned(int(reference)))
    return np.bitwise_count(as_hash_array(hashes) ^ ref).astype(np.int64)


def hamming_matrix(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """All pairwise Hamming distances, shape ``(len(left), len(right))``."""
    lhs, rhs = as_hash_array(left), as_hash_array(right)
    return np.bitwise_count(lhs[:, None] ^ rhs[None, :]).astype(np.int64)


def hash_to_bytes(hashes: Sequence[int] | np.ndarray) -> np.ndarray:
    """Hashes as ``(n, 8)`` uint8 rows, big-endian: the layout of a FAISS binary index."""
    return as_hash_array(hashes).astype(">u8").view(np.uint8).reshape(-1, 8)
