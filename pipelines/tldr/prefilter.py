"""TL;DR's image-text pre-filter: keep the pairs whose image and caption agree best.

The released TL;DR code (showlab/datacentric.vlp, ``codebook_cluster.py``) intersects its
per-cluster sample with a list of the top half of CC3M by image-text matching score. Here the score
is the cosine similarity of the image embedding and the text embedding of the same id, and the
filter runs *before* sampling, so that each cluster's quota ``ceil(ratio * size)`` holds on the
rows that pass (intersecting afterwards, as their script does, would break the quota).

The cut is exact and needs no collect of the data: :func:`kth_largest_value` narrows a histogram
of the scores until the bin holding the k-th largest value is small, then reads that bin only.
"""
from __future__ import annotations

import math
from fractions import Fraction

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.tldr.sampling import ratio_as_fraction

HISTOGRAM_BINS = 1024
# A bin with at most this many rows is read to the driver to find the exact cut value.
EXACT_BIN_BOUND = 20_000


def prefilter_keep_count(num_rows: int, keep_fraction: float) -> int:
    """Rows the pre-filter keeps before ties: ``ceil(keep_fraction * num_rows)``."""
    frac: Fraction = ratio_as_fraction(keep_fraction)
    return -(-num_rows * frac.numerator // frac.denominator)


def cosine_similarity_column(left: str, right: str) -> SparkColumn:
    """Cosine similarity of two array<float> columns (null when either is null, empty or zero)."""
    dot = F.aggregate(F.zip_with(F.col(left), F.col(right), lambda x, y: x * y), F.lit(0.0), lambda acc, v: acc + v)
    left_sq = F.aggregate(F.col(left), F.lit(0.0), lambda acc, v: acc + v * v)
    right_sq = F.aggregate(F.col(right), F.lit(0.0), lambda acc, v: acc + v * v)
    denom = F.sqrt(left_sq) * F.sqrt(right_sq)
    return (F.when((F.size(F.col(left)) == F.size(F.col(right))) & (denom > 0), dot / denom)
            .otherwise(F.lit(None).cast("double")))


def image_text_similarity(image_embeddings: DataFrame, text_embeddings: DataFrame) -> DataFrame:
    """(id, similarity) for each id with both an image and a text embedding."""
    img = image_embeddings.select("id", F.col("vector").alias("image_vector"))
    txt = text_embeddings.select("id", F.col("vector").alias("text_vector"))
    return (img.join(txt, "id", "inner")
            .select("id", cosine_similarity_column("image_vector", "text_vector").alias("similarity")))


def _bin_of(value: SparkColumn, lo: float, hi: float, bins: int) -> SparkColumn:
    width = (hi - lo) / bins
    return F.least(F.floor((value - F.lit(lo)) / F.lit(width)), F.lit(bins - 1)).cast("long")


def kth_largest_value(df: DataFrame, value_col: str, k: int, *, bins: int = HISTOGRAM_BINS,
                      exact_bin_bound: int = EXACT_BIN_BOUND) -> float | None:
    """The k-th largest non-null value of ``value_col`` (1-based), exactly; None when k < 1 or too few rows.

    Each round is one aggregate over the rows still in play and returns at most ``bins`` counts; the
    driver only ever reads bounded summaries and, at the end, a bin of at most ``exact_bin_bound`` values.
    """
    if k < 1:
        return None
    subset = df.select(F.col(value_col).cast("double").alias("v")).where(F.col("v").isNotNull() & ~F.isnan("v"))
    need = k
    while True:
        stats = subset.agg(F.count("v").alias("n"), F.min("v").alias("lo"), F.max("v").alias("hi")).first()
        n, lo, hi = int(stats["n"]), stats["lo"], stats["hi"]
        if n < need:
            return None
        if lo == hi:
            return float(hi)
        if n <= exact_bin_bound:
            values = sorted((r["v"] for r in subset.collect()), reverse=True)
            return float(values[need - 1])
        bin_col = _bin_of(F.col("v"), lo, hi, bins)
        counts = {int(r["b"]): int(r["count"]) for r in subset.groupBy(bin_col.alias("b")).count().collect()}
        above = 0
        for b in range(bins - 1, -1, -1):
            c = counts.get(b, 0)
            if above + c >= need:
                need -= above
                subset = subset.where(_bin_of(F.col("v"), lo, hi, bins) == b)
                break
            above += c
        else:  # pragma: no cover - counts always sum to n >= need
            raise RuntimeError("histogram counts do not add up")


def top_fraction_flags(scored: DataFrame, keep_fraction: float) -> tuple[DataFrame, float | None]:
    """``scored`` (with ``similarity``) plus ``passes_prefilter``: similarity >= the k-th largest, where
    k = ceil(keep_fraction * rows with a similarity). Returns (frame, cut value)."""
    num_scored = scored.where(F.col("similarity").isNotNull()).count()
    cut = kth_largest_value(scored, "similarity", prefilter_keep_count(num_scored, keep_fraction))
    if cut is None or math.isnan(cut):
        flag = F.lit(False)
    else:
        flag = F.coalesce(F.col("similarity") >= F.lit(cut), F.lit(False))
    return scored.withColumn("passes_prefilter", flag), cut
