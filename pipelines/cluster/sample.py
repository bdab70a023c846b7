"""The bounded, seeded training sample of ``cluster`` (DESIGN: "k-means training works on a bounded sample").

Every usable row (non-null, finite vector) gets a key ``xxhash64(id, seed) mod 2^32``. On a table
with more rows than the bound, the rows with ``key < bound / rows x 2^32`` are kept (a seeded
Bernoulli sample of expected size <= the bound, with no sort in Spark); the driver orders what it
receives by ``(key, id)`` and keeps at most ``max_rows``. The key depends only on the id and the seed,
so the sample is the same whatever the partitioning or the order of rows. The driver receives the
bound plus at most the binomial excess (a few standard deviations, ~sqrt(bound) rows) transiently.
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


def usable(vector_column: str = "vector"):
    """Rows k-means can use: a non-empty vector with no null, NaN or infinite element."""
    v = F.col(vector_column)
    bad = F.exists(v, lambda x: x.isNull() | F.isnan(x) | (F.abs(x) == F.lit(float("inf"))))
    return v.isNotNull() & (F.size(v) > 0) & ~bad


def training_sample(df: DataFrame, *, max_rows: int, seed: int, total_rows: int, table: str = "embeddings") -> np.ndarray:
    """The sample as a float32 matrix ``(n <= max_rows, d)``, in (key, id) order.

    ``d`` is the sample's majority vector length; no majority (mixed models) is a :class:`DataError`.
    """
    keyed = df.where(usable()).select("id", "vector", sample_key(seed).alias("_key"))
    if total_rows > max_rows:
        keyed = keyed.where(F.col("_key") < F.lit(int(max_rows / total_rows * KEY_SPACE)))
    import pyarrow.compute as pc

    table = keyed.toArrow()
    order = pc.sort_indices(table, sort_keys=[("_key", "ascending"), ("id", "ascending")])
    rows = table.take(order).slice(0, int(max_rows))
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
