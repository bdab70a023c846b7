"""``udfs.spark_xxhash.hash_texts``: the vectorised XXH64 gives the reference XXH64 (the ``xxhash`` package, which
Spark's ``hashUnsafeBytes`` implements) for every length path (< 4, 4-7, 8-31, >= 32 bytes, stripes plus a tail),
every input form, nulls, slices and multi-byte UTF-8."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import xxhash

from udfs.spark_xxhash import _VECTOR_MIN_ROWS, hash_texts


def _reference(texts, seeds):
    return np.array([int(s) if t is None else xxhash.xxh64_intdigest(t.encode("utf-8") if isinstance(t, str) else t,
                                                                     int(s)) for t, s in zip(texts, seeds)], np.uint64)


def _corpus():
    rng = np.random.default_rng(7)
    alphabet = list("abcXYZ019 ,\"\n\té€😀")
    texts = []
    for length in range(0, 140):  # every length up to four stripes and a tail, each vectorised (many rows) ...
        texts += ["".join(rng.choice(alphabet, length)) for _ in range(_VECTOR_MIN_ROWS + 3)]
    texts += ["".join(rng.choice(alphabet, int(n))) for n in rng.integers(140, 3000, 40)]  # ... and row by row
    texts += [None] * 50
    order = rng.permutation(len(texts))
    texts = [texts[i] for i in order]
    seeds = rng.integers(0, 2**63 - 1, len(texts), dtype=np.int64).view(np.uint64) * np.uint64(2) + np.uint64(1)
    return texts, seeds


def test_every_length_and_input_form_gives_the_reference_hash():
    texts, seeds = _corpus()
    want = _reference(texts, seeds)
    forms = {"list": texts, "string": pa.array(texts), "large_string": pa.array(texts, pa.large_string()),
             "string_view": pa.array(texts, pa.string_view()), "dictionary": pa.array(texts).dictionary_encode(),
             "chunked": pa.chunked_array([pa.array(texts[:1000]), pa.array(texts[1000:])]),
             "bytes": [t.encode("utf-8") if t is not None and i % 2 else t for i, t in enumerate(texts)]}
    for name, form in forms.items():
        got = hash_texts(form, seeds)
        assert got.dtype == np.uint64
        assert np.array_equal(got, want), f"{name}: rows {np.nonzero(got != want)[0][:5]}"


def test_a_sliced_array_hashes_its_own_rows():
    texts, seeds = _corpus()
    want = _reference(texts, seeds)
    assert np.array_equal(hash_texts(pa.array(texts).slice(11, 2000), seeds[11:2011]), want[11:2011])


def test_a_null_leaves_the_seed_and_known_values_hash_as_spark_does():
    # Spark: SELECT xxhash64('lakesieve') = -7044331113066364880 ... the chain's seed is 42 for the first input
    assert hash_texts(["lakesieve", None, ""], np.full(3, 42, np.uint64)).tolist() == [
        xxhash.xxh64_intdigest(b"lakesieve", 42), 42, xxhash.xxh64_intdigest(b"", 42)]
    assert hash_texts(pa.array([], pa.string()), np.zeros(0, np.uint64)).size == 0


@pytest.mark.parametrize("n", [1, _VECTOR_MIN_ROWS, 5000])
def test_integer_ids_as_text(n):
    ids = pa.array(np.arange(-(n // 2), n - n // 2, dtype=np.int64)).cast(pa.string())
    seeds = np.full(n, 42, np.uint64)
    assert np.array_equal(hash_texts(ids, seeds), _reference(ids.to_pylist(), seeds))
