"""The ``tldr`` stage's whole contract: TL;DR per-cluster uniform sampling (Wang et al., ICCV 2023).

See docs/tldr.md; ``jobs/tldr.py`` is only the entry point.
"""
from __future__ import annotations

from pyspark.sql import functions as F

from pipelines.core.contract import Column
from pipelines.core.report_items import ReportContext, kept_fraction_bars
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.tldr.config import TldrParams
from pipelines.tldr.transform import REASONS, transform


def quota_violations(selected, ratio: float):
    """Clusters of the written ``selected`` table whose kept count is not ``ceil(ratio x n)``, with n the
    members that reached sampling (TL;DR §3). Recomputed in exact decimal arithmetic from the table
    itself, independently of the sampler's own quota function, so the check can fail."""
    exact_ratio = F.expr(f"CAST('{float(ratio)!r}' AS DECIMAL(38, 18))")
    per_cluster = (selected.where(F.col("reason").isNull() | (F.col("reason") == "not_sampled"))
                   .groupBy("cluster").agg(F.count(F.lit(1)).alias("n"),
                                           F.sum(F.col("selected").cast("long")).alias("k")))
    quota = F.ceil(F.col("n").cast("decimal(38, 0)") * exact_ratio)
    return per_cluster.where(F.col("k") != quota)


def metrics(params: TldrParams, outputs):
    selected = outputs["selected"]
    totals = selected.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("selected").cast("long")).alias("kept"),
        F.countDistinct(F.when(F.col("selected"), F.col("cluster"))).alias("clusters_kept"),
        F.countDistinct("cluster").alias("clusters"),
        F.min(F.when(F.col("reason").isNull() | (F.col("reason") == "not_sampled"), F.col("similarity"))).alias("cut"),
        *[F.sum(F.when(F.col("reason") == r, 1).otherwise(0)).alias(r) for r in REASONS],
    ).first()
    rows = int(totals["rows"] or 0)
    kept = int(totals["kept"] or 0)
    out = {"kept": kept, "kept_fraction": kept / rows if rows else 0.0, "clusters": int(totals["clusters"] or 0),
           "clusters_kept": int(totals["clusters_kept"] or 0),
           "quota_violations": quota_violations(selected, params.sample_ratio).count()}
    for reason in REASONS:
        out[f"dropped.{reason}"] = int(totals[reason] or 0)
    if params.prefilter and totals["cut"] is not None:
        out["prefilter_cut_similarity"] = float(totals["cut"])
    return out


def expectations(params: TldrParams, outputs, metrics_):
    from pipelines.core.quality import gx_expectations, where_equal

    gxe = gx_expectations()
    return {
        "selected": [
            # a row without an id is kept in the table, set aside with reason null_id, never selected
            gxe.ExpectColumnValuesToNotBeNull(column="id", row_condition=where_equal("selected", True)),
            gxe.ExpectColumnValuesToBeUnique(column="id"),
            gxe.ExpectColumnValuesToNotBeNull(column="selected"),
            gxe.ExpectColumnValuesToBeInSet(column="reason", value_set=list(REASONS)),
            # a kept row has no reason, a dropped one has one
            gxe.ExpectColumnValuesToBeNull(column="reason", row_condition=where_equal("selected", True)),
            gxe.ExpectColumnValuesToNotBeNull(column="reason", row_condition=where_equal("selected", False)),
        ],
        # every cluster that reached sampling keeps exactly ceil(ratio * size): the clusters that do not,
        # recomputed from the written table, must be none
        "selected.quota_violations": (quota_violations(outputs["selected"], params.sample_ratio),
                                      [gxe.ExpectTableRowCountToEqual(value=0)]),
    }


def report(outputs, context: ReportContext) -> list:
    """Kept fraction per cluster (cluster sizes are the cluster section's chart)."""
    import polars as pl

    return [kept_fraction_bars(outputs["selected"], pl.col("selected"), "TL;DR: kept fraction per cluster")]


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
    outputs=(Output("selected", (
        Column("id", "id"), Column("cluster", "integer"), Column("selected", "boolean"), Column("reason", "string"),
        Column("similarity", "float"), Column("caption", "string")),
        "every assignment once: cluster, selected, the reason it was dropped, similarity, caption"),),
    transform=transform,
    expectations=expectations,
    metrics=metrics,
    report=report,
)
