"""The ``cluster`` stage's whole contract: FAISS k-means on a bounded sample, every row assigned on
the executors. See docs/cluster.md; ``jobs/cluster.py`` is only the entry point."""
from __future__ import annotations

from pyspark.sql import functions as F

from pipelines.cluster.cluster import INPUT, transform
from pipelines.cluster.config import ClusterParams
from pipelines.core.contract import Column
from pipelines.core.report_items import ReportContext, per_key_bars
from pipelines.core.stage import InputSpec, Output, Stage


def expectations(params, outputs, metrics_):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    assigned = metrics_.get("rows.assignments", 0)
    assignments = [gxe.ExpectColumnValuesToBeUnique(column="id"),
                   gxe.ExpectColumnValuesToBeBetween(column="cluster", min_value=0, max_value=params.num_clusters - 1),
                   gxe.ExpectColumnValuesToBeBetween(column="distance", min_value=-1e-6)]
    centroids = [gxe.ExpectTableRowCountToEqual(value=params.num_clusters),
                 gxe.ExpectColumnValuesToBeUnique(column="cluster"),
                 gxe.ExpectColumnSumToBeBetween(column="size", min_value=assigned, max_value=assigned)]
    # each centroid's size is the number of rows assigned to it, recounted from the assignments table
    counted = outputs["assignments"].groupBy("cluster").agg(F.count(F.lit(1)).alias("assigned"))
    mismatched = (outputs["centroids"].join(counted, "cluster", "left")
                  .where(F.coalesce(F.col("assigned"), F.lit(0)) != F.col("size")))
    return {"assignments": assignments, "centroids": centroids,
            "centroids.size_mismatches": (mismatched, [gxe.ExpectTableRowCountToEqual(value=0)])}


def metrics(params, outputs):
    row = outputs["centroids"].agg(F.sum(F.when(F.col("size") == 0, 1).otherwise(0)).alias("empty"),
                                   F.max("size").alias("largest")).first()
    return {"empty_clusters": int(row["empty"] or 0), "largest_cluster": int(row["largest"] or 0)}


def report(outputs, context: ReportContext) -> list:
    import polars as pl

    return [per_key_bars(outputs["centroids"], "cluster", pl.col("size").sum(), "Cluster sizes", "cluster", "members",
                         order_by_value=True)]


STAGE = Stage(
    name="cluster",
    params_cls=ClusterParams,
    description="k-means (FAISS) on embeddings; assigns every row to its nearest centroid",
    inputs={INPUT: InputSpec(columns=(Column("id", "id"), Column("vector", "vector")), default="embed/embeddings",
                             doc="the embed stage's embeddings (id, vector)")},
    outputs=(Output("assignments", (Column("id", "id"), Column("cluster", "integer"), Column("distance", "float")),
                    "each row's cluster and distance (squared L2, or 1 - cosine when spherical)"),
             Output("centroids", (Column("cluster", "integer"), Column("vector", "vector"), Column("size", "integer")),
                    "one row per cluster: centroid vector and size"),
             Output("rejected", (Column("id", "id"), Column("reason", "string")),
                    "rows with a null, non-finite or wrong-length vector, with a reason")),
    transform=transform, expectations=expectations, metrics=metrics, report=report,
)
