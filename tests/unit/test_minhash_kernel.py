"""The numpy MinHash kernel: shingles, datasketch equality, Jaccard error bound, banding, big documents."""
from __future__ import annotations

import random
import tracemalloc

import numpy as np
import pytest
from datasketch import MinHash

from udfs import minhash as K
from udfs.text import char_ngrams, normalize_for_hashing, word_ngrams

_WORDS = [f"w{i}x" for i in range(400)]


def _doc(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def _mutate(rng: random.Random, text: str, fraction: float) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), int(fraction * len(words))):
        words[i] = rng.choice(_WORDS) + "q"
    return " ".join(words)


@pytest.mark.parametrize("unit,size", [("char", 13), ("char", 3), ("word", 5), ("word", 1)])
def test_shingle_hashes_are_the_hashes_of_the_reference_shingles(unit, size):
    text = normalize_for_hashing("Héllo, World!  Ünïcode — text,\tWITH  punctuation. " + _doc(random.Random(1), 40))
    grams = char_ngrams if unit == "char" else word_ngrams
    expected = {K.reference_shingle_hash(s) for s in grams(text, size)}
    assert set(np.concatenate(list(K.shingle_hashes(text, size, unit))).tolist()) == expected
    # hashing window by window gives exactly the same set
    windowed = np.concatenate(list(K.shingle_hashes(text, size, unit, window_chars=90)))
    assert set(windowed.tolist()) == expected


def test_text_shorter_than_one_shingle_is_its_own_shingle():
    assert list(K.shingle_hashes("abc", 13))[0].tolist() == [K.reference_shingle_hash("abc")]
    assert list(K.shingle_hashes("a b", 5, "word"))[0].tolist() == [K.reference_shingle_hash("a b")]


def test_signatures_equal_datasketch_affine32_bit_for_bit():
    rng = random.Random(7)
    texts = [normalize_for_hashing(_doc(rng, rng.randint(1, 120))) for _ in range(40)] + ["", "x"]
    for seed in (1, 42):
        ours = K.signatures(texts, num_perm=128, seed=seed, ngram_size=13, block_rows=500)
        for i, text in enumerate(texts):
            inputs = K.to_permutation_input(np.concatenate(list(K.shingle_hashes(text, 13)))).tolist()
            theirs = MinHash(num_perm=128, seed=seed, hashfunc=lambda v: v)
            theirs.update_batch(inputs)
            assert theirs.scheme == "affine32"
            np.testing.assert_array_equal(ours[i], theirs.hashvalues)


def test_batched_windowed_and_per_document_signatures_agree():
    rng = random.Random(3)
    texts = ["", "a", "ab cd"] + [normalize_for_hashing(_doc(rng, rng.randint(0, 60))) for _ in range(25)] + [""]
    for unit, size in (("char", 13), ("word", 5)):
        batched = K.signatures(texts, num_perm=64, seed=5, ngram_size=size, unit=unit, block_rows=97)
        per_doc = K.signatures_from_hashes([np.concatenate(list(K.shingle_hashes(t, size, unit))) for t in texts], 64, 5)
        windowed = K.signatures(texts, num_perm=64, seed=5, ngram_size=size, unit=unit, window_chars=120)
        np.testing.assert_array_equal(batched, per_doc)
        np.testing.assert_array_equal(batched, windowed)


def test_estimated_jaccard_is_within_the_minhash_error_bound_of_exact_jaccard():
    """Std of the estimate is sqrt(J(1-J)/k) (Broder 1997); over 60 pairs 4 sigma must hold."""
    rng = random.Random(11)
    num_perm = 256
    errors = []
    for i in range(60):
        base = normalize_for_hashing(_doc(rng, 150))
        other = normalize_for_hashing(_mutate(rng, base, rng.choice([0.02, 0.05, 0.1, 0.2, 0.4])))
        sa, sb = set(char_ngrams(base, 13)), set(char_ngrams(other, 13))
        exact = len(sa & sb) / len(sa | sb)
        sig = K.signatures([base, other], num_perm=num_perm, seed=i, ngram_size=13)
        estimate = K.estimated_jaccard(sig[0], sig[1])
        bound = 4 * np.sqrt(max(exact * (1 - exact), 0.01) / num_perm)
        assert abs(estimate - exact) <= bound, (exact, estimate)
        # and datasketch, given the same 32-bit inputs, estimates the same number
        ms = []
        for text in (base, other):
            m = MinHash(num_perm=num_perm, seed=i, hashfunc=lambda v: v)
            m.update_batch(K.to_permutation_input(np.concatenate(list(K.shingle_hashes(text, 13)))).tolist())
            ms.append(m)
        assert ms[0].jaccard(ms[1]) == pytest.approx(estimate)
        errors.append(estimate - exact)
    assert abs(np.mean(errors)) < 0.02  # unbiased


def test_band_buckets_match_exactly_when_band_rows_match():
    sigs = np.array([[1, 2, 3, 4, 5, 6], [1, 2, 3, 9, 9, 9], [7, 2, 3, 4, 5, 6]], dtype=np.uint32)
    buckets = K.band_buckets(sigs, num_bands=2, rows_per_band=3)
    assert buckets.dtype == np.int64 and buckets.shape == (3, 2)
    assert buckets[0, 0] == buckets[1, 0] and buckets[0, 0] != buckets[2, 0]
    assert buckets[0, 1] == buckets[2, 1] and buckets[0, 1] != buckets[1, 1]
    assert buckets[0, 0] != buckets[0, 1]  # the band number is part of the bucket hash
    with pytest.raises(ValueError):
        K.band_buckets(sigs, num_bands=3, rows_per_band=3)


def test_a_50_mb_document_hashes_in_bounded_memory():
    rng = random.Random(5)
    chunk = normalize_for_hashing(_doc(rng, 20000))
    text = (chunk + " ") * (50_000_000 // (len(chunk) + 1))
    assert len(text) >= 49_000_000
    tracemalloc.start()
    sig = K.signatures([text], num_perm=128, seed=1, ngram_size=13)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 200 * 2**20  # ~40 MB of window temporaries, not GBs for 50M shingles x 128
    # a repeated chunk has (almost) the shingles of two chunks: the signature agrees with theirs
    small = K.signatures([chunk + " " + chunk], num_perm=128, seed=1, ngram_size=13)
    np.testing.assert_array_equal(sig, small)


def test_prepare_filters_null_empty_and_short_texts_with_their_reason():
    assert K.prepare(None, 200) == (None, "null_text")
    assert K.prepare(" \n\t", 200) == (None, "empty_text")
    assert K.prepare("a, b. " * 30, 200)[1] == "too_short"   # 60 content characters
    text = "Word, " * 40                                        # 160 content characters
    assert K.prepare(text, 160) == ("word " * 39 + "word", None)
    assert K.prepare("Cafe\u0301 " * 60, 200)[0].startswith("caf\u00e9 ")  # NFC first


def test_sorted_set_jaccard_equals_python_sets_and_the_arrow_wrapper_keeps_the_other_columns():
    import pyarrow as pa

    rng = np.random.default_rng(7)
    for _ in range(200):
        a = np.unique(rng.integers(-50, 50, rng.integers(0, 40)))
        b = np.unique(rng.integers(-50, 50, rng.integers(0, 40)))
        want = None if not len(a) and not len(b) else len(set(a) & set(b)) / len(set(a) | set(b))
        assert K.sorted_set_jaccard(a, b) == want
    text_a, text_b = "the quick brown fox jumps over the lazy dog " * 3, "the quick brown fox jumps over a lazy cat " * 3
    sa, sb = K.shingle_set(text_a, 13), K.shingle_set(text_b, 13)
    exact = len(set(sa.tolist()) & set(sb.tolist())) / len(set(sa.tolist()) | set(sb.tolist()))
    batch = pa.RecordBatch.from_arrays(
        [pa.array([1, 2, 3]), pa.array([sa, sa, None], pa.list_(pa.int64())),
         pa.array([sb, sa, sb], pa.list_(pa.int64()))], names=["src", "_a", "_b"])
    (out,) = K.jaccard_arrow_batches([batch], left="_a", right="_b")
    assert out.schema.names == ["src", "exact_jaccard"]
    assert out.column(0).to_pylist() == [1, 2, 3]
    assert out.column(1).to_pylist() == [pytest.approx(exact), 1.0, None] and 0.3 < exact < 0.9
