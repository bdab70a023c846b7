"""The bounded, seeded training sample of ``cluster`` (DESIGN: "k-means training works on a bounded sample").

Every row gets a key ``xxhash64(id, seed) mod 2^32``. On a table with more rows than the bound, the
rows with ``key < bound / rows x 2^32`` are kept (a seeded Bernoulli sample of expected size <= the
bound, with no sort in Spark and no look at the vectors in the JVM); the driver drops the unusable
rows (null, empty or non-finite vectors) of what it receives, orders the rest by ``(key, id)`` and
keeps at most ``max_rows``. The key depends only on the id and the seed, so the sample is the same
whatever the partitioning or the order of rows. The driver receives the bound plus at most the
binomial excess (a few standard deviations, ~sqrt(bound) rows) transiently.
"""
from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.core.errors import DataError
from udfs.faiss_kmeans import list_column_to_matrix, row_sq_norms

KEY_SPACE = 2 ** 32


def sample_key(seed: int):
    return F.pmod(F.xxhash64(F.col("id").cast("string"), F.lit(int(seed))), F.lit(KEY_SPACE))


def usable_mask(column) -> np.ndarray:
    """Rows k-means can use, for an Arrow list column: non-null, non-empty, every element present and
    finite (checked on the flat values, not row by row)."""
    import pyarrow.compute as pc

    n = len(column)
    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
    values = pc.list_flatten(column)
    if n and column.null_count == 0 and values.null_count == 0 and lengths[0] > 0 and (lengths == lengths[0]).all():
        # one vector length and no nulls (the usual case): a row is usable when its norm is finite
        return np.isfinite(row_sq_norms(values.to_numpy(zero_copy_only=False).reshape(n, int(lengths[0]))))
    bad = ~np.isfinite(values.fill_null(float("nan")).to_numpy(zero_copy_only=False).astype(np.float64))
    parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
    has_bad = np.bincount(parents[bad], minlength=n)[:n] > 0 if bad.any() else np.zeros(n, bool)
    return (lengths > 0) & ~has_bad


def training_sample(df: DataFrame, *, max_rows: int, seed: int, total_rows: int, table: str = "embeddings") -> np.ndarray:
    """The sample as a float32 matrix ``(n <= max_rows, d)``, in (key, id) order.

    Spark only filters on the key (computed from the id, so vectors are not inspected in the JVM);
    the driver drops unusable rows (:func:`usable_mask`) of what it receives, then keeps the first
    ``max_rows`` usable rows of the majority vector length. No majority (mixed models) is a
    :class:`DataError`. Only the (key, id) columns are sorted; the vectors are gathered once.
    """
    keyed = df.select("id", "vector", sample_key(seed).alias("_key"))
    if total_rows > max_rows:
        keyed = keyed.where(F.col("_key") < F.lit(key_bound(max_rows, total_rows)))
    return sample_of_received(keyed.toArrow(), max_rows=max_rows, table=table)


def key_bound(max_rows: int, total_rows: int) -> int:
    """The key below which a row is received, on a table of more than ``max_rows`` rows."""
    return int(max_rows / total_rows * KEY_SPACE)


def sample_keys(ids, seed: int) -> np.ndarray:
    """:func:`sample_key` of an Arrow column of integer or string ids, computed in the driver bit for bit as
    Spark's ``pmod(xxhash64(cast(id as string), seed), 2^32)`` (:mod:`udfs.spark_xxhash`); a null id's
    string is null, which Spark's hash skips."""
    import pyarrow as pa

    from udfs.spark_xxhash import SPARK_SEED, hash_int, hash_long, hash_texts

    texts = ids.cast(pa.string())
    h = hash_texts(texts, np.full(len(texts), SPARK_SEED, dtype=np.uint64))
    literal = np.full(len(texts), seed, dtype=np.int64)
    h = hash_int(literal, h) if seed <= 2**31 - 1 else hash_long(literal, h)  # lit(seed): an int, or a long above
    return (h & np.uint64(KEY_SPACE - 1)).astype(np.int64)


def sample_of_received(received, *, max_rows: int, table: str = "embeddings") -> np.ndarray:
    """The training sample from the (id, vector, _key) rows received in the driver (either engine)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = received.column("vector").combine_chunks()
    usable = usable_mask(column)
    if not usable.any():
        return np.zeros((0, 0), np.float32)
    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)[usable]
    values, counts = np.unique(lengths, return_counts=True)
    # The dimension is the most common one (ties: the smaller); rows of another length are left out of
    # training and rejected ("dimension_mismatch") when rows are assigned.
    dim = int(values[np.argmax(counts)])
    if counts.max() * 2 <= len(lengths):
        raise DataError(f"table '{table}' column 'vector' has no majority dimension (lengths "
                        f"{sorted(int(v) for v in values)[:5]} in the training sample); cluster one model's "
                        f"embeddings at a time")
    mat, ok = list_column_to_matrix(column, dim)
    rows = np.nonzero(usable & ok)[0]
    keys = pa.table({"_key": received.column("_key").take(rows), "id": received.column("id").take(rows)})
    order = pc.sort_indices(keys, sort_keys=[("_key", "ascending"), ("id", "ascending")]).to_numpy()
    return mat[rows[order[:int(max_rows)]]]
