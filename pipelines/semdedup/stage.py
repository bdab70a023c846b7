"""The ``semdedup`` stage's whole contract: SemDeDup within-cluster deduplication (Abbas et al., 2023).

See docs/semdedup.md; ``jobs/semdedup.py`` is only the entry point.
"""
from __future__ import annotations

from pyspark.sql import functions as F

from pipelines.core.contract import Column
from pipelines.core.report_items import ReportContext, kept_fraction_bars
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.semdedup.config import SemDedupParams
from pipelines.semdedup.transform import REJECT_REASONS, transform


def orphan_duplicates(outputs):
    """Duplicates whose ``representative_id`` is not a kept row of the same cluster (audit: none)."""
    return (outputs["duplicates"].alias("d")
            .join(outputs["kept"].alias("k"),
                  (F.col("d.representative_id") == F.col("k.id")) & (F.col("d.cluster") == F.col("k.cluster")),
                  "left_anti"))


def metrics(params: SemDedupParams, outputs):
    kept = outputs["kept"].count()
    dup = outputs["duplicates"].agg(F.count(F.lit(1)).alias("n"), F.max("epsilon").alias("eps"),
                                    F.min("similarity").alias("min_sim")).first()
    rejected = outputs["rejected"].count()
    judged = kept + int(dup["n"])
    out = {"kept": kept, "duplicates": int(dup["n"]), "rejected": rejected,
           "kept_fraction": kept / judged if judged else 0.0,
           "epsilon": float(dup["eps"]) if dup["eps"] is not None else float(params.epsilon)}
    if dup["min_sim"] is not None:
        out["min_duplicate_similarity"] = float(dup["min_sim"])
    out["orphan_duplicates"] = orphan_duplicates(outputs).count()  # audit: 0 (the quality suite checks it too)
    return out


def expectations(params: SemDedupParams, outputs, metrics_):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    threshold = 1.0 - metrics_.get("epsilon", params.epsilon)
    return {
        "kept": [gxe.ExpectColumnValuesToNotBeNull(column="id"), gxe.ExpectColumnValuesToBeUnique(column="id"),
                 gxe.ExpectColumnValuesToNotBeNull(column="cluster")],
        "duplicates": [
            gxe.ExpectColumnValuesToBeUnique(column="id"),
            gxe.ExpectColumnValuesToNotBeNull(column="matched_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="representative_id"),
            # a duplicate's similarity is above the threshold it was judged at (float tolerance below it)
            gxe.ExpectColumnValuesToBeBetween(column="similarity", min_value=threshold - 1e-3, max_value=1.0 + 1e-5),
        ],
        # audit: every duplicate points at a kept row of its own cluster
        "duplicates.orphans": (orphan_duplicates(outputs), [gxe.ExpectTableRowCountToEqual(value=0)]),
        "rejected": [gxe.ExpectColumnValuesToBeInSet(column="reason", value_set=list(REJECT_REASONS)),
                     gxe.ExpectColumnValuesToNotBeNull(column="reason")],
    }


def report(outputs, context: ReportContext) -> list:
    """Kept fraction per cluster (cluster sizes are the cluster section's chart)."""
    import polars as pl

    members = pl.concat([outputs["kept"].select("cluster", pl.lit(True).alias("is_kept")),
                         outputs["duplicates"].select("cluster", pl.lit(False).alias("is_kept"))], how="vertical_relaxed")
    return [kept_fraction_bars(members, pl.col("is_kept"), "SemDeDup: kept fraction per cluster")]


STAGE = Stage(
    name="semdedup",
    params_cls=SemDedupParams,
    description="SemDeDup: drop members of a cluster whose cosine similarity to an earlier member exceeds 1 - epsilon",
    inputs={
        "assignments": InputSpec(columns=(Column("id", "id"), Column("cluster", "integer"), Column("distance", "numeric")),
                                 default="cluster/assignments", doc="cluster stage output: id, cluster, distance"),
        "embeddings": InputSpec(columns=(Column("id", "id"), Column("vector", "vector")),
                                default="embed/embeddings", doc="embed stage output: id, vector[, model]"),
    },
    outputs=(
        Output("kept", (Column("id", "id"), Column("cluster", "integer"), Column("distance", "float")),
               "every kept member: its cluster and distance to the centroid"),
        Output("duplicates", (
            Column("id", "id"), Column("matched_id", "id"), Column("similarity", "float"), Column("cluster", "integer"),
            Column("representative_id", "id"), Column("epsilon", "float")),
            "removed members: the earlier member matched and its cosine, the kept row standing for it, epsilon"),
        Output("rejected", (Column("id", "id"), Column("cluster", "integer"), Column("reason", "string")),
               "rows that could not be judged, with a reason"),
    ),
    transform=transform,
    expectations=expectations,
    metrics=metrics,
    report=report,
)
