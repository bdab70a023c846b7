"""Spark's ``xxhash64`` (``XxHash64``, seed 42) in numpy, bit for bit, for hashes the driver must compute as Spark does.

Spark's ``XxHash64`` chains: each non-null input is hashed with the previous result as its seed (a null input
leaves it unchanged); an int or boolean is ``hashInt``, a long ``hashLong`` (vectorised here with numpy), a string
the XXH64 of its UTF-8 bytes (the ``xxhash`` package: the reference XXH64, which is what Spark's
``hashUnsafeBytes`` implements). Used by containment's recipe checksums (``pipelines.containment.sparkhash``) and
cluster's training-sample key (``pipelines.cluster.sample``).
"""
from __future__ import annotations

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


# a length shared by fewer rows than this is hashed row by row (the reference XXH64 in C): vectorising it would
# cost more numpy calls than rows
_VECTOR_MIN_ROWS = 32
# rows x length of one vectorised block (bytes): bounds the transient matrix of a group of long texts
_BLOCK_BYTES = 1 << 24


def _round(acc: np.ndarray, lane: np.ndarray) -> np.ndarray:
    return _rotl(acc + lane * _P2, 31) * _P1


def _xxh64_rows(data: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """XXH64 (the reference algorithm, little-endian) of each row of ``data`` (n, length) uint8 with its seed:
    every row has the same length, so every row takes the same steps and each step is one numpy operation."""
    n, length = data.shape
    pos = 0
    if length >= 32:
        stripes = length // 32
        lanes = np.ascontiguousarray(data[:, :stripes * 32]).view("<u8").reshape(n, stripes, 4)
        v = [seeds + _P1 + _P2, seeds + _P2, seeds.copy(), seeds - _P1]
        for s in range(stripes):
            v = [_round(v[i], lanes[:, s, i]) for i in range(4)]
        h = _rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)
        for acc in v:
            h = (h ^ _round(np.zeros_like(acc), acc)) * _P1 + _P4
        pos = stripes * 32
    else:
        h = seeds + _P5
    h = h + np.uint64(length)
    while pos + 8 <= length:
        word = np.ascontiguousarray(data[:, pos:pos + 8]).view("<u8")[:, 0]
        h = _rotl(h ^ _round(np.zeros_like(word), word), 27) * _P1 + _P4
        pos += 8
    if pos + 4 <= length:
        word = np.ascontiguousarray(data[:, pos:pos + 4]).view("<u4")[:, 0].astype(np.uint64)
        h = _rotl(h ^ (word * _P1), 23) * _P2 + _P3
        pos += 4
    while pos < length:
        h = _rotl(h ^ (data[:, pos].astype(np.uint64) * _P5), 11) * _P1
        pos += 1
    return _fmix(h)


def _as_binary(texts):
    """``texts`` (an Arrow string or binary array, chunked or not, or a sequence of str / bytes / None) as one
    Arrow large_binary array of their UTF-8 bytes."""
    import pyarrow as pa

    if not isinstance(texts, (pa.Array, pa.ChunkedArray)):
        items = list(texts)
        if any(isinstance(t, bytes) for t in items):
            items = [t.encode("utf-8") if isinstance(t, str) else t for t in items]
            texts = pa.array(items, pa.large_binary())
        else:
            texts = pa.array(items, pa.large_string())
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks else pa.array([], pa.large_binary())
    if pa.types.is_dictionary(texts.type):
        texts = texts.dictionary_decode()
    return texts.cast(pa.large_binary())


def hash_texts(texts, seeds: np.ndarray) -> np.ndarray:
    """XXH64 of each text's UTF-8 bytes with its row's seed (a uint64 array); a null leaves the seed (Spark skips
    nulls). ``texts``: an Arrow string or binary array, or a sequence of str / bytes / None.

    Vectorised by length: the rows whose texts have the same byte length are hashed together, one numpy
    operation per 8-byte word (:func:`_xxh64_rows`); a length shared by few rows is hashed row by row by the
    ``xxhash`` package. 1 M integer ids as text: ~0.1 s, against ~1 s row by row."""
    import xxhash

    arr = _as_binary(texts)
    seeds = np.asarray(seeds, dtype=np.uint64)
    out = seeds.copy()
    n = len(arr)
    if n != len(seeds):
        raise ValueError(f"hash_texts: {n} texts but {len(seeds)} seeds")
    if n == 0:
        return out
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    valid = np.asarray(arr.is_valid()) if arr.null_count else np.ones(n, bool)
    rows_of = np.nonzero(valid)[0]
    order = rows_of[np.argsort(lengths[rows_of], kind="stable")]
    bounds = np.flatnonzero(np.diff(lengths[order])) + 1
    digest = xxhash.xxh64_intdigest
    for group in np.split(order, bounds):
        if group.size == 0:
            continue
        length = int(lengths[group[0]])
        if group.size < _VECTOR_MIN_ROWS:
            for r in group.tolist():
                out[r] = digest(data[starts[r]:starts[r] + length].tobytes(), int(seeds[r]))
            continue
        step = max(1, _BLOCK_BYTES // max(length, 1))
        for lo in range(0, group.size, step):
            rows = group[lo:lo + step]
            block = data[starts[rows][:, None] + np.arange(length)] if length else np.zeros((rows.size, 0), np.uint8)
            out[rows] = _xxh64_rows(block, seeds[rows])
    return out
