"""The ``ct-reduce`` stage: "Less is More" (Wolf et al., 2024) CT slice reduction. See docs/ct_reduce.md."""
from __future__ import annotations

from pyspark.sql import functions as F

from jobs.runner import entrypoints
from pipelines.core.quality import gx_expectations
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.ct_reduce.config import CtReduceParams
from pipelines.ct_reduce.transform import KEY_COLUMNS, transform


def _metrics(params: CtReduceParams, outputs):
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


def _expectations(params: CtReduceParams, outputs, metrics):
    gxe = gx_expectations()
    selected = [
        gxe.ExpectColumnValuesToNotBeNull(column="id"),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToNotBeNull(column="reference_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="kept"),
        gxe.ExpectColumnValuesToBeInSet(column="strategy", value_set=[params.strategy]),
        # every slice that is neither rejected nor lost is decided exactly once
        gxe.ExpectTableRowCountToEqual(value=int(metrics["decided"])),
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


STAGE = Stage(
    name="ct-reduce",
    params_cls=CtReduceParams,
    description='"Less is More" slice reduction: keep one slice per run of near-identical CT slices (dHash <= 6)',
    inputs={"slices": InputSpec(columns=KEY_COLUMNS, default="demo/volumes/slices",
                                doc="id, volume_id, slice_index and the slice: image (bytes), path or pixels")},
    outputs=(
        Output("selected", doc="id, volume_id, slice_index, kept, reference_id, distance, strategy"),
        Output("volume_stats", doc="volume_id, slices_in, rejected, kept, ratio (= kept / slices_in)"),
        Output("rejected", doc="id, volume_id, slice_index, reason: slices that could not be compared"),
    ),
    transform=transform,
    expectations=_expectations,
    metrics=_metrics,
)

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
