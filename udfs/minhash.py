"""MinHash signature and LSH banding kernels (numpy, no Spark), plus their thin Arrow wrappers.

Method: MinHash (Broder 1997) with LSH banding (Leskovec, Rajaraman & Ullman, *Mining of Massive
Datasets* §3.4), as SlimPajama-DC (Cerebras 2023, §2.3) runs it: character 13-grams of normalised
text, 128 permutations, 9 bands x 13 rows.

Hashing is fully vectorised; no Python loop runs per shingle:

1. *Shingle hash* (64 bit). A shingle is a substring ``text[s:e]`` of the normalised text (a
   character n-gram, or the span of n consecutive words). With code points ``c`` and an odd
   constant ``P``, ``G[j] = sum_{k<j} c[k] * P^-k (mod 2^64)`` is one cumulative sum, and
   ``poly(s, e) = sum_{s<=k<e} c[k] * P^(e-1-k) = P^(e-1) * (G[e] - G[s]) (mod 2^64)``: every
   shingle's polynomial hash costs one multiply. The MurmurHash3 64-bit finalizer (``fmix64``)
   then mixes it. :func:`reference_shingle_hash` is the same function of a shingle *string*, for tests.
2. *Permutations*. The top 32 bits of the shingle hash are fed to datasketch's ``affine32`` scheme
   (datasketch >= 2.0, its default): ``fmix32`` once, then ``a_k * h + b_k (mod 2^32)`` with odd
   ``a_k``, with ``a``/``b`` drawn from ``numpy.random.RandomState(seed)`` exactly as datasketch
   draws them. Given the same 32-bit inputs (``hashfunc=lambda v: v``) the signatures equal
   datasketch's bit for bit (tests/unit/test_minhash_kernel.py).
3. The permute-and-min step runs over blocks of at most ``block_rows`` shingles of many documents at
   once (one (block x num_perm) uint32 buffer, reused, so it stays in cache), reduced per document
   with ``np.minimum.reduceat``. A document longer than ``window_chars`` is hashed window by window
   (windows overlap by one shingle), so a 50 MB document needs bounded memory.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Iterator, Sequence

import numpy as np

from udfs.text import arrow_texts, content_length, nfc, normalize_for_hashing

MASK64 = (1 << 64) - 1
POLY_BASE = 1099511628211  # the FNV-1 64-bit prime: odd, so it has an inverse mod 2^64
_POLY_BASE_INV = pow(POLY_BASE, -1, 1 << 64)
WINDOW_CHARS = 1 << 20      # code points hashed at once: ~40 MB of temporaries
BLOCK_ROWS = 4096           # shingles per permute-and-min block: 4096 x 128 x 4 B = 2 MB

_U64 = np.uint64
_U32 = np.uint32


# --------------------------------------------------------------------------- mixing functions
def fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, element-wise on a uint64 array (wrapping arithmetic)."""
    h = values ^ (values >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h ^= h >> _U64(33)
    h = h * _U64(0xC4CEB9FE1A85EC53)
    h ^= h >> _U64(33)
    return h


def fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (datasketch's ``_fmix(h, 32)``), element-wise on uint32."""
    h = values ^ (values >> _U32(16))
    h = h * _U32(0x85EBCA6B)
    h ^= h >> _U32(13)
    h = h * _U32(0xC2B2AE35)
    h ^= h >> _U32(16)
    return h


def _fmix64_int(x: int) -> int:
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & MASK64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & MASK64
    return x ^ (x >> 33)


def reference_shingle_hash(shingle: str) -> int:
    """The 64-bit hash of one shingle string, computed the slow obvious way (tests, benchmarks)."""
    h = 0
    for ch in shingle:
        h = (h * POLY_BASE + ord(ch)) & MASK64
    return _fmix64_int(h)


# --------------------------------------------------------------------------- shingle hashes
@lru_cache(maxsize=4)
def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    """(P^k, P^-k) mod 2^64 for k < length."""
    with np.errstate(over="ignore"):
        up = np.cumprod(np.full(length, POLY_BASE, dtype=_U64))
        down = np.cumprod(np.full(length, _POLY_BASE_INV, dtype=_U64))
    up = np.concatenate(([_U64(1)], up[:-1]))
    down = np.concatenate(([_U64(1)], down[:-1]))
    up.setflags(write=False)
    down.setflags(write=False)
    return up, down


def _span_hashes(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """fmix64(poly(text[s:e])) for each span, by one prefix sum (see the module docstring)."""
    length = len(codes)
    up, down = _powers(max(WINDOW_CHARS + 1, 1 << int(np.ceil(np.log2(length + 2)))))
    prefix = np.zeros(length + 1, dtype=_U64)
    np.cumsum(codes * down[:length], out=prefix[1:])
    poly = up[ends - 1] * (prefix[ends] - prefix[starts])
    return fmix64(poly)


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=_U32).astype(_U64)


def _char_windows(text: str, ngram_size: int, window_chars: int) -> Iterator[str]:
    """Pieces of ``text`` whose character n-grams together are exactly those of ``text``."""
    if len(text) <= window_chars:
        yield text
        return
    step = window_chars - ngram_size + 1
    for start in range(0, len(text) - ngram_size + 1, step):
        yield text[start:start + window_chars]


def _word_windows(text: str, ngram_size: int, window_chars: int) -> Iterator[str]:
    """Pieces of ``text``, cut at spaces, overlapping by ``ngram_size - 1`` words, whose word
    n-grams together are exactly those of ``text``."""
    start = 0
    while len(text) - start > window_chars:
        cut = text.rfind(" ", start + 1, start + window_chars)
        if cut <= start:  # one enormous "word" (> window_chars): split it where the window ends
            yield text[start:start + window_chars]
            start += window_chars
            continue
        yield text[start:cut]
        nxt = cut
        for _ in range(ngram_size - 1):  # step back over the last n-1 words of this piece
            prev = text.rfind(" ", start + 1, nxt)
            if prev <= start:
                break
            nxt = prev
        start = nxt + 1
    yield text[start:]


def _piece_hashes(piece: str, ngram_size: int, unit: str, whole: bool = True) -> np.ndarray:
    """Shingle hashes of one piece; a piece of a longer text that is shorter than one shingle
    contributes nothing (only a whole text falls back to itself as its one shingle)."""
    codes = _codes(piece)
    length = len(codes)
    if unit == "char":
        if length < ngram_size:
            return _span_hashes(codes, np.array([0]), np.array([length])) if length else fmix64(np.zeros(1, _U64))
        starts = np.arange(length - ngram_size + 1)
        return _span_hashes(codes, starts, starts + ngram_size)
    if length == 0:
        return fmix64(np.zeros(1, _U64))
    spaces = np.flatnonzero(codes == 32)
    word_starts = np.concatenate(([0], spaces + 1))
    word_ends = np.concatenate((spaces, [length]))
    if len(word_starts) < ngram_size:
        if not whole:
            return np.zeros(0, _U64)
        return _span_hashes(codes, np.array([0]), np.array([length]))
    return _span_hashes(codes, word_starts[: len(word_starts) - ngram_size + 1], word_ends[ngram_size - 1:])


def shingle_hashes(normalized: str, ngram_size: int, unit: str = "char",
                   window_chars: int = WINDOW_CHARS) -> Iterator[np.ndarray]:
    """The 64-bit hashes of the shingles of one normalised text, in pieces of bounded size.

    ``unit`` is ``"char"`` (SlimPajama: character n-grams of the string) or ``"word"`` (datatrove,
    text-dedup: word n-grams). A text with fewer than ``ngram_size`` units is one shingle, itself.
    Hashes may repeat across pieces (overlaps); MinHash is a set function, so that is harmless.
    Bound: a word n-gram longer than ``window_chars`` characters is not hashed.
    """
    if unit not in ("char", "word"):
        raise ValueError(f"unit must be 'char' or 'word', not {unit!r}")
    windows = _char_windows if unit == "char" else _word_windows
    whole = len(normalized) <= window_chars
    for piece in windows(normalized, ngram_size, window_chars):
        yield _piece_hashes(piece, ngram_size, unit, whole)


def shingle_set(normalized: str, ngram_size: int, unit: str = "char") -> np.ndarray:
    """The sorted distinct 64-bit shingle hashes of one text, as int64 (exact-Jaccard verification)."""
    parts = list(shingle_hashes(normalized, ngram_size, unit))
    return np.unique(np.concatenate(parts)).view(np.int64)


def sorted_set_jaccard(a: np.ndarray, b: np.ndarray) -> float | None:
    """Exact Jaccard |a & b| / |a | b| of two sorted arrays of distinct values (:func:`shingle_set`'s
    output), by one binary search per element of the smaller array: O(n log m), no hash set; ``None``
    when both are empty."""
    if len(a) > len(b):
        a, b = b, a
    if len(b) == 0:
        return None
    if len(a) == 0:
        return 0.0
    at = np.searchsorted(b, a)
    inter = int(np.count_nonzero(b[np.minimum(at, len(b) - 1)] == a))
    return inter / (len(a) + len(b) - inter)


def _list_rows(column) -> list:
    """The rows of an Arrow ``list<int64>`` column as numpy views (no copy), ``None`` for nulls."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    offsets = column.offsets.to_numpy()
    values = column.values.to_numpy(zero_copy_only=False)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    return [values[offsets[i]:offsets[i + 1]] if valid[i] else None for i in range(len(column))]


def jaccard_arrow_batches(batches: Iterable, *, left: str, right: str, out: str = "exact_jaccard") -> Iterator:
    """``mapInArrow`` body: replaces the two shingle-set columns ``left`` and ``right`` (array<bigint>,
    :func:`shingle_set`'s hashes: distinct, sorted as unsigned 64-bit values) by ``out``, their exact
    Jaccard (:func:`sorted_set_jaccard`; null when either is)."""
    import pyarrow as pa

    for batch in batches:
        # shingle_set sorts the hashes as uint64 and stores their bits as int64: compare them as uint64
        a_rows = [None if r is None else r.view(np.uint64)
                  for r in _list_rows(batch.column(batch.schema.get_field_index(left)))]
        b_rows = [None if r is None else r.view(np.uint64)
                  for r in _list_rows(batch.column(batch.schema.get_field_index(right)))]
        scores = [None if a is None or b is None else sorted_set_jaccard(a, b) for a, b in zip(a_rows, b_rows)]
        names = [f.name for f in batch.schema if f.name not in (left, right)]
        cols = [batch.column(batch.schema.get_field_index(n)) for n in names]
        yield pa.RecordBatch.from_arrays(cols + [pa.array(scores, pa.float64())], names=names + [out])


# --------------------------------------------------------------------------- permutations
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's ``affine32`` permutation parameters (``MinHash._init_permutations``)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=_U32) * _U32(2) + _U32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint64).astype(_U32)
    return a, b


def to_permutation_input(hashes64: np.ndarray) -> np.ndarray:
    """The 32-bit value a 64-bit shingle hash contributes (its top half)."""
    return (hashes64 >> _U64(32)).astype(_U32)


def _fold_min(out: np.ndarray, values64: np.ndarray, docs: np.ndarray, a: np.ndarray, b: np.ndarray,
              block_rows: int) -> None:
    """out[d] = min(out[d], min over d's shingles of (a * fmix32(h) + b) mod 2^32), block by block.

    ``docs`` is sorted. The (num_perm x block) buffer is laid out permutation-major so that the
    multiply, add and per-document ``minimum.reduceat`` all run along contiguous memory.
    """
    buf = np.empty((len(a), block_rows), dtype=_U32)
    col_a, col_b = a[:, None], b[:, None]
    for lo in range(0, len(values64), block_rows):
        values = fmix32(to_permutation_input(values64[lo:lo + block_rows]))
        block_docs = docs[lo:lo + block_rows]
        n = len(values)
        view = buf[:, :n]
        np.multiply(col_a, values[None, :], out=view)
        np.add(view, col_b, out=view)
        seg_starts = np.flatnonzero(np.concatenate(([True], block_docs[1:] != block_docs[:-1])))
        mins = np.minimum.reduceat(view, seg_starts, axis=1).T
        seg_docs = block_docs[seg_starts]
        out[seg_docs] = np.minimum(out[seg_docs], mins)


def _batch_spans(codes: np.ndarray, lengths: np.ndarray, ngram_size: int, unit: str):
    """(doc, start, end) of every shingle of texts joined by one separator character."""
    offsets = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
    ndocs = len(lengths)
    if unit == "char":
        counts = np.maximum(lengths - ngram_size + 1, 1)
        docs = np.repeat(np.arange(ndocs), counts)
        first = np.concatenate(([0], np.cumsum(counts)[:-1]))
        starts = offsets[docs] + (np.arange(len(docs)) - first[docs])
        ends = np.minimum(starts + ngram_size, (offsets + lengths)[docs])
        return docs, starts, ends
    spaces = np.flatnonzero(codes == 32)
    word_starts = np.concatenate(([0], spaces + 1))
    word_ends = np.concatenate((spaces, [len(codes)]))
    word_docs = np.searchsorted(offsets, word_starts, side="right") - 1
    words_per_doc = np.bincount(word_docs, minlength=ndocs)
    last = len(word_starts) - ngram_size + 1
    idx = np.arange(max(last, 0))
    valid = word_docs[idx] == word_docs[idx + ngram_size - 1] if last > 0 else np.zeros(0, bool)
    short = np.flatnonzero(words_per_doc < ngram_size)
    docs = np.concatenate((word_docs[idx[valid]], short))
    starts = np.concatenate((word_starts[idx[valid]], offsets[short]))
    ends = np.concatenate((word_ends[idx[valid] + ngram_size - 1], offsets[short] + lengths[short]))
    order = np.argsort(docs, kind="stable")
    return docs[order], starts[order], ends[order]


def signatures_from_hashes(hash_sets: Sequence[np.ndarray], num_perm: int, seed: int,
                           block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """MinHash signatures (n x num_perm, uint32) of sets given as arrays of 64-bit shingle hashes."""
    a, b = permutations(num_perm, seed)
    out = np.full((len(hash_sets), num_perm), np.iinfo(np.uint32).max, dtype=_U32)
    if len(hash_sets):
        values = np.concatenate([np.asarray(h, dtype=_U64) for h in hash_sets])
        docs = np.repeat(np.arange(len(hash_sets)), [len(h) for h in hash_sets])
        _fold_min(out, values, docs, a, b, block_rows)
    return out


def signatures(normalized_texts: Sequence[str], *, num_perm: int, seed: int, ngram_size: int,
               unit: str = "char", block_rows: int = BLOCK_ROWS, window_chars: int = WINDOW_CHARS) -> np.ndarray:
    """MinHash signatures (n x num_perm, uint32) of normalised texts.

    Texts are hashed in groups of at most ``window_chars`` code points (joined, one prefix sum per
    group); a longer text is hashed alone, window by window. Memory is bounded either way.
    """
    if unit not in ("char", "word"):
        raise ValueError(f"unit must be 'char' or 'word', not {unit!r}")
    a, b = permutations(num_perm, seed)
    out = np.full((len(normalized_texts), num_perm), np.iinfo(np.uint32).max, dtype=_U32)
    group: list[int] = []
    group_chars = 0

    def flush() -> None:
        if not group:
            return
        texts = [normalized_texts[i] for i in group]
        codes = _codes(" ".join(texts))  # a space ends each text's last word; char spans never cross it
        lengths = np.array([len(t) for t in texts])
        docs, starts, ends = _batch_spans(codes, lengths, ngram_size, unit)
        _fold_min(out, _span_hashes(codes, starts, ends), np.asarray(group)[docs], a, b, block_rows)

    for i, text in enumerate(normalized_texts):
        if len(text) > window_chars:
            for piece in shingle_hashes(text, ngram_size, unit, window_chars):
                _fold_min(out, piece, np.full(len(piece), i), a, b, block_rows)
            continue
        if group_chars + len(text) + 1 > window_chars:
            flush()
            group, group_chars = [], 0
        group.append(i)
        group_chars += len(text) + 1
    flush()
    return out


# --------------------------------------------------------------------------- LSH banding
def band_buckets(sigs: np.ndarray, num_bands: int, rows_per_band: int) -> np.ndarray:
    """One int64 bucket per (document, band): a 64-bit hash of the band's ``rows_per_band`` values.

    Two documents share a bucket in band ``j`` exactly when their signature rows
    ``j*r .. j*r+r-1`` are equal (up to 64-bit hash collisions, ~n^2/2^65).
    """
    if num_bands * rows_per_band > sigs.shape[1]:
        raise ValueError("num_bands * rows_per_band exceeds the signature length")
    out = np.empty((sigs.shape[0], num_bands), dtype=_U64)
    for band in range(num_bands):
        h = np.full(sigs.shape[0], band + 1, dtype=_U64)
        for row in range(band * rows_per_band, (band + 1) * rows_per_band):
            h = fmix64(h * _U64(POLY_BASE) + sigs[:, row].astype(_U64))
        out[:, band] = h
    return out.view(np.int64)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """The MinHash estimate: the share of equal signature entries."""
    return float(np.mean(sig_a == sig_b))


# --------------------------------------------------------------------------- LSH parameters
def _false_positive_area(threshold: float, num_bands: int, rows_per_band: int) -> float:
    from scipy.integrate import quad

    return quad(lambda s: 1 - (1 - s ** float(rows_per_band)) ** float(num_bands), 0.0, threshold)[0]


def _false_negative_area(threshold: float, num_bands: int, rows_per_band: int) -> float:
    from scipy.integrate import quad

    return quad(lambda s: (1 - s ** float(rows_per_band)) ** float(num_bands), threshold, 1.0)[0]


def optimal_bands(jaccard_threshold: float, num_perm: int, false_positive_weight: float = 0.5,
                  false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(num_bands, rows_per_band) minimising the weighted false-positive and false-negative areas
    under the LSH S-curve ``1 - (1 - s^r)^b`` (MMDS §3.4.2), searched over ``b * r <= num_perm``:
    the rule of datasketch's ``MinHashLSH`` (``lsh._optimal_param``)."""
    best, best_error = (0, 0), float("inf")
    for num_bands in range(1, num_perm + 1):
        for rows_per_band in range(1, num_perm // num_bands + 1):
            error = (false_positive_weight * _false_positive_area(jaccard_threshold, num_bands, rows_per_band)
                     + false_negative_weight * _false_negative_area(jaccard_threshold, num_bands, rows_per_band))
            if error < best_error:
                best, best_error = (num_bands, rows_per_band), error
    return best


def candidate_probability(similarity: float, num_bands: int, rows_per_band: int) -> float:
    """P(two documents of Jaccard ``similarity`` share a bucket) = 1 - (1 - s^r)^b (MMDS §3.4.2)."""
    return 1.0 - (1.0 - similarity ** rows_per_band) ** num_bands


# --------------------------------------------------------------------------- per-document preparation
def prepare(text: str | None, min_content_chars: int) -> tuple[str | None, str | None]:
    """(normalised text, filter reason): NFC, then SlimPajama's short-document filter, then the
    hashing normalisation. ``reason`` is ``null_text``, ``empty_text`` or ``too_short``."""
    if text is None:
        return None, "null_text"
    if not text.strip():
        return None, "empty_text"
    text = nfc(text)
    if content_length(text) < min_content_chars:
        return None, "too_short"
    return normalize_for_hashing(text), None


# --------------------------------------------------------------------------- row kernels (Spark's Python workers and the driver)
def signature_rows(texts: Sequence[str | None], *, num_perm: int, seed: int, ngram_size: int, unit: str,
                   num_bands: int, rows_per_band: int, min_content_chars: int):
    """``(reasons, keep, buckets, signed)`` of ``texts``: why each text is filtered (None when it is hashed,
    :func:`prepare`), the positions of the hashed ones (int64), their band buckets ``(k, num_bands)`` int64
    (:func:`band_buckets`) and the first ``num_bands * rows_per_band`` signature values reinterpreted as signed
    32-bit ``(k, used)``."""
    prepared = [prepare(t, min_content_chars) for t in texts]
    keep = np.array([i for i, (norm, _) in enumerate(prepared) if norm is not None], dtype=np.int64)
    sigs = signatures([prepared[i][0] for i in keep], num_perm=num_perm, seed=seed, ngram_size=ngram_size, unit=unit)
    buckets = band_buckets(sigs, num_bands, rows_per_band)
    signed = np.ascontiguousarray(sigs[:, :num_bands * rows_per_band]).view(np.int32)
    return [r for _, r in prepared], keep, buckets, signed


def shingle_set_rows(texts: Sequence[str], *, ngram_size: int, unit: str) -> list:
    """:func:`shingle_set` of each text, normalised as it was for its signature."""
    return [shingle_set(normalize_for_hashing(nfc(t)), ngram_size, unit) for t in texts]


# --------------------------------------------------------------------------- Arrow wrappers (Spark side)
def signature_arrow_batches(batches: Iterable, *, text_column: str, num_perm: int, seed: int,
                            ngram_size: int, unit: str, num_bands: int, rows_per_band: int,
                            min_content_chars: int) -> Iterator:
    """``mapInArrow`` body: drops ``text_column`` and adds ``reason`` (why a row is filtered, else
    null), ``buckets`` (array<bigint>, one per band) and ``signature`` (array<int>: the first
    ``num_bands * rows_per_band`` values reinterpreted as signed 32-bit). Filtered rows get nulls.
    """
    import pyarrow as pa

    for batch in batches:
        texts = arrow_texts(batch, text_column)
        reasons, keep, buckets, signed = signature_rows(
            texts, num_perm=num_perm, seed=seed, ngram_size=ngram_size, unit=unit, num_bands=num_bands,
            rows_per_band=rows_per_band, min_content_chars=min_content_chars)
        bucket_lists: list = [None] * len(texts)
        sig_lists: list = [None] * len(texts)
        for row, i in enumerate(keep.tolist()):
            bucket_lists[i] = buckets[row]
            sig_lists[i] = signed[row]
        names = [f.name for f in batch.schema if f.name != text_column]
        cols = [batch.column(batch.schema.get_field_index(n)) for n in names]
        yield pa.RecordBatch.from_arrays(
            cols + [pa.array(reasons, pa.string()),
                    pa.array(bucket_lists, pa.list_(pa.int64())), pa.array(sig_lists, pa.list_(pa.int32()))],
            names=names + ["reason", "buckets", "signature"])


def shingle_set_arrow_batches(batches: Iterable, *, text_column: str, ngram_size: int, unit: str) -> Iterator:
    """``mapInArrow`` body: adds ``shingles`` (array<bigint>, sorted distinct shingle hashes)."""
    import pyarrow as pa

    for batch in batches:
        sets = shingle_set_rows(arrow_texts(batch, text_column), ngram_size=ngram_size, unit=unit)
        cols = [batch.column(i) for i in range(batch.num_columns) if batch.schema.field(i).name != text_column]
        names = [f.name for f in batch.schema if f.name != text_column]
        yield pa.RecordBatch.from_arrays(cols + [pa.array(sets, pa.list_(pa.int64()))], names=names + ["shingles"])
