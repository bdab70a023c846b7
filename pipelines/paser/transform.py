"""The ``paser`` transformation (He et al. 2025, §3): embed → cluster → CDS → budget → select.

1. **Embed** the instruction with all-MiniLM-L6-v2 (§3.1), unless an ``embeddings`` table is given.
2. **Cluster** a bounded, seeded sample on the driver (:mod:`pipelines.paser.spectral`); every other
   row is assigned on the executors by a kNN vote over that sample.
3. **CDS** of a cluster = mean per-sample JSD from ``paser-score`` (§3.2, Eq. 4).
4. **Budget** n_k ∝ CDS_k, exact total, capped by size (:mod:`pipelines.paser.budget`).
5. **Select** inside each cluster by efficiency JSD/log(cost) with the concept-consistency filter
   (:mod:`pipelines.paser.concepts`), one cluster per ``applyInPandas`` group.

Rows that cannot take part (blank instruction, no score, no embedding) stay in ``selected`` with
``selected = false`` and their reason, so every input row is accounted for.
"""
from __future__ import annotations

from typing import Iterator, Mapping, NamedTuple

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.core.contract import check_unique_ids, null_id_first
from pipelines.core.errors import DataError
from pipelines.paser.budget import allocate_budget, resolve_total_budget
from pipelines.paser.concepts import REASON_BUDGET_FILLED, REASON_CONFLICT, select_in_cluster
from pipelines.paser.config import PaserParams
from pipelines.paser.scoring import REASON_EMPTY_INSTRUCTION, with_text_columns
from pipelines.paser.spectral import SpectralResult, assign_by_knn_vote, spectral_cluster

REASON_MISSING_SCORE = "missing_score"
REASON_MISSING_EMBEDDING = "missing_embedding"
MINILM = "all-MiniLM-L6-v2"


def embed_instructions(rows: DataFrame, params: PaserParams) -> DataFrame:
    """Add ``vector`` (array<float>): all-MiniLM-L6-v2 of ``instruction`` on the executors (udfs.encoders)."""
    from udfs.encoders import EncoderSpec

    spec = EncoderSpec(family="sentence_transformers", model=MINILM, device=params.encoder_device)
    batch_size = params.encoder_batch_size
    schema = T.StructType(rows.schema.fields + [T.StructField("vector", T.ArrayType(T.FloatType()), False)])

    def fn(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from udfs.encoders import encode_texts

        for frame in frames:
            if frame.empty:
                continue
            vectors = encode_texts(list(frame["instruction"]), spec, batch_size=batch_size)
            yield frame.assign(vector=list(vectors.astype(np.float32)))

    return rows.mapInPandas(fn, schema)


def sample_for_clustering(rows: DataFrame, params: PaserParams) -> tuple[list, np.ndarray]:
    """(ids, vectors) of the ``spectral_sample_size`` rows with the lowest seeded hash of id (ties by id).
    The only rows collected to the driver: at most the bound (x dimension floats)."""
    picked = (rows.withColumn("_h", F.xxhash64(F.col("id").cast("string"), F.lit(params.seed)))
              .orderBy("_h", "id").limit(params.spectral_sample_size).select("id", "vector").collect())
    if not picked:
        raise DataError("no instruction has a score (and an embedding): nothing to cluster")
    return [r["id"] for r in picked], np.asarray([r["vector"] for r in picked], dtype=np.float32)


def assign_clusters(rows: DataFrame, sample_ids: list, sample_vectors: np.ndarray, result: SpectralResult,
                    neighbors: int) -> DataFrame:
    """Add ``cluster``: the spectral label for sampled rows, the kNN vote over the sample for the rest."""
    label_of = {i: int(lab) for i, lab in zip(sample_ids, result.labels)}
    labels = np.asarray(result.labels, dtype=np.int64)
    schema = T.StructType([f for f in rows.schema.fields if f.name != "vector"]
                          + [T.StructField("cluster", T.IntegerType(), False)])

    def fn(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            if frame.empty:
                continue
            known = frame["id"].map(label_of)
            out = known.to_numpy(dtype=np.float64, na_value=np.nan).copy()
            todo = np.isnan(out)
            if todo.any():
                queries = np.stack(frame.loc[todo, "vector"].to_numpy()).astype(np.float32)
                out[todo] = assign_by_knn_vote(sample_vectors, labels, queries, neighbors)
            yield frame.drop(columns="vector").assign(cluster=out.astype(np.int32))

    return rows.mapInPandas(fn, schema)


def cluster_budgets(assigned: DataFrame, params: PaserParams) -> tuple[pd.DataFrame, int]:
    """(per-cluster size, CDS and budget; total budget B). Collects one row per cluster (K rows)."""
    stats = assigned.groupBy("cluster").agg(F.count("*").alias("size"), F.avg("jsd").alias("cds")).collect()
    frame = pd.DataFrame([(int(r["cluster"]), int(r["size"]), float(r["cds"])) for r in stats],
                         columns=["cluster", "size", "cds"]).sort_values("cluster").reset_index(drop=True)
    total = resolve_total_budget(params.budget_count, params.budget_fraction, int(frame["size"].sum()))
    alloc = allocate_budget(dict(zip(frame["cluster"], frame["cds"])), dict(zip(frame["cluster"], frame["size"])), total)
    frame["budget"] = frame["cluster"].map(alloc).astype("int64")
    return frame, total


SELECTED_COLUMNS = ("id", "cluster", "jsd", "tokens", "efficiency", "rank", "selected", "reason")


def select_samples(assigned: DataFrame, budgets: Mapping[int, int], params: PaserParams) -> DataFrame:
    """Per cluster on the executors: efficiency order + concept-consistency filter (§3.3–§3.4)."""
    rows = assigned.withColumn(
        "efficiency", F.col("jsd") / F.log(F.greatest(F.col("tokens").cast("double"), F.lit(float(params.min_cost_tokens)))))
    id_type = assigned.schema["id"].dataType
    schema = T.StructType([
        T.StructField("id", id_type, False), T.StructField("cluster", T.IntegerType(), True),
        T.StructField("jsd", T.DoubleType(), True), T.StructField("tokens", T.LongType(), True),
        T.StructField("efficiency", T.DoubleType(), True), T.StructField("rank", T.LongType(), True),
        T.StructField("selected", T.BooleanType(), False), T.StructField("reason", T.StringType(), True)])
    budget_of = dict(budgets)
    max_concepts, max_words = params.max_concepts, params.concept_max_words

    def fn(frame: pd.DataFrame) -> pd.DataFrame:
        cluster = int(frame["cluster"].iloc[0])
        out = select_in_cluster(frame, budget_of.get(cluster, 0), max_concepts=max_concepts, max_words=max_words)
        return out[list(SELECTED_COLUMNS)]

    return rows.groupBy("cluster").applyInPandas(fn, schema)


def cluster_table(summary: pd.DataFrame, selected: DataFrame, spark) -> DataFrame:
    """clusters: cluster, size, cds, budget, selected, rejected, shortfall, budget_met."""
    base = spark.createDataFrame(summary[["cluster", "size", "cds", "budget"]],
                                 "cluster int, size long, cds double, budget long")
    counts = selected.where(F.col("cluster").isNotNull()).groupBy("cluster").agg(
        F.sum(F.col("selected").cast("long")).alias("selected"),
        F.sum(F.col("reason").startswith(REASON_CONFLICT).cast("long")).alias("rejected"),
        F.sum((F.col("reason") == REASON_BUDGET_FILLED).cast("long")).alias("not_tried"))
    joined = base.join(counts, "cluster", "left").na.fill(0, ["selected", "rejected", "not_tried"])
    return (joined.withColumn("shortfall", F.col("budget") - F.col("selected"))
            # a cluster short of its budget must have tried every candidate (data ran out)
            .withColumn("budget_met", (F.col("shortfall") == 0) | (F.col("not_tried") == 0))
            .drop("not_tried").orderBy("cluster"))


def invalid_rows(rows: DataFrame, reason_col) -> DataFrame:
    return rows.select("id", F.lit(None).cast("int").alias("cluster"), F.col("jsd").cast("double"),
                       F.col("tokens").cast("long"), F.lit(None).cast("double").alias("efficiency"),
                       F.lit(None).cast("long").alias("rank"), F.lit(False).alias("selected"),
                       reason_col.alias("reason"))


class PaserResult(NamedTuple):
    clusters: DataFrame
    selected: DataFrame
    info: dict  # what was decided: K and how, the total budget B, the clustered sample's size


def transform(inputs: Mapping[str, DataFrame], params: PaserParams, *,
              labels: Mapping[str, str] | None = None) -> PaserResult:
    """PASER on ``inputs["instructions"]`` and ``inputs["scores"]`` (and ``inputs["embeddings"]`` when
    given): the stage's two outputs plus what was decided."""
    instructions, scores, embeddings = inputs["instructions"], inputs["scores"], inputs.get("embeddings")
    labels = dict(labels or {})
    check_unique_ids(instructions, labels.get("instructions", "instructions"))
    check_unique_ids(scores, labels.get("scores", "scores"))
    rows = with_text_columns(instructions).join(scores.select("id", "jsd", "tokens"), "id", "left")
    blank = F.col("instruction").isNull() | (F.length(F.trim(F.col("instruction"))) == 0)
    reason = (F.when(blank, F.lit(REASON_EMPTY_INSTRUCTION))
              .when(F.col("jsd").isNull() | F.col("tokens").isNull(), F.lit(REASON_MISSING_SCORE)))
    if embeddings is not None:
        check_unique_ids(embeddings, labels.get("embeddings", "embeddings"))
        rows = rows.join(embeddings.select("id", F.col("vector").cast("array<float>").alias("vector")), "id", "left")
        reason = reason.when(F.col("vector").isNull(), F.lit(REASON_MISSING_EMBEDDING))
    rows = rows.withColumn("_reason", null_id_first(reason))
    bad = invalid_rows(rows.where(F.col("_reason").isNotNull()), F.col("_reason"))
    good = rows.where(F.col("_reason").isNull()).drop("_reason")
    if embeddings is None:
        good = embed_instructions(good, params)
    good = good.persist()  # embedded once, read by the sample and by the assignment
    sample_ids, sample_vectors = sample_for_clustering(good, params)
    result = spectral_cluster(sample_vectors, num_clusters=params.num_clusters, min_clusters=params.min_clusters,
                              max_clusters=params.max_clusters, knn_neighbors=params.knn_neighbors,
                              kmeans_restarts=params.kmeans_restarts, seed=params.seed)
    assigned = assign_clusters(good, sample_ids, sample_vectors, result, params.assign_neighbors)
    summary, total = cluster_budgets(assigned, params)
    chosen = select_samples(assigned, dict(zip(summary["cluster"], summary["budget"])), params)
    selected = chosen.unionByName(bad).persist()  # read by both outputs
    clusters = cluster_table(summary, selected, instructions.sparkSession)
    info = {"num_clusters": int(result.num_clusters), "k_chosen_by": result.chosen_by, "budget_total": int(total),
            "clustered_sample": len(sample_ids)}
    return PaserResult(clusters, selected, info)
