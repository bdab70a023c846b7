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
from udfs.faiss_kmeans import list_column_to_matrix

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
    bad = ~np.isfinite(values.fill_null(float("nan")).to_numpy(zero_copy_only=False).astype(np.float64))
    parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
    has_bad = np.bincount(parents[bad], minlength=n)[:n] > 0 if bad.any() else np.zeros(n, bool)
    return (lengths > 0) & ~has_bad


def training_sample(df: DataFrame, *, max_rows: int, seed: int, total_rows: int, table: str = "embeddings") -> np.ndarray:
    """The sample as a float32 matrix ``(n <= max_rows, d)``, in (key, id) order.

    Spark only filters on the key (computed from the id, so vectors are not inspected in the JVM);
    the driver drops unusable rows (:func:`usable_mask`) of what it receives, then keeps the first
    ``max_rows`` usable rows. ``d`` is the sample's majority vector length; no majority (mixed models)
    is a :class:`DataError`.
    """
    keyed = df.select("id", "vector", sample_key(seed).alias("_key"))
    if total_rows > max_rows:
        keyed = keyed.where(F.col("_key") < F.lit(int(max_rows / total_rows * KEY_SPACE)))
    import pyarrow.compute as pc

    received = keyed.toArrow()
    received = received.filter(usable_mask(received.column("vector").combine_chunks()))
    order = pc.sort_indices(received, sort_keys=[("_key", "ascending"), ("id", "ascending")])
    rows = received.take(order).slice(0, int(max_rows))
    column = rows.column("vector")
    if len(column) == 0:
        return np.zeros((0, 0), np.float32)
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    values, counts = np.unique(lengths, return_counts=True)
    # The dimension is the most common one in the sample (ties: the smaller); rows of another length
    # are left out of training and rejected ("dimension_mismatch") when rows are assigned.
    dim = int(values[np.argmax(counts)])
    if counts.max() * 2 <= len(lengths):
        raise DataError(f"table '{table}' column 'vector' has no majority dimension (lengths "
                        f"{sorted(int(v) for v in values)[:5]} in the training sample); cluster one model's "
                        f"embeddings at a time")
    mat, ok = list_column_to_matrix(column, dim)
    return mat[ok]
