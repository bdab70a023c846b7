"""The SemDeDup stage as DataFrame -> DataFrame steps (no reads, no writes).

assignments (id, cluster, distance) + embeddings (id, vector) -> checked members -> per cluster on
the executors (``groupBy('cluster').applyInPandas``, numpy or FAISS: :mod:`pipelines.semdedup.kernel`)
-> ``kept`` (id, cluster, distance), ``duplicates`` (id, matched_id, similarity, cluster,
representative_id, epsilon) and ``rejected`` (id, cluster, reason) for rows that cannot be judged:

- ``missing_cluster``: no cluster; ``missing_distance``: no (finite) distance to the centroid;
- ``missing_embedding``: no embedding row for the id; ``empty_vector``; ``non_finite_vector``
  (NaN or infinity); ``zero_vector`` (norm 0: no direction, so no cosine).

With ``target_kept_fraction`` a first pass computes each member's max similarity to earlier members,
a bounded histogram of those picks epsilon (:mod:`pipelines.semdedup.epsilon`), and a second pass
applies it.
"""
from __future__ import annotations

import math
from typing import Mapping, NamedTuple

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.core.contract import NULL_ID, check_unique_ids, null_id_first
from pipelines.core.errors import DataError
from pipelines.embed.models import one_model
from pipelines.semdedup.config import SemDedupParams
from pipelines.semdedup.epsilon import threshold_bin_for_target
from pipelines.semdedup.kernel import dedup_cluster, max_similarities, similarity_bin

REJECT_REASONS = (NULL_ID, "missing_cluster", "missing_distance", "missing_embedding", "empty_vector",
                  "non_finite_vector", "zero_vector")


class SemDedupResult(NamedTuple):
    kept: DataFrame
    duplicates: DataFrame
    rejected: DataFrame
    epsilon: float


def members_and_rejects(assignments: DataFrame, embeddings: DataFrame, params: SemDedupParams) -> tuple[DataFrame, DataFrame]:
    """(members: id, cluster, distance, vector) that can be judged, and (id, cluster, reason) that cannot."""
    check_unique_ids(assignments, "assignments")
    emb = one_model(embeddings, params.embedding_model, table="embeddings", key="params.embedding_model")
    emb = emb.select("id", "vector")
    check_unique_ids(emb, "embeddings")
    rows = assignments.select("id", F.col("cluster").cast("int").alias("cluster"),
                              F.col("distance").cast("double").alias("distance")).join(emb, "id", "left")
    vec = F.col("vector")
    sum_sq = F.aggregate(vec, F.lit(0.0), lambda acc, x: acc + x.cast("double") * x.cast("double"))
    reason = (F.when(F.col("cluster").isNull(), F.lit("missing_cluster"))
              .when(F.col("distance").isNull() | F.isnan("distance") | (F.abs("distance") == float("inf")),
                    F.lit("missing_distance"))
              .when(vec.isNull(), F.lit("missing_embedding"))
              .when(F.size(vec) == 0, F.lit("empty_vector"))
              .when(F.exists(vec, lambda x: x.isNull() | F.isnan(x) | (F.abs(x) == float("inf"))), F.lit("non_finite_vector"))
              .when(sum_sq == 0, F.lit("zero_vector")))
    rows = rows.withColumn("reason", null_id_first(reason))
    members = rows.where(F.col("reason").isNull()).drop("reason")
    rejected = rows.where(F.col("reason").isNotNull()).select("id", "cluster", "reason")
    dims = members.agg(F.min(F.size("vector")).alias("lo"), F.max(F.size("vector")).alias("hi")).first()
    if dims["lo"] is not None and dims["lo"] != dims["hi"]:
        raise DataError(f"table 'embeddings' column 'vector' has vectors of different lengths ({dims['lo']} and "
                        f"{dims['hi']}); one model's embeddings are needed")
    return members, rejected


def _vectors(pdf: pd.DataFrame) -> np.ndarray:
    return np.stack([np.asarray(v, dtype=np.float32) for v in pdf["vector"].to_numpy()]) if len(pdf) else np.zeros((0, 1), np.float32)


def _decide(members: DataFrame, params: SemDedupParams, epsilon: float, threshold: float,
            threshold_bin: int | None) -> DataFrame:
    id_type = members.schema["id"].dataType
    schema = T.StructType([
        T.StructField("id", id_type, False), T.StructField("cluster", T.IntegerType(), False),
        T.StructField("distance", T.DoubleType(), True), T.StructField("kept", T.BooleanType(), False),
        T.StructField("matched_id", id_type, True), T.StructField("similarity", T.DoubleType(), True),
        T.StructField("representative_id", id_type, False), T.StructField("epsilon", T.DoubleType(), False)])
    keep, compare, seed = params.keep, params.compare_against, params.seed
    dense_max, resolution = params.max_dense_cluster_size, params.similarity_resolution

    def per_cluster(pdf: pd.DataFrame) -> pd.DataFrame:
        ids = pdf["id"].to_numpy()
        res = dedup_cluster(list(ids), pdf["distance"].to_numpy(dtype=np.float64), _vectors(pdf),
                            threshold=threshold, keep=keep, compare_against=compare, seed=seed,
                            max_dense_cluster_size=dense_max, threshold_bin=threshold_bin, resolution=resolution)
        dup_ids = pd.Series([ids[i] if i >= 0 else None for i in res.duplicate_of], dtype=object)
        return pd.DataFrame({
            "id": pdf["id"].to_numpy(), "cluster": pdf["cluster"].to_numpy(), "distance": pdf["distance"].to_numpy(),
            "kept": res.kept, "matched_id": dup_ids,
            "similarity": np.where(res.kept, np.nan, res.similarity),
            "representative_id": ids[res.representative], "epsilon": np.full(len(pdf), epsilon)})

    return members.groupBy("cluster").applyInPandas(per_cluster, schema)


def _max_similarity_bins(members: DataFrame, params: SemDedupParams) -> DataFrame:
    """Pass 1 of the target mode: (id, bin of the member's max similarity to earlier members; null if none)."""
    schema = T.StructType([T.StructField("id", members.schema["id"].dataType, False),
                           T.StructField("bin", T.LongType(), True)])
    keep, seed, floor = params.keep, params.seed, params.similarity_floor
    dense_max, resolution = params.max_dense_cluster_size, params.similarity_resolution

    def per_cluster(pdf: pd.DataFrame) -> pd.DataFrame:
        m = max_similarities(list(pdf["id"].to_numpy()), pdf["distance"].to_numpy(dtype=np.float64), _vectors(pdf),
                             keep=keep, seed=seed, similarity_floor=floor, max_dense_cluster_size=dense_max)
        bins = similarity_bin(m, resolution)
        return pd.DataFrame({"id": pdf["id"].to_numpy(),
                             "bin": pd.array([int(b) if np.isfinite(b) else None for b in bins], dtype="Int64")})

    return members.groupBy("cluster").applyInPandas(per_cluster, schema)


def choose_threshold_bin(members: DataFrame, params: SemDedupParams) -> int:
    """The threshold bin for ``params.target_kept_fraction`` from a bounded histogram (<= 2/resolution + 2 rows)."""
    hist = _max_similarity_bins(members, params).groupBy("bin").count().collect()
    never = sum(int(r["count"]) for r in hist if r["bin"] is None)
    counts = {int(r["bin"]): int(r["count"]) for r in hist if r["bin"] is not None}
    floor_bin = int(math.ceil(params.similarity_floor / params.similarity_resolution))
    return threshold_bin_for_target(counts, never, params.target_kept_fraction, floor_bin)


def transform(inputs: Mapping[str, DataFrame], params: SemDedupParams) -> SemDedupResult:
    """Run SemDeDup on ``inputs['assignments']`` and ``inputs['embeddings']``."""
    members, rejected = members_and_rejects(inputs["assignments"], inputs["embeddings"], params)
    if params.target_kept_fraction is None:
        epsilon, threshold_bin = params.epsilon, None
        threshold = 1.0 - params.epsilon
    else:
        threshold_bin = choose_threshold_bin(members, params)
        epsilon = 1.0 - threshold_bin * params.similarity_resolution
        threshold = (threshold_bin - 1) * params.similarity_resolution  # range-search radius; the bin decides
    decided = _decide(members, params, epsilon, threshold, threshold_bin)
    kept = decided.where(F.col("kept")).select("id", "cluster", "distance")
    duplicates = decided.where(~F.col("kept")).select("id", "matched_id", "similarity", "cluster",
                                                      "representative_id", "epsilon")
    return SemDedupResult(kept, duplicates, rejected, epsilon)
