"""The ``semdedup`` stage: SemDeDup within-cluster deduplication (Abbas et al., 2023). See docs/semdedup.md."""
from __future__ import annotations

from pyspark.sql import functions as F

from jobs.runner import entrypoints
from pipelines.core.contract import Column
from pipelines.core.quality import gx_expectations
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.semdedup import REJECT_REASONS, SemDedupParams, deduplicate


def _transform(inputs, params: SemDedupParams):
    result = deduplicate(inputs, params)
    return {"kept": result.kept, "duplicates": result.duplicates, "rejected": result.rejected}


def _metrics(params: SemDedupParams, outputs):
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
    # audit: every duplicate points at a kept row of the same cluster
    out["orphan_duplicates"] = (outputs["duplicates"].alias("d")
                                .join(outputs["kept"].alias("k"),
                                      (F.col("d.kept_representative") == F.col("k.id")) & (F.col("d.cluster") == F.col("k.cluster")),
                                      "left_anti").count())
    return out


def _expectations(params: SemDedupParams, outputs, metrics):
    gxe = gx_expectations()
    threshold = 1.0 - metrics.get("epsilon", params.epsilon)
    return {
        "kept": [gxe.ExpectColumnValuesToNotBeNull(column="id"), gxe.ExpectColumnValuesToBeUnique(column="id"),
                 gxe.ExpectColumnValuesToNotBeNull(column="cluster")],
        "duplicates": [
            gxe.ExpectColumnValuesToBeUnique(column="id"),
            gxe.ExpectColumnValuesToNotBeNull(column="duplicate_of"),
            gxe.ExpectColumnValuesToNotBeNull(column="kept_representative"),
            # a duplicate's similarity is above the threshold it was judged at (float tolerance below it)
            gxe.ExpectColumnValuesToBeBetween(column="similarity", min_value=threshold - 1e-3, max_value=1.0 + 1e-5),
        ],
        "rejected": [gxe.ExpectColumnValuesToBeInSet(column="reason", value_set=list(REJECT_REASONS)),
                     gxe.ExpectColumnValuesToNotBeNull(column="reason")],
    }


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
    outputs=(Output("kept", doc="id, cluster, distance of every kept member"),
             Output("duplicates", doc="id, duplicate_of, similarity, cluster, kept_representative, epsilon"),
             Output("rejected", doc="rows that could not be judged: id, cluster, reason")),
    transform=_transform,
    expectations=_expectations,
    metrics=_metrics,
)

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
