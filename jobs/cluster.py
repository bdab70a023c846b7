"""``cluster``: FAISS k-means on a bounded sample of ``embeddings``, every row assigned on the executors.

``spark-submit jobs/cluster.py --config jobs/configs/cluster.yaml``; ``lakesieve run cluster ...``.
"""
from __future__ import annotations

from jobs.runner import entrypoints
from pipelines.cluster.cluster import INPUT, transform
from pipelines.cluster.config import ClusterParams
from pipelines.core.contract import Column
from pipelines.core.stage import InputSpec, Output, Stage


def _expectations(params, outputs, metrics):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    assignments = [gxe.ExpectColumnValuesToBeUnique(column="id"),
                   gxe.ExpectColumnValuesToBeBetween(column="cluster", min_value=0, max_value=params.num_clusters - 1),
                   gxe.ExpectColumnValuesToBeBetween(column="distance", min_value=-1e-6)]
    centroids = [gxe.ExpectTableRowCountToEqual(value=params.num_clusters),
                 gxe.ExpectColumnValuesToBeUnique(column="cluster"),
                 gxe.ExpectColumnSumToBeBetween(column="size", min_value=metrics.get("rows.assignments", 0),
                                                max_value=metrics.get("rows.assignments", 0))]
    return {"assignments": assignments, "centroids": centroids}


def _metrics(params, outputs):
    from pyspark.sql import functions as F

    row = outputs["centroids"].agg(F.sum(F.when(F.col("size") == 0, 1).otherwise(0)).alias("empty"),
                                   F.max("size").alias("largest")).collect()[0]
    return {"empty_clusters": int(row["empty"] or 0), "largest_cluster": int(row["largest"] or 0)}


STAGE = Stage(
    name="cluster",
    params_cls=ClusterParams,
    description="k-means (FAISS) on embeddings; assigns every row to its nearest centroid",
    inputs={INPUT: InputSpec(columns=(Column("id", "id"), Column("vector", "vector")), default="embed/embeddings",
                             doc="the embed stage's embeddings (id, vector)")},
    outputs=(Output("assignments", "id, cluster (int), distance (squared L2, or 1 - cosine when spherical)"),
             Output("centroids", "cluster (int), vector (array<float>), size (long)"),
             Output("rejected", "id, reason: rows with a null, non-finite or wrong-length vector")),
    transform=transform, expectations=_expectations, metrics=_metrics,
)

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
