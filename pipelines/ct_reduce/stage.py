"""The ``ct-reduce`` stage's whole contract: "Less is More" (Wolf et al., 2024) CT slice reduction.

See docs/ct_reduce.md; ``jobs/ct_reduce.py`` is only the entry point.
"""
from __future__ import annotations

from pyspark.sql import functions as F

from pipelines.core.contract import Column
from pipelines.core.report_items import ReportContext, per_key_bars
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.ct_reduce.config import CtReduceParams
from pipelines.ct_reduce.transform import KEY_COLUMNS, transform


def metrics(params: CtReduceParams, outputs):
    stats = outputs["volume_stats"].agg(
        F.count(F.lit(1)).alias("volumes"), F.sum("slices_in").alias("slices_in"),
        F.sum("rejected").alias("rejected"), F.sum("kept").alias("kept")).first()
    selected = outputs["selected"].agg(
        F.count(F.lit(1)).alias("decided"), F.sum(F.col("kept").cast("long")).alias("kept"),
        F.max(F.when(~F.col("kept"), F.col("distance"))).alias("max_dropped_distance")).first()
    slices_in, kept = int(stats["slices_in"] or 0), int(selected["kept"] or 0)
    decided = slices_in - int(stats["rejected"] or 0)
    return {
        "volumes": int(stats["volumes"] or 0), "slices_in": slices_in, "rejected": int(stats["rejected"] or 0),
        "decided": decided, "kept": kept, "kept_fraction": kept / decided if decided else 0.0,
        "reduction_factor": decided / kept if kept else 0.0,
        "max_dropped_distance": float(selected["max_dropped_distance"] or 0.0),
    }


def expectations(params: CtReduceParams, outputs, metrics_):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    selected = [
        gxe.ExpectColumnValuesToNotBeNull(column="id"),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToNotBeNull(column="reference_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="kept"),
        gxe.ExpectColumnValuesToBeInSet(column="strategy", value_set=[params.strategy]),
        # every slice that is neither rejected nor lost is decided exactly once
        gxe.ExpectTableRowCountToEqual(value=int(metrics_["decided"])),
    ]
    if params.strategy == "hash":
        selected.append(gxe.ExpectColumnValuesToBeBetween(column="distance", min_value=0,
                                                          max_value=params.hamming_threshold))
    elif params.strategy == "every-n":
        selected.append(gxe.ExpectColumnValuesToBeBetween(column="distance", min_value=0, max_value=params.every_n - 1))
    return {
        "selected": selected,
        "volume_stats": [
            gxe.ExpectColumnValuesToBeUnique(column="volume_id"),
            gxe.ExpectColumnValuesToBeBetween(column="ratio", min_value=0.0, max_value=1.0),
            gxe.ExpectColumnValuesToBeBetween(column="kept", min_value=0),
        ],
        "rejected": [gxe.ExpectColumnValuesToNotBeNull(column="reason")],
    }


def report(outputs, context: ReportContext) -> list:
    import polars as pl

    return [per_key_bars(outputs["volume_stats"], "volume_id", pl.col("ratio").max(), "Kept ratio per volume (kept / slices)",
                         "volume", "kept ratio", order_by_value=False)]


STAGE = Stage(
    name="ct-reduce",
    params_cls=CtReduceParams,
    description='"Less is More" slice reduction: keep one slice per run of near-identical CT slices (dHash <= 6)',
    inputs={"slices": InputSpec(columns=KEY_COLUMNS, default="demo/volumes/slices",
                                doc="id, volume_id, slice_index and the slice: image (bytes), path or pixels")},
    outputs=(
        Output("selected", (Column("id", "id"), Column("volume_id", "id"), Column("slice_index", "integer"),
                            Column("kept", "boolean"), Column("reference_id", "id"), Column("distance", "float"),
                            Column("strategy", "string")),
               "every compared slice: kept, the kept slice standing for it (reference_id), distance, strategy"),
        Output("volume_stats", (Column("volume_id", "id"), Column("slices_in", "integer"), Column("rejected", "integer"),
                                Column("kept", "integer"), Column("ratio", "float")),
               "per volume: slices in, rejected, kept, ratio (= kept / slices_in)"),
        Output("rejected", (Column("id", "id"), Column("volume_id", "id"), Column("slice_index", "integer"),
                            Column("reason", "string")),
               "slices that could not be compared, with a reason"),
    ),
    transform=transform,
    expectations=expectations,
    metrics=metrics,
    report=report,
)
