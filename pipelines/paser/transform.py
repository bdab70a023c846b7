"""The ``paser`` transformation (He et al. 2025, §3): embed → cluster → CDS → budget → select.

1. **Embed** the instruction with all-MiniLM-L6-v2 (§3.1), unless an ``embeddings`` table is given.
2. **Cluster** a bounded, seeded sample on the driver (:mod:`pipelines.paser.spectral`); every other
   row is assigned on the executors by a kNN vote over that sample.
3. **CDS** of a cluster = mean per-sample JSD from ``paser-score`` (§3.2, Eq. 4).
4. **Budget** n_k ∝ CDS_k, exact total, capped by size (:mod:`pipelines.paser.budget`).
5. **Select** inside each cluster by efficiency JSD/log(cost) with the concept-consistency filter
   (:mod:`pipelines.paser.concepts`; one graph for the whole selection or one per cluster), and hand
   slots lost to rejections in clusters that ran out to the others (:func:`pipelines.paser.budget.fill_budget`).

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
from pipelines.paser.budget import allocate_budget, fill_budget, resolve_total_budget
from pipelines.paser.concepts import REASON_BUDGET_FILLED, REASON_CONFLICT, AcceptedRanks, ClusterWalk, ConceptGraph
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


SELECTED_COLUMNS = ("id", "cluster", "jsd", "tokens", "efficiency", "rank", "selected", "reason", "concepts",
                    "conflict_concepts", "conflict_with")
FINAL_BUDGET = "_final_budget"  # per row: its cluster's budget after the refill (read by cluster_table)


def _selected_schema(id_type) -> T.StructType:
    return T.StructType([
        T.StructField("id", id_type, False), T.StructField("cluster", T.IntegerType(), True),
        T.StructField("jsd", T.DoubleType(), True), T.StructField("tokens", T.LongType(), True),
        T.StructField("efficiency", T.DoubleType(), True), T.StructField("rank", T.LongType(), True),
        T.StructField("selected", T.BooleanType(), False), T.StructField("reason", T.StringType(), True),
        T.StructField("concepts", T.ArrayType(T.StringType()), True),
        T.StructField("conflict_concepts", T.ArrayType(T.StringType()), True),
        T.StructField("conflict_with", T.ArrayType(id_type), True),
        T.StructField(FINAL_BUDGET, T.LongType(), True)])


def select_samples(assigned: DataFrame, summary: pd.DataFrame, total: int, params: PaserParams) -> DataFrame:
    """Efficiency order + concept-consistency filter (§3.3–§3.4), with the budget refilled across
    clusters (:func:`pipelines.paser.budget.fill_budget`) so that B samples are selected while
    candidates remain.

    ``concept_scope: global`` (the released code's one graph): every candidate goes to one Python
    worker, which walks the clusters in id order. ``cluster``: each cluster is walked in full with its
    own graph on the executors (``applyInPandas``); the driver then runs the refill from one row per
    cluster (:class:`pipelines.paser.concepts.AcceptedRanks`) and one more pass marks the rows."""
    rows = assigned.withColumn(
        "efficiency", F.col("jsd") / F.log(F.greatest(F.col("tokens").cast("double"), F.lit(float(params.min_cost_tokens)))))
    schema = _selected_schema(assigned.schema["id"].dataType)
    budgets = {int(k): int(v) for k, v in zip(summary["cluster"], summary["budget"])}
    cds = {int(k): float(v) for k, v in zip(summary["cluster"], summary["cds"])}
    options = {"max_concepts": params.max_concepts, "max_words": params.concept_max_words}
    columns = [c.name for c in schema.fields]

    if params.concept_scope == "global":
        def walk_all(frame: pd.DataFrame) -> pd.DataFrame:
            graph = ConceptGraph()
            walks = {int(k): ClusterWalk(g, graph, **options) for k, g in frame.groupby("cluster")}
            final = fill_budget(walks, budgets, cds, total)
            out = pd.concat([walks[k].result().assign(**{FINAL_BUDGET: final[k]}) for k in sorted(walks)])
            return out[columns]

        return rows.withColumn("_all", F.lit(0)).groupBy("_all").applyInPandas(walk_all, schema)

    def walk_cluster(frame: pd.DataFrame) -> pd.DataFrame:
        walk = ClusterWalk(frame, **options)
        walk.advance(len(frame))
        return walk.result().assign(**{FINAL_BUDGET: None})[columns]

    walked = rows.groupBy("cluster").applyInPandas(walk_cluster, schema).localCheckpoint(eager=True)
    per_cluster = walked.groupBy("cluster").agg(
        F.count(F.lit(1)).alias("size"), F.collect_list(F.when(F.col("selected"), F.col("rank"))).alias("ranks")).collect()
    walks = {int(r["cluster"]): AcceptedRanks(r["ranks"], r["size"]) for r in per_cluster}
    final = fill_budget(walks, budgets, cds, total)
    marks = rows.sparkSession.createDataFrame([(k, int(final[k]), int(walks[k].position)) for k in sorted(walks)],
                                              "cluster int, _budget long, _tried long")
    tried = F.col("rank") <= F.col("_tried")
    return (walked.drop(FINAL_BUDGET).join(F.broadcast(marks), "cluster")
            .withColumn("selected", F.col("selected") & tried)
            .withColumn("reason", F.when(tried, F.col("reason")).otherwise(F.lit(REASON_BUDGET_FILLED)))
            .withColumn("concepts", F.when(tried, F.col("concepts")))
            .withColumn("conflict_concepts", F.when(tried, F.col("conflict_concepts")))
            .withColumn("conflict_with", F.when(tried, F.col("conflict_with")))
            .withColumnRenamed("_budget", FINAL_BUDGET).select(*columns))


def cluster_table(summary: pd.DataFrame, chosen: DataFrame, spark) -> DataFrame:
    """clusters: cluster, size, cds, budget (the CDS share), reallocated (slots handed over from
    clusters that ran out), selected, rejected, untried, shortfall, budget_met."""
    base = spark.createDataFrame(summary[["cluster", "size", "cds", "budget"]],
                                 "cluster int, size long, cds double, budget long")
    counts = chosen.groupBy("cluster").agg(
        F.sum(F.col("selected").cast("long")).alias("selected"),
        F.sum(F.col("reason").startswith(REASON_CONFLICT).cast("long")).alias("rejected"),
        F.sum((F.col("reason") == REASON_BUDGET_FILLED).cast("long")).alias("untried"),
        F.max(FINAL_BUDGET).alias("_final"))
    joined = base.join(counts, "cluster", "left").na.fill(0, ["selected", "rejected", "untried"])
    return (joined.withColumn("reallocated", F.coalesce(F.col("_final"), F.col("budget")) - F.col("budget"))
            .withColumn("shortfall", F.col("budget") + F.col("reallocated") - F.col("selected"))
            # a cluster short of its budget must have tried every candidate (data ran out)
            .withColumn("budget_met", (F.col("shortfall") == 0) | (F.col("untried") == 0))
            .select("cluster", "size", "cds", "budget", "reallocated", "selected", "rejected", "untried",
                    "shortfall", "budget_met").orderBy("cluster"))


def invalid_rows(rows: DataFrame, reason_col) -> DataFrame:
    id_type = rows.schema["id"].dataType
    return rows.select("id", F.lit(None).cast("int").alias("cluster"), F.col("jsd").cast("double"),
                       F.col("tokens").cast("long"), F.lit(None).cast("double").alias("efficiency"),
                       F.lit(None).cast("long").alias("rank"), F.lit(False).alias("selected"),
                       reason_col.alias("reason"), F.lit(None).cast("array<string>").alias("concepts"),
                       F.lit(None).cast("array<string>").alias("conflict_concepts"),
                       F.lit(None).cast(T.ArrayType(id_type)).alias("conflict_with"))


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
                              kmeans_restarts=params.kmeans_restarts, seed=params.seed,
                              eigengap_min_ratio=params.eigengap_min_ratio, fallback_clusters=params.fallback_clusters)
    assigned = assign_clusters(good, sample_ids, sample_vectors, result, params.assign_neighbors)
    summary, total = cluster_budgets(assigned, params)
    chosen = select_samples(assigned, summary, total, params).localCheckpoint(eager=True)
    selected = chosen.drop(FINAL_BUDGET).unionByName(bad)
    clusters = cluster_table(summary, chosen, instructions.sparkSession)
    info = {"num_clusters": int(result.num_clusters), "k_chosen_by": result.chosen_by, "budget_total": int(total),
            "clustered_sample": len(sample_ids), "concept_scope": params.concept_scope,
            "eigengap_ratio": None if not np.isfinite(result.gap_ratio) else round(float(result.gap_ratio), 3)}
    return PaserResult(clusters, selected, info)
