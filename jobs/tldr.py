"""The ``tldr`` stage: TL;DR per-cluster uniform sampling (Wang et al., ICCV 2023). See docs/tldr.md."""
from __future__ import annotations

from pyspark.sql import functions as F

from jobs.runner import entrypoints
from pipelines.core.contract import Column
from pipelines.core.quality import gx_expectations
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.tldr import REASONS, TldrParams, select
from pipelines.tldr.sampling import cluster_quota


def _transform(inputs, params: TldrParams):
    return {"selected": select(inputs, params).selected}


def _metrics(params: TldrParams, outputs):
    selected = outputs["selected"]
    totals = selected.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("selected").cast("long")).alias("kept"),
        F.countDistinct(F.when(F.col("selected"), F.col("cluster"))).alias("clusters_kept"),
        F.countDistinct("cluster").alias("clusters"),
        F.min(F.when(F.col("reason").isNull() | (F.col("reason") == "not_sampled"), F.col("similarity"))).alias("cut"),
        *[F.sum(F.when(F.col("reason") == r, 1).otherwise(0)).alias(r) for r in REASONS],
    ).first()
    # Each cluster's rows that reached sampling (selected or not_sampled): the quota must hold on them.
    per_cluster = (selected.where(F.col("reason").isNull() | (F.col("reason") == "not_sampled"))
                   .groupBy("cluster").agg(F.count(F.lit(1)).alias("n"), F.sum(F.col("selected").cast("long")).alias("k"))
                   .collect())  # one row per cluster: a bounded summary (number of clusters)
    violations = sum(1 for r in per_cluster if int(r["k"]) != cluster_quota(int(r["n"]), params.sample_ratio))
    rows = int(totals["rows"] or 0)
    kept = int(totals["kept"] or 0)
    out = {"kept": kept, "kept_fraction": kept / rows if rows else 0.0, "clusters": int(totals["clusters"] or 0),
           "clusters_kept": int(totals["clusters_kept"] or 0), "quota_violations": violations}
    for reason in REASONS:
        out[f"dropped.{reason}"] = int(totals[reason] or 0)
    if params.prefilter and totals["cut"] is not None:
        out["prefilter_cut_similarity"] = float(totals["cut"])
    return out


def _expectations(params: TldrParams, outputs, metrics):
    gxe = gx_expectations()
    return {"selected": [
        gxe.ExpectColumnValuesToNotBeNull(column="id"),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToNotBeNull(column="selected"),
        gxe.ExpectColumnValuesToBeInSet(column="reason", value_set=list(REASONS)),
        # every cluster that reached sampling keeps exactly ceil(ratio * size): checked in metrics
        gxe.ExpectColumnDistinctValuesToBeInSet(column="selected", value_set=[True, False]),
    ]}


STAGE = Stage(
    name="tldr",
    params_cls=TldrParams,
    description="TL;DR: keep ceil(ratio x size) of each cluster, sampled uniformly by a seeded hash",
    inputs={
        "assignments": InputSpec(columns=(Column("id", "id"), Column("cluster", "integer")),
                                 default="cluster/assignments", doc="cluster stage output: id, cluster"),
        "image_embeddings": InputSpec(columns=(Column("id", "id"), Column("vector", "vector")),
                                      default="embed/embeddings", optional=True,
                                      doc="image embeddings (id, vector[, model]) for the pre-filter"),
        "text_embeddings": InputSpec(columns=(Column("id", "id"), Column("vector", "vector")), optional=True,
                                     doc="caption embeddings (id, vector[, model]) for the pre-filter"),
        "captions": InputSpec(columns=(Column("id", "id"), Column("caption", "string")), optional=True,
                              doc="captions (id, caption[, image]) copied to the output; image needed to refine"),
    },
    outputs=(Output("selected", doc="every assignment once: id, cluster, selected, reason, similarity, caption"),),
    transform=_transform,
    expectations=_expectations,
    metrics=_metrics,
)

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
