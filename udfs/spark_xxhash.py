"""Spark's ``xxhash64`` (``XxHash64``, seed 42) in numpy, bit for bit, for hashes the driver must compute as Spark does.

Spark's ``XxHash64`` chains: each non-null input is hashed with the previous result as its seed (a null input
leaves it unchanged); an int or boolean is ``hashInt``, a long ``hashLong`` (vectorised here with numpy), a string
the XXH64 of its UTF-8 bytes (the ``xxhash`` package: the reference XXH64, which is what Spark's
``hashUnsafeBytes`` implements). Used by containment's recipe checksums (``pipelines.containment.sparkhash``) and
cluster's training-sample key (``pipelines.cluster.sample``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

SPARK_SEED = 42  # functions.xxhash64's seed
_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)
_MASK32 = np.uint64(0xFFFFFFFF)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _fmix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * _P2
    h = h ^ (h >> np.uint64(29))
    h = h * _P3
    return h ^ (h >> np.uint64(32))


def hash_int(values: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Spark's ``XXH64.hashInt`` of 32-bit ``values`` with per-row ``seeds`` (uint64 arrays)."""
    h = seeds + _P5 + np.uint64(4)
    h = h ^ ((values.astype(np.uint64) & _MASK32) * _P1)
    h = _rotl(h, 23) * _P2 + _P3
    return _fmix(h)


def hash_long(values: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Spark's ``XXH64.hashLong`` of 64-bit ``values`` with per-row ``seeds`` (uint64 arrays)."""
    h = seeds + _P5 + np.uint64(8)
    h = h ^ (_rotl(values.astype(np.int64).view(np.uint64) * _P2, 31) * _P1)
    h = _rotl(h, 27) * _P1 + _P4
    return _fmix(h)


def hash_texts(texts: Sequence[str | bytes | None], seeds: np.ndarray) -> np.ndarray:
    """XXH64 of each text's UTF-8 bytes with its row's seed; a None leaves the seed (Spark skips nulls)."""
    import xxhash

    digest = xxhash.xxh64_intdigest
    out = [s if t is None else digest(t if isinstance(t, bytes) else t.encode("utf-8"), s)
           for t, s in zip(texts, seeds.tolist())]
    return np.array(out, dtype=np.uint64)
