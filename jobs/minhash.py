"""minhash: SlimPajama global / local MinHash LSH near-duplicate removal (docs/minhash.md).

``spark-submit jobs/minhash.py --config jobs/configs/minhash.yaml`` or ``lakesieve run minhash``;
notebooks and Airflow call :func:`run`.
"""
from __future__ import annotations

from pyspark.sql import functions as F

from jobs.runner import entrypoints
from pipelines.core.contract import Column
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.minhash.config import MinhashParams
from pipelines.minhash.transform import dedup

FILTER_REASONS = ["null_text", "empty_text", "too_short"]


def _transform(inputs, params: MinhashParams):
    return dedup(inputs["documents"], inputs.get("previous_index"), params)._asdict()


def _metrics(params: MinhashParams, outputs) -> dict:
    stats = outputs["source_stats"].agg(F.sum("documents_in").alias("d"), F.sum("duplicates_removed").alias("r"),
                                        F.sum("kept").alias("k")).collect()[0]
    dups = outputs["duplicates"]
    current = dups.where(~F.col("from_previous_batch"))
    reps = dups.select(F.col("representative_id").alias("id")).distinct()
    survivors_before = outputs["index"].where(F.col("id") == F.col("representative_id")).select("id")
    reps_not_kept = (reps.join(outputs["kept"].select("id"), "id", "left_anti")
                     .join(survivors_before, "id", "left_anti").count())
    sizes = dups.groupBy("cluster_id").count()
    biggest = sizes.agg(F.max("count")).collect()[0][0]
    return {
        "input_documents": int(stats["d"] or 0),
        "duplicates_current_batch": current.count(),
        "duplicates_from_previous_batch": dups.count() - current.count(),
        "representatives_not_kept": reps_not_kept,
        "max_cluster_size": int(biggest or 0) + (1 if biggest else 0),
        "large_components": sizes.where(F.col("count") + 1 > params.max_component_size).count(),
        "num_bands": params.bands[0], "rows_per_band": params.bands[1],
    }


def _expectations(params: MinhashParams, outputs, metrics):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    filtered = metrics.get("rows.filtered", 0)
    expected_kept = metrics["input_documents"] - metrics["duplicates_current_batch"] - filtered
    return {
        # kept + duplicates + filtered = input
        "kept": [gxe.ExpectColumnValuesToBeUnique(column="id"), gxe.ExpectTableRowCountToEqual(value=expected_kept)],
        # every representative is kept: passes only when representatives_not_kept == 0
        "duplicates": [gxe.ExpectColumnValuesToBeUnique(column="id"),
                       gxe.ExpectColumnValuesToNotBeNull(column="representative_id"),
                       gxe.ExpectColumnValuesToBeInSet(column="scope", value_set=["local", "global"]),
                       gxe.ExpectTableRowCountToEqual(value=metrics.get("rows.duplicates", 0)
                                                      + metrics["representatives_not_kept"])],
        "filtered": [gxe.ExpectColumnValuesToBeInSet(column="reason", value_set=FILTER_REASONS)],
        "index": [gxe.ExpectColumnValuesToNotBeNull(column="bucket")],
    }


STAGE = Stage(
    name="minhash",
    params_cls=MinhashParams,
    description="SlimPajama MinHash LSH near-duplicate removal (global, local, local-then-global; incremental)",
    inputs={
        "documents": InputSpec(columns=(Column("id", "id"), Column("text", "string")),
                               default="demo/corpus/documents",
                               doc="documents: id (unique), text, optional source, any other columns"),
        "previous_index": InputSpec(columns=(Column("id", "id"), Column("band", "integer"), Column("bucket", "integer")),
                                    optional=True, doc="the index output of earlier runs (incremental mode)"),
    },
    outputs=(
        Output("kept", "input rows kept, all columns"),
        Output("duplicates", "removed documents: representative, cluster, estimated/exact Jaccard, scope"),
        Output("filtered", "documents not hashed: id, source, reason (null_text, empty_text, too_short)"),
        Output("source_stats", "per source: documents and bytes in, filtered, duplicates removed, kept, rates"),
        Output("index", "(id, band, bucket, ...) of every document indexed so far, for incremental runs"),
    ),
    transform=_transform,
    expectations=_expectations,
    metrics=_metrics,
)

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
